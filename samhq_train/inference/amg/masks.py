"""Mask arithmetic of automatic mask generation: run-length encoding (COCO's uncompressed RLE,
column-major, counts starting with a background run), boxes, stability scores, box NMS, small-region
and hole removal, polygons.

Masks leave the generator as RLE as soon as they are filtered, so a large image never holds more
than one chunk of full-size masks. The RLE is built straight from a crop's masks into the frame of
the whole image, without padding the crop to full size.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from ...coco_masks import compressed_rle

# torchvision.ops.batched_nms (what the official generators call) leaves its one-call path for
# more boxes than this on the CPU (4 numbers per box), and then orders what it keeps by an
# unstable score sort: reproduced here so that ties come out in the same order
_NMS_ONE_CALL_NUMEL = {"cpu": 4000}
_NMS_ONE_CALL_NUMEL_OTHER = 20000


def masks_to_rle(
    masks: torch.Tensor, frame_hw: tuple[int, int] | None = None, offset: tuple[int, int] = (0, 0)
) -> list[dict]:
    """n x h x w bool masks placed at offset (x0, y0) in a frame of frame_hw (default: their own
    size) -> n uncompressed RLEs {"size": [H, W], "counts": [...]} of the frame."""
    n, h, w = masks.shape
    if n == 0:
        return []
    frame_h, frame_w = frame_hw if frame_hw is not None else (h, w)
    x0, y0 = offset
    columns = masks.transpose(1, 2)  # n x w x h: column-major, as COCO counts
    border = columns.new_zeros(n, w, 1)
    padded = torch.cat([border, columns, border], dim=2)  # every run starts and ends in its column
    index, column, row = (padded[..., 1:] != padded[..., :-1]).nonzero(as_tuple=True)
    position = (column + x0) * frame_h + (row + y0)  # alternating run starts and ends, ascending
    # a run that ends at the bottom of a column and one that starts at the top of the next are
    # one run in the frame when the crop spans its whole height: drop the end and the start
    joined = (position[1:] == position[:-1]) & (index[1:] == index[:-1])
    drop = torch.zeros_like(position, dtype=torch.bool)
    drop[1:] |= joined
    drop[:-1] |= joined
    position, index = position[~drop], index[~drop]
    per_mask = torch.bincount(index, minlength=n).tolist()
    total = frame_h * frame_w
    out = []
    for transitions in np.split(position.cpu().numpy(), np.cumsum(per_mask)[:-1]):
        bounds = np.concatenate([[0], transitions, [total]])
        counts = np.diff(bounds)
        if len(transitions) and transitions[-1] == total:  # foreground up to the last pixel
            counts = counts[:-1]
        out.append({"size": [frame_h, frame_w], "counts": counts.tolist()})
    return out


def rle_to_mask(rle: dict) -> np.ndarray:
    """Uncompressed RLE -> H x W bool."""
    h, w = rle["size"]
    counts = np.asarray(rle["counts"], dtype=np.int64)
    values = np.arange(len(counts)) % 2 == 1
    return np.repeat(values, counts).reshape(w, h).T


def rle_area(rle: dict) -> int:
    return int(sum(rle["counts"][1::2]))


def rle_to_coco(rle: dict) -> dict:
    """Uncompressed RLE -> COCO's compressed RLE with a str "counts" (json-ready)."""
    return compressed_rle(rle)


