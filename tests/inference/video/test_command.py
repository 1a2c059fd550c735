"""samhq-video end to end (its PNGs are the official HQ-SAM 2 video predictor's masks) and its
refusals of bad input: one line naming the file or key, exit 2, before the model is loaded."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from samhq_train.inference.video import command
from samhq_train.model import save_checkpoint
from tests.reference import random_tiny_model

from .conftest import write_video
from .test_parity_official import STEP_BOUND


def write_prompts(folder, prompts, video_hw):
    """The official fixture's prompts as a prompts file (its mask as a PNG beside it)."""
    entries = []
    for frame, obj, prompt in prompts:
        entry = {"frame": frame, "object": obj}
        if "mask_box" in prompt:
            x0, y0, x1, y1 = prompt["mask_box"]
            mask = np.zeros(video_hw, np.uint8)
            mask[y0:y1, x0:x1] = 255
            Image.fromarray(mask).save(folder / f"mask_{obj}.png")
            entry["mask"] = f"mask_{obj}.png"
        else:
            entry.update(prompt)
        entries.append(entry)
    path = folder / "prompts.json"
    path.write_text(json.dumps(entries))
    return path


def test_writes_the_official_masks_as_indexed_pngs(official, official_frames, hq_sam2_file,
                                                   tmp_path):
    """Official settings (binarized prompt masks, bf16 memories; no hole filling, which the
    official code needs its CUDA extension for): each frame's PNG holds, for every pixel, the
    smallest id among the objects whose official logit is > 0, except where an official logit is
    within STEP_BOUND of 0 (see test_parity_official)."""
    prompts_file = write_prompts(tmp_path, official["prompts"], (96, 128))
    out = tmp_path / "masks"
    code = command.main([
        "--frames", str(official_frames), "--prompts", str(prompts_file), "--checkpoint",
        str(hq_sam2_file), "--out", str(out), "--fill-hole-area", "0", "--device", "cpu",
        "--overlay",
    ])
    assert code == 0
    expected_logits = official["outputs"]["hq_official"]
    frames = sorted(official["frames"])
    assert sorted(p.name for p in out.glob("*.png")) == [f[:-4] + ".png" for f in frames]
    assert len(list((out / "overlay").glob("*.jpg"))) == len(frames)
    found = 0
    for i, name in enumerate(frames):
        picture = Image.open(out / (name[:-4] + ".png"))
        assert picture.mode == "P" and picture.getpalette()[3:6] == [128, 0, 0]
        ids = np.array(picture)
        logits = expected_logits[f"forward_{i}"]
        expected = command.id_mask([1, 2, 3], logits)
        unsure = (logits.abs() < STEP_BOUND).any(dim=0)[0].numpy()
        assert ((ids == expected) | unsure).all(), name
        found += int((ids > 0).sum())
    assert found > 1000


def run_main(args):
    with pytest.raises(SystemExit) as exit_:
        command.main(args)
    return exit_.value.code


@pytest.fixture
def inputs(tmp_path):
    frames = write_video(tmp_path / "frames", num_frames=3)
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps([{"frame": 0, "object": 1, "points": [[20, 30]]}]))
    return {"--frames": str(frames), "--prompts": str(prompts), "--out": str(tmp_path / "out"),
            "--checkpoint": str(tmp_path / "missing.pt")}


def args_of(inputs):
    return [a for kv in inputs.items() for a in kv] + ["--device", "cpu"]


def prompts_entry(**entry):
    return [{"frame": 0, "object": 1, "points": [[20, 30]], **entry}]


def later(round_: int, **entry):
    """A correction click of round `round_` (object 1 on frame 1 unless told)."""
    return [{"round": round_, "frame": 1, "object": 1, "points": [[25, 30]], **entry}]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"--frames": "nowhere"}, "nowhere: frames folder not found"),
        ({"--prompts": "nowhere.json"}, "nowhere.json: prompts file not found"),
        ({"prompts": "{not json"}, "not a readable JSON file"),
        ({"prompts": []}, "must be a non-empty JSON list"),
        ({"prompts": prompts_entry(frame=3)}, "json[0]: frame 3 does not exist (the video has "
                                             "frames 0 to 2)"),
        ({"prompts": prompts_entry(pts=[[1, 2]])}, "json[0]: unknown key 'pts'"),
        ({"prompts": prompts_entry(object=0)}, "json[0]: object id 0 does not exist"),
        ({"prompts": prompts_entry(labels=[1, 0])}, "'labels' must be one 1 or 0 per point"),
        ({"prompts": prompts_entry(box=[1, 2, 3])}, "'box' must be [x0, y0, x1, y1]"),
        ({"prompts": prompts_entry(mask="m.png")}, "give 'mask' alone"),
        ({"prompts": [{"frame": 0, "object": 1, "mask": "m.png"}]}, "m.png not found"),
        ({"prompts": [{"frame": 0, "object": 1}]}, "give 'points', 'box' or 'mask'"),
        ({"prompts": prompts_entry() * 2}, "json[1]: object 1 already has a prompt on frame 0"),
        ({"--checkpoint": "missing.pt"}, "checkpoint not found"),
        ({"prompts": prompts_entry(round=0)}, "json[0]: 'round' must be 1, 2, 3, ... (1 when left "
                                              "out), not 0"),
        ({"prompts": prompts_entry(round=True)}, "json[0]: 'round' must be 1, 2, 3, ..."),
        ({"prompts": prompts_entry(round="2")}, "json[0]: 'round' must be 1, 2, 3, ..."),
        ({"prompts": prompts_entry(round=2)}, "json[0]: round 2 but no entry has round 1; number "
                                              "the rounds 1, 2, 3, ... without gaps"),
        ({"prompts": prompts_entry() + later(3)}, "json[1]: round 3 but no entry has round 2"),
        ({"prompts": prompts_entry() + later(2, object=2)}, "json[1]: object 2 first appears in "
                                                            "round 2: batched objects"),
        ({"prompts": prompts_entry() + later(2) * 2}, "json[2]: object 1 already has a prompt on "
                                                      "frame 1 in round 2"),
    ],
)
def test_bad_input_is_one_line(inputs, tmp_path, capsys, change, named):
    for key, value in change.items():
        if key == "prompts":
            text = value if isinstance(value, str) else json.dumps(value)
            (tmp_path / "prompts.json").write_text(text)
        else:
            inputs[key] = str(tmp_path / value)
    assert run_main(args_of(inputs)) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and named in err, err


