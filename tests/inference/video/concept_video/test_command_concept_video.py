"""samhq-video --text ... --detect-every-frame: the PNGs and concept.json are the session's outputs
(ConceptVideoSession, Meta-parity tested in test_session_meta.py) on the same file, video and
settings; bad input is one error line and exit status 2 before the model runs."""

import json
import shlex

import numpy as np
import pytest
import torch
from PIL import Image

from samhq_train.inference.video import command
from samhq_train.inference.video.concept_video.session import ConceptVideoSession
from samhq_train.model import load_checkpoint
from tests.documentation import documented_commands

from .conftest import NUM_FRAMES
from .test_session_meta import SETTINGS, TEXT

TEXT_FRAME = 2
FILE_SETTINGS = {  # SETTINGS but the threshold (given as --threshold)
    k: v for k, v in SETTINGS.meta_kwargs().items() if k != "score_threshold_detection"
}


def command_args(concept_video, out, *extra):
    folder, bpe, path, video = concept_video
    settings = folder / "settings.json"
    settings.write_text(json.dumps(FILE_SETTINGS))
    return [
        "--frames", str(video), "--text", TEXT, "--bpe", str(bpe), "--checkpoint", str(path),
        "--out", str(out), "--device", "cpu", "--detect-every-frame",
        "--threshold", str(SETTINGS.score_threshold_detection),
        "--concept-settings", str(settings), "--text-frame", str(TEXT_FRAME), *extra,
    ]


# clicks (the prompts file's entries): refining objects 15 (frame 1) and 13 (round 2, frame 7),
# adding object 30 on frame 5 (the text's run tracks 13..21)
CLICKS = [
    {"frame": 1, "object": 15, "points": [[44, 54]]},
    {"frame": 5, "object": 30, "points": [[65, 35]], "labels": [1]},
    {"round": 2, "frame": 7, "object": 13, "points": [[49, 41], [5, 5]], "labels": [1, 0]},
]


def session_pictures(concept_video, clicks=(), boxes=None):
    """frame -> H x W uint8 (the objects numbered 1, 2, ... as first shown), {obj id: (first
    frame, number)} and {obj id: its score at the end} (Meta's benchmark score of the masklet)
    from the session: the text's two passes, then each round of clicks and two passes again (the
    last two passes' outputs). boxes: the prompt's exemplar boxes (with the text)."""
    _, bpe, path, video = concept_video
    # Meta's layout has no HQ parts: the command decodes with plain SAM 3 (and says so)
    session = ConceptVideoSession(load_checkpoint(path).eval(), bpe, SETTINGS, use_hq=False)
    session.set_video(video)
    rounds = sorted({c.get("round", 1) for c in clicks})
    with torch.inference_mode():
        session.add_prompt(TEXT_FRAME, TEXT, boxes)
        shown = passes(session)
        for number in rounds:
            for click in (c for c in clicks if c.get("round", 1) == number):
                assert click["object"] in session.obj_ids or click["object"] == 30, click
                labels = click.get("labels", [1] * len(click["points"]))
                session.add_points(click["frame"], click["object"], click["points"], labels)
            shown = passes(session)
    pictures, first, values = {}, {}, {}
    for frame, out in shown:
        picture = np.zeros(session.tracker.video_size, dtype=np.uint8)
        for obj_id, mask in zip(out.obj_ids.tolist(), out.masks):
            values.setdefault(obj_id, len(values) + 1)
            picture[mask] = values[obj_id]
            first[obj_id] = (min(first.get(obj_id, (frame,))[0], frame), values[obj_id])
        pictures[frame] = picture
    return pictures, first, {i: session.state.obj_id_to_score[i] for i in first}


README_CLICK_COMMANDS = [
    c for c in documented_commands()
    if c.program == "samhq-video" and "--text" in c.text and "--prompts" in c.text
]


