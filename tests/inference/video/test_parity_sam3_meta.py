"""SAM 3 video tracking against Meta's sam3 0.1.4 Sam3TrackerPredictor (build_tracker's settings,
tests/model/sam3/meta_tracker.py), same random weights (Meta's sam3.pt layout loaded through
load_checkpoint), same frames and prompts, fp32: every frame's mask logits at the video's size.

Three objects (points, a box, a mask) on frame 2, a click on frame 4 before tracking, forward and
reverse propagation, then correction clicks on tracked frames 3, 5 and 0 (five conditioning frames:
the closest 4 are attended) and both directions again. One object alone: clicks on tracked frames
after propagations, one where Meta's predictor has forgotten the object's earlier logits
(clear_non_cond_mem_around_input, single objects only) and one where it has not.

Meta's predictor runs on CPU with Tensor.cuda / pin_memory as identities (meta_tracker.cpu_only),
the package unedited; it is driven through its own
init_state / add_new_points_or_box / add_new_mask / propagate_in_video (with preflight), given the
frames our predictor loaded, normalised as its video loader does ((x / 255 - 0.5) / 0.5).

Plain SAM 3 is use_hq=False. HQ-SAM 3 has no official video code; its reference is the same
Meta predictor with its sam_mask_decoder swapped for an adapter running our MaskDecoderHQ with
hq_token_only=False (as HQ-SAM 2's official video predictor calls it), which pins every step of
the video path around the decoder; the decoder itself equals our image-path HQ decode on the
conditioning frame (test_sam3_tracking.py).
"""

import numpy as np
import pytest
import torch
from torch import nn

from samhq_train.inference.video import VideoPredictor
from samhq_train.model import load_checkpoint

from .conftest import VIDEO_HW
from .meta_features import keep_every_frames_features

pytest.importorskip("sam3")
from tests.model.sam3.meta_tracker import build_meta_tracker, cpu_only  # noqa: E402

ATOL = 1e-5
BOTH = (False, True)  # propagate forward, then in reverse
CLICKS_18 = [[25.0 + 4 * i, 35.0 + (7 * i) % 30] for i in range(18)]
SCRIPTS = {
    "three_objects": [
        (2, 1, dict(points=[[30.0, 35.0], [100.0, 80.0]], labels=[1, 0])),
        (2, 2, dict(box=[70.0, 40.0, 110.0, 80.0])),
        (2, 3, "mask"),
        (4, 1, dict(points=[[60.0, 30.0]], labels=[1])),
        BOTH,
        (3, 2, dict(points=[[95.0, 75.0]], labels=[0])),
        (5, 1, dict(points=[[70.0, 35.0]], labels=[1])),
        (0, 3, dict(points=[[90.0, 40.0]], labels=[1])),
        BOTH,
    ],
    "one_object": [
        (0, 7, dict(points=CLICKS_18, labels=[1, 0] * 9)),  # Meta keeps the first and last 8
        (False,),
        (3, 7, dict(points=[[50.0, 30.0], [20.0, 70.0]], labels=[1, 0])),
        (False,),
        (1, 7, dict(points=[[40.0, 40.0]], labels=[1])),  # cleared in Meta's per-object store
        (5, 7, dict(points=[[70.0, 30.0]], labels=[0])),  # tracked after the clearing: kept
        BOTH,
    ],
}


def mask_prompt() -> np.ndarray:
    """Object 3 on frame 2: the disc of conftest.write_video, as a binary video-size mask."""
    yy, xx = np.mgrid[: VIDEO_HW[0], : VIDEO_HW[1]]
    return ((yy - 50) ** 2 + (xx - 90) ** 2) < 14**2


class DecoderAdapter(nn.Module):
    """Meta's MaskDecoder call on our MaskDecoderHQ, with the HQ token (hq_token_only=False)."""

    def __init__(self, decoder) -> None:
        super().__init__()
        self.decoder = decoder
        self.conv_s0, self.conv_s1 = decoder.conv_s0, decoder.conv_s1

    def forward(self, *, repeat_image, **kwargs):
        assert not repeat_image
        return tuple(self.decoder(**kwargs, hq_token_only=False, use_hq=True))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """(Meta's tracker, ours loaded from its sam3.pt layout with random HQ parts)."""
    meta, state = build_meta_tracker(seed=2)
    keep_every_frames_features(meta)
    # objects present (object-score logits well above 0), so the masks are not all NO_OBJ_SCORE
    score_bias = "tracker.sam_mask_decoder.pred_obj_score_head.layers.2.bias"
    with torch.no_grad():
        state[score_bias] += 4.0
        meta.sam_mask_decoder.pred_obj_score_head.layers[2].bias += 4.0
    path = tmp_path_factory.mktemp("sam3") / "sam3.pt"
    torch.save(state, path)
    with torch.random.fork_rng():  # the fresh HQ parts' init: the same whichever tests ran before
        torch.manual_seed(0)
        ours = load_checkpoint(path).eval()
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, tensor in ours.state_dict().items():
            if name not in state:  # the HQ parts
                tensor.add_(torch.randn(tensor.shape, generator=gen) * 0.05)
        ours.sam_mask_decoder.hf_mlp.layers[-1].weight.mul_(0.1)  # an HQ mask near SAM's
    return meta, ours


