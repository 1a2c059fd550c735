"""The video training prompts where the parity test does not reach (mutation audit round 6): the
deterministic "center" correction click against SAM 2's sample_one_point_from_error_center, a
one-frame clip (SAM2Train's image case) and the settings it refuses."""

import numpy as np
import pytest
import torch

from samhq_train.settings import SettingError
from samhq_train.training.video import plan_clip
from samhq_train.training.video.prompts import next_click, sample_box_points
from samhq_train.video_settings import ClipPromptSettings

sam2_utils = pytest.importorskip("sam2.modeling.sam2_utils")


def pairs(seed: int, size=(12, 15)):
    """GT and predictions B x 1 x H x W: shifted boxes, an exact one, an empty GT, ties."""
    gen = torch.Generator().manual_seed(seed)
    gt = torch.zeros(6, 1, *size, dtype=torch.bool)
    pred = torch.zeros_like(gt)
    gt[0, 0, 2:8, 3:10], pred[0, 0, 4:11, 1:12] = True, True  # both errors
    gt[1, 0, 1:6, 1:6], pred[1, 0, 1:6, 1:6] = True, True  # exact
    pred[2, 0, 3:7, 3:7] = True  # empty GT: false positives only
    gt[3, 0, 0:4, 0:4], pred[3, 0, 8:12, 11:15] = True, True  # equal depths: negative
    gt[4] = torch.rand(1, *size, generator=gen) < 0.5
    pred[4] = torch.rand(1, *size, generator=gen) < 0.5
    gt[5, 0, :, :] = True  # the whole frame missed: the border counts as region edge
    return gt, pred


@pytest.mark.parametrize("seed", [0, 1])
def test_center_clicks_are_sam2s(seed):
    gt, pred = pairs(seed)
    for previous in (pred, None):
        ours = next_click(gt, previous, "center")
        coords, labels = sam2_utils.sample_one_point_from_error_center(gt, previous)
        assert torch.equal(ours.coords, coords) and torch.equal(ours.labels, labels)
    labels = next_click(gt, pred, "center").labels[:, 0].tolist()
    assert labels[1:4] == [0, 0, 0] and labels[5] == 1  # exact, FP only, a tie; all missed


def test_box_corners_stay_in_the_image():
    masks = torch.zeros(2, 1, 10, 12, dtype=torch.bool)
    masks[0, 0, 0:10, 0:12] = True  # the whole image: noise pushes outwards
    masks[1, 0, 3:5, 4:9] = True
    torch.manual_seed(0)
    points = sample_box_points(masks, noise=0.5, noise_bound=100.0)
    assert points.labels.tolist() == [[2, 3], [2, 3]]
    xs, ys = points.coords[..., 0], points.coords[..., 1]
    assert xs.min() >= 0 and ys.min() >= 0 and xs.max() <= 11 and ys.max() <= 9
    assert sample_box_points(masks, noise=0.0).coords[1].tolist() == [[4.0, 3.0], [8.0, 4.0]]


def test_a_one_frame_clip_is_an_image_with_one_corrected_point_frame():
    """SAM2Train's num_frames == 1 case: point input, frame 0 the only conditioning and corrected
    frame, whatever the settings."""
    gt = torch.zeros(1, 2, 1, 16, 16, dtype=torch.bool)
    gt[0, :, 0, 4:9, 5:12] = True
    settings = ClipPromptSettings(prob_to_use_pt_input=0.0, num_init_cond_frames=2,
                                  num_frames_to_correct=2)
    for seed in range(4):
        plan = plan_clip(gt, settings, np.random.default_rng(seed))
        assert plan.use_points and plan.init_cond_frames == [0] and plan.frames_to_correct == [0]
        assert list(plan.points) == [0] and not plan.masks


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"click_sampling": "random"},
         "video.prompts.click_sampling=random: expected one of uniform, center"),
        ({"num_init_cond_frames": 0},
         "video.prompts.num_init_cond_frames=0: expected an integer >= 1"),
        ({"num_init_cond_frames": 3, "num_frames_to_correct": 2},
         r"video.prompts.num_frames_to_correct=2: expected an integer >= "
         r"video.prompts.num_init_cond_frames=3 \(the initial conditioning frames are among "
         r"those corrected\)"),
    ],
)
def test_settings_refused(settings, message):
    with pytest.raises(SettingError, match=f"^{message}$"):
        ClipPromptSettings(**settings)


def test_mask_input_only_corrects_no_frame_so_needs_no_count():
    ClipPromptSettings(prob_to_use_pt_input=0.0, num_init_cond_frames=3, num_frames_to_correct=2)


def test_corrected_frames_join_the_memory_only_when_asked():
    gt = torch.zeros(4, 1, 1, 16, 16, dtype=torch.bool)
    gt[:, :, 0, 4:9, 5:12] = True
    settings = ClipPromptSettings(prob_to_use_pt_input=1.0, num_init_cond_frames=1,
                                  num_frames_to_correct=3, rand_frames_to_correct=False)
    plan = plan_clip(gt, settings, np.random.default_rng(0))
    assert plan.init_cond_frames == [0] and len(plan.frames_to_correct) == 3
    later = [t for t in plan.frames_to_correct if t != 0]
    assert all(plan.is_cond(t, add_corrected=True) for t in later)
    assert not any(plan.is_cond(t, add_corrected=False) for t in later)
    assert plan.processing_order(4)[0] == 0 and sorted(plan.processing_order(4)) == [0, 1, 2, 3]