def mask_to_polygons(mask: np.ndarray) -> list[list[float]]:
    """Outer outlines of a mask's regions as COCO polygons [x0, y0, x1, y1, ...] through pixel
    centres: cv2.fillPoly of them gives the mask with its holes filled (COCO unions a mask's
    polygons, so holes are not represented). A region of one or two pixels repeats its last point
    to make the three points a polygon needs."""
    contours, _ = cv2.findContours(
        mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    polygons = []
    for contour in contours:
        points = contour.reshape(-1, 2)
        points = np.concatenate([points, np.repeat(points[-1:], max(0, 3 - len(points)), axis=0)])
        polygons.append(points.reshape(-1).astype(float).tolist())
    return polygons


def masks_to_boxes(masks: torch.Tensor) -> torch.Tensor:
    """n x h x w bool -> n x 4 int64 (x0, y0, x1, y1) with inclusive ends; 0 0 0 0 if empty."""
    n, h, w = masks.shape
    rows, cols = masks.any(dim=2), masks.any(dim=1)
    ys = torch.arange(h, device=masks.device)
    xs = torch.arange(w, device=masks.device)
    top = torch.where(rows, ys, h).amin(dim=1)
    bottom = torch.where(rows, ys, -1).amax(dim=1)
    left = torch.where(cols, xs, w).amin(dim=1)
    right = torch.where(cols, xs, -1).amax(dim=1)
    boxes = torch.stack([left, top, right, bottom], dim=1)
    return torch.where(rows.any(dim=1, keepdim=True), boxes, 0)


def stability_scores(logits: torch.Tensor, threshold: float, offset: float) -> torch.Tensor:
    """IoU of the masks cut at threshold + offset and threshold - offset (the first lies inside
    the second): n x h x w logits -> n float32."""
    inner = (logits > threshold + offset).sum(dim=(1, 2))
    outer = (logits > threshold - offset).sum(dim=(1, 2))
    return inner.to(torch.float32) / outer.to(torch.float32)


def box_nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Indices of the boxes kept by greedy NMS (a box goes when its IoU with a kept, higher-scored
    box exceeds iou_threshold), in the order torchvision.ops.batched_nms gives with one category:
    by descending score, ties in index order (stable)."""
    n = boxes.shape[0]
    if n == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    boxes = boxes.float()
    order = scores.sort(descending=True, stable=True).indices
    x0, y0, x1, y1 = boxes[order].unbind(dim=1)
    areas = (x1 - x0) * (y1 - y0)
    width = (torch.minimum(x1[:, None], x1[None]) - torch.maximum(x0[:, None], x0[None])).clamp(
        min=0
    )
    height = (torch.minimum(y1[:, None], y1[None]) - torch.maximum(y0[:, None], y0[None])).clamp(
        min=0
    )
    inter = width * height
    # float32 IoU as torchvision computes it, compared with the threshold in double as it does
    overlaps = (inter / (areas[:, None] + areas[None] - inter)).double() > iou_threshold
    overlaps = torch.triu(overlaps, diagonal=1).cpu().numpy()
    suppressed = np.zeros(n, dtype=bool)
    for i in range(n):
        if not suppressed[i]:
            suppressed |= overlaps[i]
    kept = order[torch.from_numpy(~suppressed).to(order.device)]
    limit = _NMS_ONE_CALL_NUMEL.get(boxes.device.type, _NMS_ONE_CALL_NUMEL_OTHER)
    if boxes.numel() > limit:
        kept = kept.sort().values
        kept = kept[scores[kept].sort(descending=True).indices]
    return kept


def remove_small_regions(mask: np.ndarray, min_area: int, mode: str) -> tuple[np.ndarray, bool]:
    """Fill holes (mode "holes": background regions under min_area pixels, 8-connected) or drop
    islands (mode "islands": foreground regions under min_area, keeping the largest if all are
    small). Returns the mask and whether it changed."""
    if mode not in ("holes", "islands"):
        raise ValueError(f"mode must be 'holes' or 'islands', got {mode!r}")
    holes = mode == "holes"
    region_of = (mask ^ holes).astype(np.uint8)
    n_labels, labels, stats, _ = cv2.connectedComponentsWithStats(region_of, connectivity=8)
    sizes = stats[1:, cv2.CC_STAT_AREA]
    small = np.flatnonzero(sizes < min_area) + 1
    if small.size == 0:
        return mask, False
    if holes:
        return np.isin(labels, np.concatenate([[0], small])), True
    large = np.setdiff1d(np.arange(1, n_labels), small)
    if large.size == 0:
        large = np.array([int(np.argmax(sizes)) + 1])
    return np.isin(labels, large), True


def clean_low_res_logits(logits: torch.Tensor, max_area: int, threshold: float) -> torch.Tensor:
    """SAM 2's predictor clean-up of low-res mask logits (n x h x w): background regions
    (8-connected, logits <= threshold) of at most max_area pixels become foreground (threshold
    + 10), foreground regions of at most max_area pixels background (threshold - 10). Both are
    found on the logits as given."""
    out = logits.clone()
    for i, mask_logits in enumerate(logits.float().cpu().numpy()):
        foreground = mask_logits > threshold
        for region_of, value in ((~foreground, threshold + 10.0), (foreground, threshold - 10.0)):
            _, labels, stats, _ = cv2.connectedComponentsWithStats(
                region_of.astype(np.uint8), connectivity=8
            )
            areas = stats[:, cv2.CC_STAT_AREA]
            small = (labels > 0) & (areas[labels] <= max_area)
            out[i][torch.from_numpy(small).to(out.device)] = value
    return out
