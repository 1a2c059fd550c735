"""What the tracking step reads and writes: a frame's features, its output for B objects, the
memory of stored outputs and point prompts (model/sam2/tracking.py computes them)."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

NO_OBJ_SCORE = -1024.0  # the logits of a mask where the object is absent
MASK_OUT_SCALE, MASK_OUT_BIAS = 20.0, -10.0  # a binary mask input as logits (sigmoid(-10) ~ 0)


@dataclass(frozen=True)
class FrameFeatures:
    """One frame's image features, B objects deep (expanded views of one frame's)."""

    embedding: torch.Tensor  # B x C x h x w, the stride-16 map (no no_mem_embed)
    pos: torch.Tensor  # B x C x h x w, its sine position encoding
    high_res: tuple[torch.Tensor, torch.Tensor]  # B x C/8 x 4h x 4w, B x C/4 x 2h x 2w

    def expand(self, batch: int) -> FrameFeatures:
        def grow(t: torch.Tensor) -> torch.Tensor:
            return t.expand(batch, -1, -1, -1)

        return FrameFeatures(grow(self.embedding), grow(self.pos), tuple(map(grow, self.high_res)))


@dataclass
class TrackOutput:
    """What a tracked frame keeps for B objects (the official per-frame output dict)."""

    pred_masks: torch.Tensor  # B x 1 x S/4 x S/4 low-res logits (the best mask)
    obj_ptr: torch.Tensor  # B x C
    object_score_logits: torch.Tensor  # B x 1
    high_res_masks: torch.Tensor | None = None  # B x 1 x S x S (not kept after the step)
    memory: torch.Tensor | None = None  # B x C_mem x h x w
    memory_pos: torch.Tensor | None = None  # B x C_mem x h x w
    iou_score: torch.Tensor | None = None  # B, the highest predicted IoU (1 for a mask as output)
    memory_score: torch.Tensor | None = None  # the frame's quality for SAM 3's memory selection
    high_res_multimasks: torch.Tensor | None = None  # B x M x S x S, all masks (training loss)
    ious: torch.Tensor | None = None  # B x M, their predicted IoUs

    def select(self, index: slice) -> TrackOutput:
        """These objects' rows (views)."""

        def rows(t):
            return None if t is None else t[index]

        return TrackOutput(
            self.pred_masks[index], self.obj_ptr[index], self.object_score_logits[index],
            rows(self.high_res_masks), rows(self.memory), rows(self.memory_pos),
            rows(self.iou_score),
        )


@dataclass
class Memory:
    """The outputs B objects have stored: conditioning frames (prompted) and the others."""

    cond: dict[int, TrackOutput] = field(default_factory=dict)
    non_cond: dict[int, TrackOutput] = field(default_factory=dict)


@dataclass(frozen=True)
class Points:
    """Point prompts of B objects: coords B x P x 2 in model-input pixels, labels B x P (1
    foreground, 0 background, 2 / 3 box corners)."""

    coords: torch.Tensor
    labels: torch.Tensor
