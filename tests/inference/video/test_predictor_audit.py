"""VideoPredictor's post-processing and refusals (mutation audit round 5): non-overlapping output
masks computed here from the overlapping ones, hole filling that leaves a small object alone,
and the checks of the tracker's memory attention (square grids, bfloat16)."""

import numpy as np
import pytest
import torch

from samhq_train.inference.video import VideoPredictor, fill_holes

from .conftest import write_video

PROMPTS = [(1, 1, dict(box=[5, 5, 120, 90])), (1, 2, dict(points=[[90, 40]], labels=[1])),
           (2, 2, dict(points=[[30, 70]], labels=[0]))]


def run(model, frames, **settings):
    predictor = VideoPredictor(model, fill_hole_area=0, **settings)
    predictor.set_video(frames)
    out = {}
    for frame, obj, prompt in PROMPTS:
        out[("prompt", frame, obj)] = predictor.add_points_or_box(frame, obj, **prompt)[2]
    for frame, _, masks in predictor.propagate():
        out[frame] = masks
    return out


def non_overlapping_here(logits: torch.Tensor) -> np.ndarray:
    """N x 1 x H x W: on each pixel the highest logit is kept, every other one made at most -10
    (the official _apply_non_overlapping_constraints), written out pixel by pixel."""
    x = logits.numpy()
    out = x.copy()
    n, _, h, w = x.shape
    for i in range(h):
        for j in range(w):
            best = int(np.argmax(x[:, 0, i, j]))
            for k in range(n):
                if k != best:
                    out[k, 0, i, j] = min(x[k, 0, i, j], -10.0)
    return out


@pytest.mark.parametrize("objects", ["batched", "independent"])
def test_non_overlap_masks_keeps_only_the_best_object_per_pixel(official_model, tmp_path, objects):
    frames = write_video(tmp_path / "frames", num_frames=3)
    overlapping = run(official_model, frames, objects=objects)
    separate = run(official_model, frames, objects=objects, non_overlap_masks=True)
    assert overlapping.keys() == separate.keys()
    changed = 0
    for key, logits in overlapping.items():
        expected = non_overlapping_here(logits)
        np.testing.assert_array_equal(separate[key].numpy(), expected, err_msg=str(key))
        if len(logits) == 2:
            assert not (separate[key][:, 0] > 0).all(0).any()
            changed += int((logits[:, 0] > 0).all(0).sum())
    assert changed > 50, "no overlap: the rule is not exercised"


def test_a_small_object_is_not_a_hole():
    """Only background (logit <= 0) regions are filled: an object smaller than max_area keeps its
    logits, and so does the background around it when it is larger than max_area."""
    logits = torch.full((1, 1, 8, 8), -3.0)
    logits[0, 0, 2, 2:4] = 5.0  # a 2-pixel object
    logits[0, 0, 6, 6] = -1.0
    out = fill_holes(logits, 8)
    assert torch.equal(out, logits)


def test_memory_attention_refuses_grids_it_cannot_rotate(official_model):
    attention = official_model.memory_attention
    c = attention.norm.normalized_shape[0]
    memory = torch.zeros(1, 32, official_model.mem_dim)
    with pytest.raises(ValueError, match="square query grid"):
        attention(torch.zeros(1, 15, c), torch.zeros(1, 15, c), memory, memory)
    with pytest.raises(ValueError, match="whole key grids"):
        attention(torch.zeros(1, 16, c), torch.zeros(1, 16, c), memory[:, :20], memory[:, :20])
    # the object pointers (the last keys) are not rotated: 16 + 4 keys are fine with 4 pointers
    out = attention(torch.zeros(1, 16, c), torch.zeros(1, 16, c), memory[:, :20], memory[:, :20],
                    num_obj_ptr_tokens=4)
    assert out.shape == (1, 16, c)


def test_memory_attention_runs_in_bfloat16(official_model):
    """Weights and inputs in bfloat16: the rotation is computed in fp32 and the output stays
    bfloat16, close to the fp32 result."""
    import copy

    attention = official_model.memory_attention
    c = attention.norm.normalized_shape[0]
    gen = torch.Generator().manual_seed(0)
    x, pos = torch.randn(2, 1, 16, c, generator=gen)
    memory, memory_pos = torch.randn(2, 1, 36, official_model.mem_dim, generator=gen)
    with torch.no_grad():
        fp32 = attention(x, pos, memory, memory_pos, num_obj_ptr_tokens=4)
        half = copy.deepcopy(attention).to(torch.bfloat16)
        bf16 = half(*(t.to(torch.bfloat16) for t in (x, pos, memory, memory_pos)),
                    num_obj_ptr_tokens=4)
    assert bf16.dtype == torch.bfloat16
    assert (bf16.float() - fp32).abs().max() < 0.1 * fp32.abs().max()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_memories_are_stored_in_memory_dtype(official_model, tmp_path, dtype):
    """Every memory the predictor keeps, of prompted and of tracked frames (also a corrected
    one), is in memory_dtype (the official predictor: bfloat16)."""
    frames = write_video(tmp_path / "frames", num_frames=4)
    predictor = VideoPredictor(official_model, memory_dtype=dtype)
    predictor.set_video(frames)
    predictor.add_points_or_box(1, 1, box=[5, 5, 120, 90])
    list(predictor.propagate())
    predictor.add_points_or_box(2, 1, points=[[30, 70]], labels=[0])
    list(predictor.propagate(start_frame=2))
    memory = predictor.groups[0].memory
    assert sorted(memory.cond) == [1] and sorted(memory.non_cond) == [2, 3]
    for out in [*memory.cond.values(), *memory.non_cond.values()]:
        assert out.memory.dtype == dtype