def test_the_readme_click_command_runs(concept_video, tmp_path):
    """As written (Meta's default settings), with stand-ins for the video, sam3.pt, the merges
    file and clicks.json (a new object clicked on frame 0, which the text's run has shown)."""
    folder, bpe, path, video = concept_video
    clicks = tmp_path / "clicks.json"
    clicks.write_text(json.dumps([{"frame": 0, "object": 200, "points": [[10, 10]]}]))
    stand_ins = {"video/": str(video), "sam3.pt": str(path), "clicks.json": str(clicks),
                 "bpe_simple_vocab_16e6.txt.gz": str(bpe), "masks/": str(tmp_path / "masks")}
    assert len(README_CLICK_COMMANDS) == 1
    args = [stand_ins.get(a, a) for a in shlex.split(README_CLICK_COMMANDS[0].text)[1:]]
    assert command.main([*args, "--device", "cpu"]) == 0
    record = json.loads((tmp_path / "masks" / "concept.json").read_text())
    assert 200 in {o["id"] for o in record["objects"]}
    assert len(list((tmp_path / "masks").glob("*.png"))) == NUM_FRAMES


def passes(session: ConceptVideoSession) -> list:
    return [result for reverse in (False, True) for result in session.propagate(reverse)]


def test_command_writes_the_session_outputs(concept_video, tmp_path, capsys):
    out = tmp_path / "masks"
    assert command.main(command_args(concept_video, out)) == 0
    said = capsys.readouterr().out
    pictures, first, final = session_pictures(concept_video)
    assert sorted(pictures) == list(range(NUM_FRAMES))
    for frame, picture in pictures.items():
        written = np.array(Image.open(out / f"{frame:05d}.png"))
        assert np.array_equal(written, picture), frame
    assert sum(int(p.any()) for p in pictures.values()) >= 2, "nothing shown: a trivial check"
    record = json.loads((out / "concept.json").read_text())
    assert (record["text"], record["frame"], record["frame_name"]) == (TEXT, TEXT_FRAME, "00002")
    assert {o["id"]: (o["first_frame"], o["png_value"]) for o in record["objects"]} == first
    assert {o["id"]: o["masklet_score"] for o in record["objects"]} == pytest.approx(
        final, abs=1e-6)
    assert f"{len(first)} objects of {TEXT!r} shown" in said


def test_command_box_prompt_is_the_session_box_prompt(concept_video, tmp_path, capsys):
    """--exemplar-box with --text: the box goes to add_prompt (in video pixels) and into
    concept.json."""
    out = tmp_path / "masks"
    box = [26.0, 20.0, 56.0, 50.0]  # the bright square on frame 2
    args = command_args(concept_video, out, "--exemplar-box", *map(str, box))
    assert command.main(args) == 0
    said = capsys.readouterr().out
    pictures, first, final = session_pictures(concept_video, boxes=[box])
    for frame, picture in pictures.items():
        written = np.array(Image.open(out / f"{frame:05d}.png"))
        assert np.array_equal(written, picture), frame
    assert sum(int(p.any()) for p in pictures.values()) >= 2, "nothing shown: a trivial check"
    record = json.loads((out / "concept.json").read_text())
    assert (record["exemplar_boxes"], record["exemplar_labels"]) == ([box], [1])
    assert {o["id"]: (o["first_frame"], o["png_value"]) for o in record["objects"]} == first
    assert {o["id"]: o["masklet_score"] for o in record["objects"]} == pytest.approx(
        final, abs=1e-6)
    assert f"objects of {TEXT!r} with the exemplar box shown" in said