def run_ours(model, video_dir, script, use_hq: bool, selection: bool) -> tuple[dict, torch.Tensor]:
    predictor = VideoPredictor(
        model, use_hq=use_hq, memory_dtype=torch.bfloat16, memory_selection=selection
    )
    predictor.set_video(video_dir)
    out = {}
    for i, step in enumerate(script):
        if len(step) == 3:
            frame, obj, kwargs = step
            if kwargs == "mask":
                out[i] = predictor.add_mask(frame, obj, mask_prompt())[2]
            else:
                out[i] = predictor.add_points_or_box(frame, obj, **kwargs)[2]
            continue
        for reverse in step:
            for frame, ids, masks in predictor.propagate(reverse=reverse):
                out[(i, reverse, frame)] = (ids, masks)
    return out, predictor.frames


def run_meta(meta, frames: torch.Tensor, script) -> dict:
    h, w = VIDEO_HW
    state = meta.init_state(
        video_height=h, video_width=w, num_frames=len(frames), offload_state_to_cpu=True
    )
    state["images"] = (frames.permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.5
    scale = torch.tensor([w, h], dtype=torch.float32)
    out = {}

    def prompt(frame, obj, kwargs):
        if kwargs == "mask":
            return meta.add_new_mask(state, frame, obj, torch.from_numpy(mask_prompt()))[3]
        points = labels = box = None
        if "points" in kwargs:
            points = torch.tensor(kwargs["points"]) / scale
            labels = torch.tensor(kwargs["labels"], dtype=torch.int32)
        if "box" in kwargs:
            box = torch.tensor(kwargs["box"]).reshape(2, 2) / scale
        return meta.add_new_points_or_box(state, frame, obj, points, labels, box=box)[3]

    for i, step in enumerate(script):
        if len(step) == 3:
            out[i] = prompt(*step)
            continue
        for reverse in step:
            for frame, ids, _, masks, _ in meta.propagate_in_video(
                state, None, None, reverse, tqdm_disable=True, propagate_preflight=True
            ):
                out[(i, reverse, frame)] = (list(ids), masks)
    return out


def compare(theirs: dict, ours: dict, min_present: int) -> float:
    """The largest difference of any frame's logits (keys and object ids must agree); checks the
    objects are found often (not a trivial -1024 everywhere)."""
    assert theirs.keys() == ours.keys()
    worst, present = 0.0, 0
    for key, value in theirs.items():
        a, b = value, ours[key]
        if not isinstance(value, torch.Tensor):
            assert value[0] == b[0], key
            a, b = value[1], b[1]
            present += int((a > 0).any(dim=(1, 2, 3)).sum())
        assert a.shape == b.shape and a.shape[-2:] == VIDEO_HW, key
        worst = max(worst, (a - b).abs().max().item())
    print(f"max |diff| {worst:.2e}, objects present {present} times")
    assert present >= min_present, f"objects found only {present} times: a trivial comparison"
    return worst


# (HQ decoder, memory selection): plain SAM 3, HQ-SAM 3, and plain SAM 3 with Meta's
# use_memory_selection (its detector-driven video model's setting)
MODES = {"sam3": (False, False), "hq-sam3": (True, False), "sam3-memory-selection": (False, True)}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
@pytest.mark.parametrize("mode", list(MODES))
def test_video_masks_match_meta_sam3_tracker(models, video_dir, mode, script, monkeypatch):
    meta, ours = models
    use_hq, selection = MODES[mode]
    cpu_only(monkeypatch)
    decoder = meta.sam_mask_decoder
    track_step = type(meta).track_step
    try:
        meta.use_memory_selection = selection
        if use_hq:
            meta.sam_mask_decoder = DecoderAdapter(ours.sam_mask_decoder)
        # Meta 0.1.4's _get_empty_mask_ptr (an object without an output on a prompted frame,
        # here objects 2 and 3 on frame 4) passes track_step two arguments it does not take
        # (gt_masks, frames_to_add_correction_pt: a TypeError); they are dropped, as meant
        meta.track_step = lambda *args, gt_masks=None, frames_to_add_correction_pt=None, **kw: (
            track_step(meta, *args, **kw)
        )
        with torch.inference_mode():
            mine, frames = run_ours(ours, video_dir, SCRIPTS[script], use_hq, selection)
            theirs = run_meta(meta, frames, SCRIPTS[script])
    finally:
        meta.use_memory_selection = False
        meta.sam_mask_decoder = decoder
        del meta.track_step
    worst = compare(theirs, mine, 20 if script == "three_objects" else 10)
    print(f"SAM 3 video ({mode}, {script}) vs Meta: max |diff| {worst:.2e}")
    assert worst <= ATOL