@pytest.mark.parametrize(
    ("prompts", "named"),
    [
        (prompts_entry() + later(2, frame=0, object=1), "json[1]: frame 0 was prompted in round 1"),
        (prompts_entry(object=2) + prompts_entry(frame=2) + later(2, frame=0),
         "json[2]: frame 0 was prompted in round 1"),  # batched: for another object
    ],
)
def test_a_later_click_on_a_conditioning_frame_is_refused_for_sam2(inputs, tmp_path, capsys,
                                                                   hq_sam2_file, prompts, named):
    """The SAM 2.1 predictors keep a conditioning frame's first masks (SAM 3 takes the click: the
    rule waits for the model's family, and still comes before any frame is encoded)."""
    (tmp_path / "prompts.json").write_text(json.dumps(prompts))
    inputs["--checkpoint"] = str(hq_sam2_file)
    assert run_main(args_of(inputs)) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and named in err, err


def test_rounds_with_independent_objects(inputs, tmp_path, capsys):
    """Independent objects (Meta 1.1.0) take a new object in a later round; only an object's own
    first-round frames refuse its later clicks."""
    prompts = tmp_path / "prompts.json"
    accepted = prompts_entry() + later(2, object=2, frame=0) + later(3, object=1, frame=2)
    prompts.write_text(json.dumps(accepted))
    independent = [*args_of(inputs), "--objects", "independent"]
    assert run_main(independent) == 2  # passes on to the checkpoint
    assert "missing.pt" in capsys.readouterr().err
    prompts.write_text(json.dumps(accepted + later(4, object=2, frame=0)))
    assert run_main(independent) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("json[3]: frame 0 was prompted in round 2 and keeps those masks (the "
                        "official rule); put these clicks in round 2's prompt there, or click on "
                        "another frame"), err


def test_no_frames_and_mixed_sizes(inputs, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no frames here")
    assert run_main(args_of({**inputs, "--frames": str(empty)})) == 2
    assert "holds no frames" in capsys.readouterr().err
    frames = tmp_path / "frames"
    write_video(frames, num_frames=1, hw=(64, 64), suffix=".png")  # 00000.png beside 00000.jpg
    assert run_main(args_of(inputs)) == 2
    assert "several frames are named '00000'" in capsys.readouterr().err
    (frames / "00000.png").rename(frames / "00009.png")
    assert run_main(args_of(inputs)) == 2
    err = capsys.readouterr().err.strip()
    assert "00009.png is 64x64 but 00000.jpg is 128x96: all frames of a video" in err


def test_mask_of_another_size(inputs, tmp_path, capsys):
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "m.png")
    (tmp_path / "prompts.json").write_text(json.dumps([{"frame": 1, "object": 4, "mask": "m.png"}]))
    assert run_main(args_of(inputs)) == 2
    assert "m.png is 10x10, the video 128x96" in capsys.readouterr().err


def test_output_folder_with_files_needs_overwrite(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.png").write_bytes(b"")
    assert run_main(args_of(inputs)) == 2
    err = capsys.readouterr().err.strip()
    assert "old.png already exists" in err and "--overwrite" in err
    assert run_main([*args_of(inputs), "--overwrite"]) == 2  # passes on to the checkpoint
    assert "missing.pt" in capsys.readouterr().err


def test_a_sam1_checkpoint_is_refused(inputs, tmp_path, capsys):
    path = save_checkpoint(random_tiny_model(), tmp_path / "sam_hq_vit_tiny.pth", "sam_hq")
    assert run_main(args_of({**inputs, "--checkpoint": str(path)})) == 2
    err = capsys.readouterr().err.strip()
    assert "video tracking needs an HQ-SAM 2 / SAM 2.1 model" in err and str(path) in err


def test_an_empty_checkpoint_is_named_once(inputs, tmp_path, capsys):
    empty = tmp_path / "epoch_3.pth"
    empty.write_bytes(b"")
    assert run_main(args_of({**inputs, "--checkpoint": str(empty)})) == 2
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line]
    assert line.count(str(empty)) == 1 and "empty" in line, line


def test_a_sam1_variant_is_refused_before_reading(inputs, capsys):
    assert run_main([*args_of(inputs), "--variant", "vit_b"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("--variant vit_b is a sam1 model: video tracking needs an HQ-SAM 2 / SAM "
                        "2.1 model or an HQ-SAM 3 / SAM 3 model")


def test_palette_is_davis():
    palette = command.davis_palette()
    assert palette[:12] == [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0]
    assert len(palette) == 768
    logits = torch.full((2, 1, 2, 2), -1.0)
    logits[0, 0, 0], logits[1, 0, :, 0] = 1.0, 1.0  # object 5 row 0, object 2 column 0
    assert command.id_mask([5, 2], logits).tolist() == [[2, 5], [2, 0]]
