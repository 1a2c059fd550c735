"""samhq-video and VideoPredictor with SAM 3 checkpoints: an HQ-SAM 3 file tracks end to end (the
PNGs are the predictor's masks), an image-only SAM 3 file (the demo base) and independent objects
are refused in one line, exit 2. Parity with Meta's tracker: test_parity_sam3_meta.py."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from samhq_train.inference.video import VideoPredictor, command
from samhq_train.model import build_sam_hq, save_checkpoint
from tests.reference import randomize_

from .conftest import VIDEO_HW, write_video

DEMO_BASE = Path(__file__).resolve().parents[3] / "data" / "demo_base" / "sam3_hq_demo_base.pt"
PROMPTS = [
    {"frame": 1, "object": 1, "points": [[30, 35]], "labels": [1]},
    {"frame": 1, "object": 2, "box": [70, 40, 110, 80]},
]


@pytest.fixture(scope="module")
def sam3_file(tmp_path_factory):
    model = randomize_(build_sam_hq("sam3_hq_demo", seed=0), seed=4, scale=0.05)
    with torch.no_grad():  # objects present, so the masks are not empty
        model.sam_mask_decoder.pred_obj_score_head.layers[2].bias += 4.0
    return save_checkpoint(model.eval(), tmp_path_factory.mktemp("ckpt") / "sam3_hq.pt", "sam_hq")


def run(args) -> int:
    with pytest.raises(SystemExit) as exit_:
        command.main(args)
    return exit_.value.code


def args_for(tmp_path, checkpoint, *extra):
    frames = write_video(tmp_path / "frames", num_frames=4)
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps(PROMPTS))
    return [
        "--frames", str(frames), "--prompts", str(prompts), "--checkpoint", str(checkpoint),
        "--out", str(tmp_path / "masks"), "--device", "cpu", *extra,
    ]


def test_samhq_video_tracks_with_an_hq_sam3_file(tmp_path, sam3_file):
    args = args_for(tmp_path, sam3_file)  # no holes filled by default, as Meta's tracker
    assert command.main(args) == 0
    predictor = VideoPredictor(command.load_model(command.parse_args(args)))
    predictor.set_video(tmp_path / "frames")
    for p in PROMPTS:
        kwargs = {k: v for k, v in p.items() if k in ("points", "labels", "box")}
        predictor.add_points_or_box(p["frame"], p["object"], **kwargs)
    found = 0
    for reverse in (False, True):
        for frame, ids, logits in predictor.propagate(reverse=reverse):
            written = np.array(Image.open(tmp_path / "masks" / f"{frame:05d}.png"))
            assert written.shape == VIDEO_HW
            assert (written == command.id_mask(ids, logits)).all(), frame
            found += int((written > 0).sum())
    assert found > 100


@pytest.mark.skipif(not DEMO_BASE.exists(), reason="the shipped SAM 3 demo base is absent")
def test_an_image_only_sam3_file_is_refused_in_one_line(tmp_path, capsys):
    assert run(args_for(tmp_path, DEMO_BASE)) == 2
    *notes, err = capsys.readouterr().err.strip().splitlines()
    assert all(line.startswith("note:") for line in notes)  # a file without HQ parts: noted
    assert "no video parts" in err and "maskmem_backbone" in err


def test_sam3_objects_are_batched_only(tmp_path, sam3_file, capsys):
    assert run(args_for(tmp_path, sam3_file, "--objects", "independent")) == 2
    err = capsys.readouterr().err.strip()
    assert "batched only" in err and err.count("\n") == 0


def test_a_later_round_clicks_a_prompted_frame_again(tmp_path, sam3_file):
    """SAM 3's tracker decodes a click on a conditioning frame again (the SAM 2.1 predictors
    keep its first masks, so there the command refuses it): round 2 equals the Python calls."""
    correction = {"round": 2, "frame": 1, "object": 1, "points": [[30, 35], [40, 45]],
                  "labels": [1, 0]}
    args = args_for(tmp_path, sam3_file)
    Path(args[args.index("--prompts") + 1]).write_text(json.dumps([*PROMPTS, correction]))
    assert command.main(args) == 0
    predictor = VideoPredictor(command.load_model(command.parse_args(args)))
    predictor.set_video(tmp_path / "frames")
    for round_prompts in (PROMPTS, [correction]):
        for p in round_prompts:
            kwargs = {k: v for k, v in p.items() if k in ("points", "labels", "box")}
            predictor.add_points_or_box(p["frame"], p["object"], **kwargs)
        passes = [list(predictor.propagate(reverse=r)) for r in (False, True)]
    for frame, ids, logits in (result for one_pass in passes for result in one_pass):
        written = np.array(Image.open(tmp_path / "masks" / f"{frame:05d}.png"))
        assert (written == command.id_mask(ids, logits)).all(), frame
