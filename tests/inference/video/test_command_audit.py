"""samhq-video's defaults against the video predictor run by hand (mutation audit round 5): with
no flags it tracks batched with official hole filling (8), forward from the first prompted frame
and then in reverse to frame 0, and writes, where objects overlap, the smaller id."""

import json

import numpy as np
import torch
from PIL import Image

from samhq_train.inference.video import VideoPredictor, command

from .conftest import write_video

# object 1 on frame 1 (a box over most of the picture), object 2 on frame 2: the frames before
# the first prompt come from the reverse pass, the objects overlap, and batched differs from
# independent (frame 1 conditions object 2 too)
PROMPTS = [
    {"frame": 1, "object": 1, "box": [5, 5, 120, 90]},
    {"frame": 2, "object": 2, "points": [[90, 40], [30, 70]], "labels": [1, 0]},
]


def expected_ids(model, frames_dir) -> dict[int, np.ndarray]:
    """Each frame's ids computed here: the predictor with the official settings, forward then
    reverse, the smallest id of the objects with logit > 0 on each pixel."""
    predictor = VideoPredictor(model, use_hq=True, objects="batched", fill_hole_area=8)
    predictor.set_video(frames_dir)
    for p in PROMPTS:
        predictor.add_points_or_box(p["frame"], p["object"], p.get("points"), p.get("labels"),
                                    p.get("box"))
    ids = {}
    for reverse in (False, True):
        for frame, obj_ids, logits in predictor.propagate(reverse=reverse):
            assert obj_ids == [1, 2]
            out = np.zeros(logits.shape[-2:], np.uint8)
            for row in (1, 0):  # object 2 first, object 1 over it
                out[(logits[row, 0] > 0).numpy()] = obj_ids[row]
            ids[frame] = (out, logits.clone())
    return ids


def test_defaults_track_both_ways_with_holes_filled_smaller_id_on_top(official_model,
                                                                     hq_sam2_file, tmp_path):
    frames = write_video(tmp_path / "frames", num_frames=4)
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps(PROMPTS))
    out = tmp_path / "masks"
    assert command.main(["--frames", str(frames), "--prompts", str(prompts), "--checkpoint",
                         str(hq_sam2_file), "--out", str(out), "--device", "cpu"]) == 0
    expected = expected_ids(official_model, frames)
    assert sorted(expected) == [0, 1, 2, 3]
    overlap = 0
    for frame, (ids, logits) in expected.items():
        written = np.array(Image.open(out / f"{frame:05d}.png"))
        np.testing.assert_array_equal(written, ids, err_msg=f"frame {frame}")
        overlap += int(((logits[:, 0] > 0).sum(0) == 2).sum())
    assert overlap > 50, "the objects never overlap: the smaller-id rule is not seen"
    assert (np.array(Image.open(out / "00000.png")) > 0).any()  # the reverse pass wrote frame 0


def test_the_defaults_are_the_official_ones(official_model, tmp_path):
    """Where the command's defaults differ from other settings, the masks differ: checked here so
    that the end-to-end test above can tell a changed default apart."""
    frames = write_video(tmp_path / "frames", num_frames=4)
    official = expected_ids(official_model, frames)

    def masks(**settings):
        predictor = VideoPredictor(official_model, use_hq=True, **settings)
        predictor.set_video(frames)
        for p in PROMPTS:
            predictor.add_points_or_box(p["frame"], p["object"], p.get("points"),
                                        p.get("labels"), p.get("box"))
        return {f: m for f, _, m in predictor.propagate()}

    default = masks()
    for frame, logits in default.items():  # VideoPredictor's own defaults: the command's
        assert torch.equal(logits, official[frame][1])
    for other in ({"objects": "independent"}, {"fill_hole_area": 0}):
        changed = masks(**other)
        assert any(not torch.equal(changed[f], default[f]) for f in default), other
