"""Automatic mask generation ("segment everything") for every model family, with the HQ token.

A grid of single foreground points is decoded over the whole image and, with crop layers, again
over overlapping crops of it; masks are kept when the model's predicted IoU and their stability
score pass, deduplicated by box NMS within each crop and across crops (smaller crops win), cleaned
of small islands and holes, and returned as binary masks, COCO RLE or polygons. The algorithm and
its defaults are those of SAM's and SAM 2's automatic mask generators, and on the same weights the
masks, boxes and scores equal theirs (tests/inference/test_amg.py).

Memory stays bounded on large images: the IoU filter runs on the low-res logits, full-size logits
are made a chunk at a time (at most UPSAMPLE_PIXELS values), and a mask is run-length encoded as
soon as it passes, so no full-size mask outlives its chunk.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
import torch

from samhq_train.errors import UserError
from samhq_train.model.promptable import PromptableModel
from samhq_train.model.registry import family_of_model

from ..predictor import SamHQPredictor
from .crops import crop_boxes, layer_point_grids, near_crop_edge
from .masks import (
    box_nms,
    clean_low_res_logits,
    mask_to_polygons,
    masks_to_boxes,
    masks_to_rle,
    remove_small_regions,
    rle_area,
    rle_to_coco,
    rle_to_mask,
    stability_scores,
)

OUTPUT_MODES = ("binary_mask", "uncompressed_rle", "coco_rle", "polygons")
UPSAMPLE_PIXELS = 2**25  # full-size logits made at once (128 MiB in float32)


class AmgOptionError(UserError, ValueError):
    """A generator option out of range; the message names it."""


@dataclass
class MaskCandidates:
    """Masks that passed so far, as RLE in the image frame, with what each record reports."""

    rles: list[dict]
    boxes: torch.Tensor  # n x 4 int64 xyxy, inclusive ends
    iou: torch.Tensor  # n, the model's predicted IoU
    stability: torch.Tensor  # n
    points: torch.Tensor  # n x 2 float64, the point prompt (x, y) in image pixels
    crop_boxes: torch.Tensor  # n x 4 int64 xyxy, the crop the mask was found in

    def __len__(self) -> int:
        return len(self.rles)

    def select(self, index: torch.Tensor) -> MaskCandidates:
        """The candidates at index (bool mask or indices, in that order)."""
        index = index.cpu()
        if index.dtype == torch.bool:
            index = index.nonzero().flatten()
        picked = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "rles"}
        return MaskCandidates(
            rles=[self.rles[i] for i in index.tolist()], **{k: v[index] for k, v in picked.items()}
        )

    @classmethod
    def cat(cls, parts: list[MaskCandidates]) -> MaskCandidates:
        if not parts:
            return cls.empty()
        tensors = {
            f.name: torch.cat([getattr(p, f.name) for p in parts])
            for f in fields(cls)
            if f.name != "rles"
        }
        return cls(rles=[r for p in parts for r in p.rles], **tensors)

    @classmethod
    def empty(cls) -> MaskCandidates:
        return cls(
            rles=[],
            boxes=torch.zeros(0, 4, dtype=torch.long),
            iou=torch.zeros(0),
            stability=torch.zeros(0),
            points=torch.zeros(0, 2, dtype=torch.float64),
            crop_boxes=torch.zeros(0, 4, dtype=torch.long),
        )


def _xywh(box) -> list:
    x0, y0, x1, y1 = box
    return [x0, y0, x1 - x0, y1 - y0]


class AutomaticMaskGenerator:
    """Every mask of an image from a grid of point prompts.

    Options as in the official generators: points_per_side (or explicit point_grids, one per crop
    layer, in [0, 1]), points_per_batch (prompts decoded per call), pred_iou_thresh (None: the
    family's default), stability_score_thresh and _offset, box_nms_thresh (within a crop),
    crop_n_layers, crop_nms_thresh (across crops), crop_overlap_ratio,
    crop_n_points_downscale_factor, min_mask_region_area (islands and holes smaller than this are
    removed), output_mode (OUTPUT_MODES), multimask_output. hq_token_only and use_hq choose the
    decoder's output as in model.decode (defaults: SAM mask + HQ mask, what the official SAM-HQ
    generator decodes; use_hq=False is the plain SAM / SAM 2.1 / SAM 3 of the same weights; left
    out, SamHQPredictor's default: the HQ token, with a warning when the HQ parts are untrained).
    amp_dtype (e.g. torch.bfloat16) runs the encoder and every decode under autocast on the
    model's device; scores, stability and masks are computed from float32 logits. int8=True (on the
    CPU, implies bf16) runs the encoder's linear layers as int8 GEMMs (see SamHQPredictor).
    """

    def __init__(
        self,
        model: PromptableModel,
        *,
        points_per_side: int | None = 32,
        point_grids: list[np.ndarray] | None = None,
        points_per_batch: int = 64,
        pred_iou_thresh: float | None = None,
        stability_score_thresh: float = 0.95,
        stability_score_offset: float = 1.0,
        box_nms_thresh: float = 0.7,
        crop_n_layers: int = 0,
        crop_nms_thresh: float = 0.7,
        crop_overlap_ratio: float = 512 / 1500,
        crop_n_points_downscale_factor: int = 1,
        min_mask_region_area: int = 0,
        output_mode: str = "binary_mask",
        multimask_output: bool = True,
        hq_token_only: bool = False,
        use_hq: bool | None = None,
        amp_dtype: torch.dtype | None = None,
        int8: bool = False,
    ) -> None:
        options = dict(locals())  # the keyword arguments as given (nothing else is bound yet)
        del options["self"], options["model"]
        check_options(options)
        if point_grids is None:
            point_grids = layer_point_grids(
                points_per_side, crop_n_layers, crop_n_points_downscale_factor
            )
        self.point_grids = [np.asarray(g, dtype=np.float64) for g in point_grids]
        self.predictor = SamHQPredictor(model, amp_dtype=amp_dtype, int8=int8)
        if use_hq is None:  # the default: the HQ token, with a warning if it is untrained
            self.predictor.warn_untrained_hq(stacklevel=3)
            use_hq = True
        self.amp_dtype = self.predictor.amp_dtype  # int8 implies bf16
        self.model = self.predictor.model
        amg_defaults = family_of_model(self.model).amg
        if pred_iou_thresh is None:
            pred_iou_thresh = amg_defaults.pred_iou_thresh
        self.points_per_batch = points_per_batch
        self.pred_iou_thresh = pred_iou_thresh
        self.stability_score_thresh = stability_score_thresh
        self.stability_score_offset = stability_score_offset
        self.box_nms_thresh = box_nms_thresh
        self.crop_n_layers = crop_n_layers
        self.crop_nms_thresh = crop_nms_thresh
        self.crop_overlap_ratio = crop_overlap_ratio
        self.min_mask_region_area = min_mask_region_area
        self._small_regions_at = amg_defaults.small_regions_at
        self.output_mode = output_mode
        self.decode_options = {
            "multimask_output": multimask_output,
            "hq_token_only": hq_token_only,
            "use_hq": use_hq,
        }

    def generate(self, image: np.ndarray) -> list[dict]:
        """Masks of an H x W x 3 uint8 RGB image: one record per mask with segmentation (in the
        output mode), area, bbox (x, y, w, h), predicted_iou, point_coords, stability_score and
        crop_box (x, y, w, h), best first within each crop as the official generators order them."""
        return self.records(self.generate_candidates(image))

    @torch.no_grad()
    def generate_candidates(self, image: np.ndarray) -> MaskCandidates:
        """The generated masks as RLE with their boxes and scores (before output formatting)."""
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image must be H x W x 3 uint8, got {image.shape} {image.dtype}")
        image_hw = image.shape[:2]
        boxes, layers = crop_boxes(image_hw, self.crop_n_layers, self.crop_overlap_ratio)
        found = MaskCandidates.cat(
            [self._crop(image, box, layer) for box, layer in zip(boxes, layers)]
        )
        if len(boxes) > 1:  # the same object found in several crops: keep the smallest crop's
            x0, y0, x1, y1 = found.crop_boxes.unbind(dim=1)
            found = found.select(
                box_nms(found.boxes, 1 / ((x1 - x0) * (y1 - y0)), self.crop_nms_thresh)
            )
        if self.min_mask_region_area > 0 and self._small_regions_at == "full_size":
            found = self._remove_small_regions(found)
        return found

    def records(self, found: MaskCandidates) -> list[dict]:
        out = []
        for i, rle in enumerate(found.rles):
            out.append(
                {
                    "segmentation": self._segmentation(rle),
                    "area": rle_area(rle),
                    "bbox": _xywh(found.boxes[i].tolist()),
                    "predicted_iou": found.iou[i].item(),
                    "point_coords": [found.points[i].tolist()],
                    "stability_score": found.stability[i].item(),
                    "crop_box": _xywh(found.crop_boxes[i].tolist()),
                }
            )
        return out

    def _segmentation(self, rle: dict):
        if self.output_mode == "uncompressed_rle":
            return rle
        if self.output_mode == "coco_rle":
            return rle_to_coco(rle)
        mask = rle_to_mask(rle)
        return mask if self.output_mode == "binary_mask" else mask_to_polygons(mask)

    def _crop(self, image: np.ndarray, crop_box: list[int], layer: int) -> MaskCandidates:
        x0, y0, x1, y1 = crop_box
        self.predictor.set_image(np.ascontiguousarray(image[y0:y1, x0:x1]))
        crop_hw = (y1 - y0, x1 - x0)
        points = self.point_grids[layer] * np.array(crop_hw[::-1])[None]
        found = MaskCandidates.cat(
            [
                self._decode_points(
                    points[i : i + self.points_per_batch], crop_box, image.shape[:2]
                )
                for i in range(0, len(points), self.points_per_batch)
            ]
        )
        self.predictor.reset_image()
        found = found.select(box_nms(found.boxes, found.iou, self.box_nms_thresh))
        offset = torch.tensor([x0, y0])
        found.boxes = found.boxes + offset.repeat(2)
        found.points = found.points + offset
        found.crop_boxes = torch.tensor([crop_box], dtype=torch.long).expand(len(found), 4)
        return found

    def _decode_points(
        self, points: np.ndarray, crop_box: list[int], image_hw: tuple[int, int]
    ) -> MaskCandidates:
        """Masks from one batch of grid points (crop pixels) that pass the IoU, stability and
        crop-edge filters; boxes still in crop pixels, RLE in the image frame."""
        model, device = self.model, self.predictor.device
        crop_hw = self.predictor.original_size
        coords = self._to_model_input(points, crop_hw).to(device)
        labels = torch.ones(len(points), dtype=torch.int, device=device)
        with self._autocast():  # the features were made under it (set_image): decode alike
            low_res, iou = model.decode(
                self.predictor.features,
                points=(coords[None, :, None], labels[None, :, None]),
                **self.decode_options,
            )
        low_res, iou = low_res[0].float(), iou[0]  # P x M x h x w, P x M
        if iou.shape[1] != low_res.shape[1]:  # SAM 2's HQ mask alone comes with 3 SAM scores
            iou = iou.amax(dim=1, keepdim=True)
        per_point = low_res.shape[1]
        low_res, iou = low_res.flatten(0, 1), iou.flatten(0, 1).float().cpu()
        points = torch.from_numpy(np.repeat(points, per_point, axis=0))
        keep = torch.ones(len(iou), dtype=torch.bool)
        if self.pred_iou_thresh > 0:
            keep = iou > self.pred_iou_thresh
        low_res, iou, points = low_res[keep.to(low_res.device)], iou[keep], points[keep]
        if self.min_mask_region_area > 0 and self._small_regions_at == "low_res":
            low_res = clean_low_res_logits(low_res, self.min_mask_region_area, model.mask_threshold)
        s = model.image_size
        chunk = max(1, UPSAMPLE_PIXELS // (s * s + crop_hw[0] * crop_hw[1]))
        parts = []
        for start in range(0, len(iou), chunk):
            part = slice(start, start + chunk)
            logits = model.postprocess_masks(low_res[part], self.predictor.input_size, crop_hw)
            parts.append(self._filter_chunk(logits, iou[part], points[part], crop_box, image_hw))
        return MaskCandidates.cat(parts)

    def _filter_chunk(self, logits, iou, points, crop_box, image_hw) -> MaskCandidates:
        stability = stability_scores(
            logits, self.model.mask_threshold, self.stability_score_offset
        ).cpu()
        keep = torch.ones(len(iou), dtype=torch.bool)
        if self.stability_score_thresh > 0:
            keep = stability >= self.stability_score_thresh
        masks = logits[keep.to(logits.device)] > self.model.mask_threshold
        boxes = masks_to_boxes(masks).cpu()
        x0, y0 = crop_box[:2]
        inside = ~near_crop_edge(boxes + torch.tensor([x0, y0, x0, y0]), crop_box, image_hw)
        masks = masks[inside.to(masks.device)]
        return MaskCandidates(
            rles=masks_to_rle(masks, image_hw, (x0, y0)),
            boxes=boxes[inside],
            iou=iou[keep][inside],
            stability=stability[keep][inside],
            points=points[keep][inside],
            crop_boxes=torch.zeros(int(inside.sum()), 4, dtype=torch.long),
        )

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.predictor.device.type, dtype=self.amp_dtype)

    def _to_model_input(self, points: np.ndarray, crop_hw: tuple[int, int]) -> torch.Tensor:
        """Grid points in crop pixels -> model input pixels, with each official predictor's
        arithmetic (SAM: float64 scale factors; SAM 2: float32 x / w * S), so that the same
        weights give bit-identical prompts."""
        processing = self.model.processing
        if processing.eval_transform == "resize":  # SAM 2: Meta's float32 x / w * S
            h, w = crop_hw
            scale = torch.tensor([w, h], dtype=torch.float32)
            return torch.as_tensor(points, dtype=torch.float32) / scale * processing.image_size
        return torch.from_numpy(processing.scale_coords(points, crop_hw))

    def _remove_small_regions(self, found: MaskCandidates) -> MaskCandidates:
        """Fill small holes, drop small islands; masks that changed get new RLE and boxes and
        lose to unchanged ones in a new NMS at the larger of the two NMS thresholds."""
        rles, boxes, unchanged = list(found.rles), found.boxes.clone(), []
        for i, rle in enumerate(found.rles):
            mask, filled = remove_small_regions(
                rle_to_mask(rle), self.min_mask_region_area, "holes"
            )
            mask, dropped = remove_small_regions(mask, self.min_mask_region_area, "islands")
            unchanged.append(not (filled or dropped))
            if filled or dropped:
                mask = torch.from_numpy(mask)[None]
                rles[i] = masks_to_rle(mask)[0]
                boxes[i] = masks_to_boxes(mask)[0]
        scores = torch.tensor(unchanged, dtype=torch.float32)
        keep = box_nms(boxes, scores, max(self.box_nms_thresh, self.crop_nms_thresh))
        found = MaskCandidates(
            rles=rles,
            boxes=boxes,
            **{k: getattr(found, k) for k in ("iou", "stability", "points", "crop_boxes")},
        )
        return found.select(keep)


def _in_unit(v) -> bool:
    return 0 <= v <= 1


def _count(most: int, low: int = 1) -> Callable[[float], bool]:
    return lambda v: low <= v <= most


# each numeric option's valid values: (test, what they must be); NaN fails every test. The counts'
# upper bounds are far above any use (the official generators run 32 points a side, 64 prompts a
# batch, at most 2 crop layers) and stop a run that could not finish: 256 points a side are
# 65,536 prompts per crop, a batch of 1024 holds 3 full-image masks per prompt (GBs), crop layer
# 4 alone is 256 crops of one encoder pass each
OPTION_RANGES = {
    "points_per_side": (_count(256), "in [1, 256] (256 x 256 prompts per crop)"),
    "points_per_batch": (_count(1024), "in [1, 1024] (prompts decoded together)"),
    "pred_iou_thresh": (_in_unit, "in [0, 1] (a predicted IoU)"),
    "stability_score_thresh": (_in_unit, "in [0, 1] (an IoU between the mask at two cutoffs)"),
    "stability_score_offset": (lambda v: 0 <= v < float("inf"), "0 or more (a mask-logit offset)"),
    "box_nms_thresh": (_in_unit, "in [0, 1] (an IoU)"),
    "crop_n_layers": (_count(4, low=0), "in [0, 4] (layer i: 4^i crops)"),
    "crop_nms_thresh": (_in_unit, "in [0, 1] (an IoU)"),
    "crop_overlap_ratio": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "crop_n_points_downscale_factor": (_count(256), "in [1, 256] (a divisor of points a side)"),
    "min_mask_region_area": (lambda v: v >= 0, "0 or more (pixels; 0: off)"),
}


def check_options(options: dict, named=lambda name: name) -> None:
    """AmgOptionError for the first of `options` (the generator's keyword arguments) out of
    range, or a combination that cannot work; `named` turns an option's name into the one the
    user wrote (a command's flag)."""
    for name, (valid, rule) in OPTION_RANGES.items():
        value = options.get(name)
        if value is not None and not valid(value):
            raise AmgOptionError(f"{named(name)} must be {rule}, got {value}")
    side, grids = options.get("points_per_side"), options.get("point_grids")
    layers = options.get("crop_n_layers", 0)
    downscale = options.get("crop_n_points_downscale_factor", 1)
    if "point_grids" in options and (side is None) == (grids is None):
        raise AmgOptionError("give exactly one of points_per_side and point_grids")
    if grids is not None and len(grids) < layers + 1:
        raise AmgOptionError(
            f"point_grids holds {len(grids)} grids; {named('crop_n_layers')}={layers} needs "
            f"{layers + 1} (one per crop layer)"
        )
    if side is not None and int(side / downscale**layers) < 1:
        raise AmgOptionError(
            f"{named('points_per_side')}={side} with {named('crop_n_points_downscale_factor')}="
            f"{downscale} leaves no point in crop layer {layers}: use fewer layers or a smaller "
            "factor"
        )
    mode = options.get("output_mode", OUTPUT_MODES[0])
    if mode not in OUTPUT_MODES:
        raise AmgOptionError(f"{named('output_mode')} must be one of {OUTPUT_MODES}, got {mode!r}")