def test_command_clicks_are_the_session_clicks(concept_video, tmp_path, capsys):
    clicks = tmp_path / "clicks.json"
    clicks.write_text(json.dumps(CLICKS))
    out = tmp_path / "masks"
    assert command.main(command_args(concept_video, out, "--prompts", str(clicks))) == 0
    said = capsys.readouterr().out
    assert "object 30 is not tracked: the clicks on frame 5 start it as a new object" in said
    pictures, first, final = session_pictures(concept_video, CLICKS)
    assert sorted(pictures) == list(range(NUM_FRAMES))
    for frame, picture in pictures.items():
        written = np.array(Image.open(out / f"{frame:05d}.png"))
        assert np.array_equal(written, picture), frame
    record = json.loads((out / "concept.json").read_text())
    assert {o["id"]: (o["first_frame"], o["png_value"]) for o in record["objects"]} == first
    assert {13, 15, 30} <= set(first) and record["click_rounds"] == 2
    scores = {o["id"]: o["score"] for o in record["objects"]}
    assert scores[13] == scores[15] == scores[30] == 1.0
    masklet_scores = {o["id"]: o["masklet_score"] for o in record["objects"]}
    assert masklet_scores == pytest.approx(final, abs=1e-6)
    assert masklet_scores[13] == masklet_scores[15] == masklet_scores[30] == 1.0


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"frame": 1, "object": 15, "box": [1, 2, 30, 40]}, "give points only"),
        ({"frame": 1, "object": -1, "points": [[1, 2]]}, "object id -1 does not exist"),
        ({"frame": 9, "object": 15, "points": [[1, 2]]}, "frame 9 does not exist"),
    ],
)
def test_bad_clicks_are_one_line_and_exit_2(concept_video, tmp_path, capsys, entry, message):
    clicks = tmp_path / "clicks.json"
    clicks.write_text(json.dumps([entry]))
    with pytest.raises(SystemExit) as exit_:
        command.main(command_args(concept_video, tmp_path / "masks", "--prompts", str(clicks)))
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err


def test_prompts_with_text_need_detect_every_frame(concept_video, tmp_path, capsys):
    args = command_args(concept_video, tmp_path / "masks", "--prompts", "clicks.json")
    args.remove("--detect-every-frame")
    args = args[: args.index("--concept-settings")] + args[args.index("--text-frame"):]
    with pytest.raises(SystemExit) as exit_:
        command.main(args)
    assert exit_.value.code == 2
    assert "both with --detect-every-frame" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, settings, message",
    [
        ((), {"hotstart_delay": 2, "hotstart_unmatch_thresh": 3}, "hotstart_unmatch_thresh"),
        ((), {"hotstart_dely": 2}, "unknown setting 'hotstart_dely'"),
        ((), {"hotstart_delay": 2.5}, "hotstart_delay must be an integer"),
        ((), [1, 2], "expected a JSON object"),
        (("--objects", "independent"), None, "leave out --objects"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(concept_video, tmp_path, capsys, extra, settings,
                                         message):
    args = command_args(concept_video, tmp_path / "masks", *extra)
    if settings is not None:
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(settings))
        args[args.index("--concept-settings") + 1] = str(bad)
    with pytest.raises(SystemExit) as exit_:
        command.main(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    # a UserError: one line; argparse's: its usage, then one error line
    assert len(err) == 1 or ": error: " in err[-1], err
    assert message in err[-1]


def test_detect_every_frame_needs_text_and_a_detector(concept_video, tmp_path, capsys):
    folder, _, path, video = concept_video
    args = command_args(concept_video, tmp_path / "masks")
    no_text = [
        "--frames", str(video), "--prompts", str(folder / "settings.json"), "--checkpoint",
        str(path), "--out", str(tmp_path / "masks"), "--detect-every-frame",
    ]
    with pytest.raises(SystemExit) as exit_:
        command.main(no_text)
    assert exit_.value.code == 2
    assert "--detect-every-frame goes with --text" in capsys.readouterr().err
    state = torch.load(path, map_location="cpu", weights_only=True)
    keep = "detector.backbone.vision_backbone."
    no_detector = tmp_path / "no_detector.pt"
    torch.save(
        {k: v for k, v in state.items() if not k.startswith("detector.") or k.startswith(keep)},
        no_detector,
    )
    args[args.index("--checkpoint") + 1] = str(no_detector)
    with pytest.raises(SystemExit) as exit_:
        command.main(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no concept detector" in err[0], err
