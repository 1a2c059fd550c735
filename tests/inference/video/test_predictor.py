"""VideoPredictor's own rules: hole filling as the official CUDA post-processing defines it, frame
order, and the prompts it refuses."""

import numpy as np
import pytest
import torch

from samhq_train.inference.video import VideoPredictor, VideoPromptError, fill_holes, list_frames

from .conftest import write_video


def test_fill_holes_fills_small_8_connected_background_regions():
    logits = torch.full((2, 1, 8, 8), 1.0)
    logits[0, 0, 1, 1] = logits[0, 0, 2, 2] = -1.0  # diagonal neighbours: one hole of 2 pixels
    logits[0, 0, 5:8, 5:8] = -2.0  # 9 pixels (at the border): kept at max_area 8
    logits[1, 0, 0, :] = -0.5  # 8 pixels: filled
    out = fill_holes(logits, 8)
    assert out[0, 0, 1, 1] == out[0, 0, 2, 2] == 0.1
    assert (out[0, 0, 5:8, 5:8] == -2.0).all()
    assert (out[1, 0, 0] == 0.1).all()
    assert (out[logits > 0] == 1.0).all()


def test_fill_holes_against_a_random_mask():
    """Against scipy's labelling (another implementation of 8-connected components)."""
    ndimage = pytest.importorskip("scipy.ndimage")
    rng = np.random.default_rng(0)
    logits = torch.from_numpy(rng.normal(size=(3, 1, 32, 32)).astype(np.float32))
    out = fill_holes(logits, 5)
    for i in range(3):
        labels, _ = ndimage.label(logits[i, 0].numpy() <= 0, structure=np.ones((3, 3)))
        sizes = np.bincount(labels.ravel())
        small = (labels > 0) & (sizes[labels] <= 5)
        assert small.any() and (~small & (logits[i, 0].numpy() <= 0)).any()
        expected = np.where(small, 0.1, logits[i, 0].numpy())
        np.testing.assert_array_equal(out[i, 0].numpy(), expected.astype(np.float32))


def test_frames_in_number_order(tmp_path):
    for name in ("10.jpg", "2.jpg", "1.png"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "notes.txt").write_text("")
    assert [p.name for p in list_frames(tmp_path)] == ["1.png", "2.jpg", "10.jpg"]


@pytest.fixture(scope="module")
def predictor(official_model, tmp_path_factory):
    predictor = VideoPredictor(official_model)
    predictor.set_video(write_video(tmp_path_factory.mktemp("frames"), num_frames=3))
    return predictor


def test_refusals_and_corrections(predictor):
    with pytest.raises(VideoPromptError, match="frame 3 does not exist"):
        predictor.add_points_or_box(3, 1, points=[[10, 10]], labels=[1])
    with pytest.raises(VideoPromptError, match="no prompts"):
        next(predictor.propagate())
    with pytest.raises(VideoPromptError, match="one label per point"):
        predictor.add_points_or_box(0, 1, points=[[10, 10]], labels=[1, 0])
    frame, ids, masks = predictor.add_points_or_box(1, 7, box=[20, 20, 60, 50])
    assert (frame, ids, tuple(masks.shape)) == (1, [7], (1, 1, 96, 128))
    tracked = {f: m for f, _, m in predictor.propagate(reverse=True)}
    assert list(tracked) == [1, 0]
    with pytest.raises(VideoPromptError, match="object 8 is new after propagation"):
        predictor.add_points_or_box(0, 8, points=[[10, 10]], labels=[1])
    group = predictor.groups[0]
    _, _, corrected = predictor.add_points_or_box(0, 7, points=[[30, 30]], labels=[0])
    assert (corrected - tracked[0]).abs().max() > 0  # a correction, decoded with memory
    again = {f: m for f, _, m in predictor.propagate()}
    assert list(again) == [1, 2] and 0 in group.kept and 0 in group.memory.non_cond
    predictor.reset()
    assert predictor.obj_ids == []
