"""Meta's Sam3VideoBase (sam3 0.1.4) with dummy detector / tracker, for calling its planning
methods on the inputs our planning functions get; and structured random masks for both."""

import contextlib
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

video_base = pytest.importorskip("sam3.model.sam3_video_base")
sam3_image = pytest.importorskip("sam3.model.sam3_image")


def meta_video_base(settings) -> "video_base.Sam3VideoBase":
    """Sam3VideoBase with `settings` and modules that hold nothing (rank 0, one process)."""
    model = video_base.Sam3VideoBase(
        detector=nn.Module(), tracker=nn.Module(), **settings.meta_kwargs()
    )
    model._device = torch.device("cpu")  # no parameters to read it from
    assert model.rank == 0 and model.world_size == 1
    return model


def box_logits(boxes, size: int, rng: np.random.Generator) -> torch.Tensor:
    """K x size x size float32 logits: positive (1..3) inside each (y0, x0, y1, x1) box, negative
    (-3..-1) outside, a few single-pixel holes / sprinkles; a None box gives an empty mask."""
    out = -(1 + 2 * rng.random((len(boxes), size, size)))
    for k, box in enumerate(boxes):
        if box is None:
            continue
        y0, x0, y1, x1 = box
        out[k, y0:y1, x0:x1] = 1 + 2 * rng.random((y1 - y0, x1 - x0))
        if rng.random() < 0.5:  # a one-pixel hole inside, a sprinkle outside
            out[k, (y0 + y1) // 2, (x0 + x1) // 2] = -0.5
            out[k, rng.integers(size), rng.integers(size)] = 0.5
    return torch.from_numpy(out.astype(np.float32))


def random_box(size: int, rng: np.random.Generator, lo: int = 3, hi: int | None = None):
    """A (y0, x0, y1, x1) box of side lo..hi inside a size x size mask."""
    hi = hi or size // 2
    h, w = rng.integers(lo, hi + 1, size=2)
    y0, x0 = rng.integers(0, size - h + 1), rng.integers(0, size - w + 1)
    return (int(y0), int(x0), int(y0 + h), int(x0 + w))


def jitter(box, size: int, rng: np.random.Generator, step: int = 1):
    """The box shifted by up to `step` pixels, kept inside the mask."""
    y0, x0, y1, x1 = box
    dy, dx = rng.integers(-step, step + 1, size=2)
    dy = int(np.clip(dy, -y0, size - y1))
    dx = int(np.clip(dx, -x0, size - x1))
    return (y0 + dy, x0 + dx, y1 + dy, x1 + dx)


def meta_joint_logits(logits: torch.Tensor, presence: torch.Tensor) -> dict:
    """Meta's Sam3Image._update_scores_and_boxes on one decoder layer whose dot-product scores
    are `logits` (Q,) and presence logit `presence` (0-dim): its pred_logits (1, Q, 1) joint
    with presence, and boxes from random reference boxes."""
    q = logits.shape[0]
    hs = torch.zeros(1, 1, q, 4)
    reference = torch.rand(1, 1, q, 4, generator=torch.Generator().manual_seed(q)) * 0.5 + 0.25
    fake = SimpleNamespace(
        transformer=SimpleNamespace(
            decoder=SimpleNamespace(
                dac=False, bbox_embed=lambda h: torch.zeros(*h.shape[:-1], 4),
                instance_bbox_embed=None,
            )
        ),
        training=False,
        use_dot_prod_scoring=True,
        dot_prod_scoring=lambda h, p, m: logits.reshape(1, 1, q, 1).clone(),
        instance_dot_prod_scoring=None,
        supervise_joint_box_scores=True,
        detach_presence_in_joint_score=False,
    )
    out = {}
    sam3_image.Sam3Image._update_scores_and_boxes(
        fake, out, hs, reference, None, None, dec_presence_out=presence.reshape(1, 1, 1)
    )
    return out


class FakeDetector(nn.Module):
    """Answers Meta's run_backbone_and_detection with given raw outputs, through Meta's own
    multi-GPU buffer code (one process) and so its NMS; `outputs` are the
    _update_scores_and_boxes dict plus pred_masks (1, Q, h, w)."""

    def __init__(self):
        super().__init__()
        self.backbone = SimpleNamespace(forward_text=lambda text, device: {})
        self.outputs = None

    def forward_video_grounding_multigpu(self, **kwargs):
        chunk = SimpleNamespace(
            rank=0, world_size=1, gather_backbone_out=False,
            forward_grounding=lambda **_: {k: v.clone() for k, v in self.outputs.items()},
        )
        cls = sam3_image.Sam3ImageOnVideoMultiGPU
        chunk._gather_tensor = lambda x: cls._gather_tensor(chunk, x)
        chunk._build_multigpu_buffer_next_chunk = (
            lambda **kw: cls._build_multigpu_buffer_next_chunk(chunk, **kw)
        )
        kwargs.pop("return_tracker_backbone_feats")
        kwargs.pop("max_frame_num_to_track")
        kwargs.pop("propagate_in_video_start_frame_idx")
        kwargs["multigpu_buffer"].clear()
        out, _ = cls.forward_video_grounding_multigpu(chunk, **kwargs)
        feats = torch.zeros(1, 1, 2, 2)
        for key in ("tracker_backbone_fpn_0", "tracker_backbone_fpn_1", "tracker_backbone_fpn_2"):
            out[key] = feats
        out["tracker_backbone_pos_enc"] = [feats]
        return out, None


def meta_detections(settings, raw: dict, mask_logits, allow_new_detections=True) -> dict:
    """Meta's det_out (bbox, mask, scores) from run_backbone_and_detection on frame 0."""
    model = meta_video_base(settings)
    model.detector = FakeDetector()
    model.detector.outputs = {**raw, "pred_masks": mask_logits[None]}
    model.tracker.sam_mask_decoder = SimpleNamespace(conv_s0=nn.Identity(), conv_s1=nn.Identity())
    batch = SimpleNamespace(
        find_text_batch=["a thing"], img_batch=[torch.zeros(3, 2, 2)], find_inputs=[None]
    )
    return model.run_backbone_and_detection(
        frame_idx=0, num_frames=1, input_batch=batch, geometric_prompt=None,
        feature_cache={}, reverse=False, allow_new_detections=allow_new_detections,
    )


class RecordingTracker(nn.Module):
    """The tracker calls Meta's planning makes: re-prompting masks are recorded."""

    input_mask_size = 16

    def __init__(self):
        super().__init__()
        self.new_masks = []  # (frame_idx, obj_id, bool mask input_mask_size^2)

    def add_new_mask(self, inference_state, frame_idx, obj_id, mask, add_mask_to_memory=False):
        self.new_masks.append((frame_idx, int(obj_id), mask.clone()))

    def propagate_in_video_preflight(self, inference_state, run_mem_encoder=True):
        pass

    def _apply_object_wise_non_overlapping_constraints(self, *args, **kwargs):
        predictor = pytest.importorskip("sam3.model.sam3_tracking_predictor")
        cls = predictor.Sam3TrackerPredictor
        return cls._apply_object_wise_non_overlapping_constraints(cls.__new__(cls), *args, **kwargs)


@contextlib.contextmanager
def empty_batch_hole_fill():
    """Meta's CPU connected components fail on an empty batch (torch.stack of nothing; the GPU
    path returns it): while inside, its hole fill returns an empty batch unchanged."""
    fill = video_base.fill_holes_in_mask_scores

    def fill_or_pass(mask, *args, **kwargs):
        return mask if mask.shape[0] == 0 else fill(mask, *args, **kwargs)

    video_base.fill_holes_in_mask_scores = fill_or_pass
    try:
        yield
    finally:
        video_base.fill_holes_in_mask_scores = fill


class MetaFrameRunner:
    """Meta's _det_track_one_frame on given detections and tracker outputs: detection and
    tracker propagation replaced by the inputs, memory encoding and object add / remove by
    recorders; planning, metadata and build_outputs are Meta's own."""

    def __init__(self, settings, video_hw=(40, 48)):
        inference = pytest.importorskip("sam3.model.sam3_video_inference")
        self.model = inference.Sam3VideoInference(
            detector=nn.Module(), tracker=RecordingTracker(), **settings.meta_kwargs()
        )
        self.model._device = torch.device("cpu")
        self.metadata = {}
        self.video_hw = video_hw
        self.captured = {}
        plan_phase = self.model.run_tracker_update_planning_phase

        def planning(**kwargs):
            self.captured["plan"], new = plan_phase(**kwargs)
            return self.captured["plan"], new

        self.model.run_tracker_update_planning_phase = planning
        self.model._tracker_update_memories = (
            lambda states, frame_idx, tracker_metadata, low_res_masks:
            self.captured.__setitem__("encoded", low_res_masks.clone())
        )
        self.model.run_tracker_update_execution_phase = lambda **kw: kw["tracker_states_local"]

    def step(self, frame_idx, num_frames, reverse, det_out, trk_masks, trk_scores,
             is_image_only=False):
        """(obj_id_to_mask, obj_id_to_score, metadata, frame_stats, plan, encoded masks or
        None); the masks given are not changed."""
        self.captured = {"encoded": None}
        self.model.run_backbone_and_detection = lambda **kw: det_out
        self.model.run_tracker_propagation = lambda **kw: (trk_masks.clone(), trk_scores.clone())
        prev_ids = self.metadata.get("obj_ids_all_gpu", [])
        states = [{"obj_ids": list(prev_ids)}] if len(prev_ids) else []
        with empty_batch_hole_fill():
            masks, scores, _, metadata, stats, _ = self.model._det_track_one_frame(
                frame_idx=frame_idx, num_frames=num_frames, reverse=reverse, input_batch=None,
                geometric_prompt=None, tracker_states_local=states,
                tracker_metadata_prev=self.metadata, feature_cache={},
                orig_vid_height=self.video_hw[0], orig_vid_width=self.video_hw[1],
                is_image_only=is_image_only,
            )
        self.metadata = metadata
        return masks, scores, metadata, stats, self.captured["plan"], self.captured["encoded"]
