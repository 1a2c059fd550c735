"""Synthetic SA-V-layout folders, <root>/<video>/<object>/<frame>.png, one binary mask per object,
for the SA-V J&F tests and tests/fixtures/make_sav_eval_fixture.py (which runs SAM 2's official
sav_benchmark on them): annotations on every 4th frame (SA-V's 6 of 24 fps) while the prediction
holds every frame; overlapping objects (a hand on a body); an object that leaves the GT; one that
shows in the prediction before the GT; one annotated on fewer frames than the others; an
object folder only in the prediction; GT masks 0 / 1 (mode P) and predictions 0 / 255 (mode L)
or mode 1; shifted, grown and noisy predictions and an empty predicted mask.

overlapping=False gives masks that never overlap, every object on the same frames: the set
write_davis_merge turns into the DAVIS layout (object folder k -> id k + 1) without a change."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from tests.evaluation.video_data import ellipse, ellipse_grow, ring, write_indexed

STEP = 4  # annotated every 4th frame
VIDEOS = {  # name -> (height, width, frames at 24 fps, the prediction's file mode)
    "sav_000001": (72, 128, 25, "L"),
    "sav_000002": (120, 64, 21, "1"),
    "sav_000003": (270, 480, 13, "P"),
}


def gt_masks(shape, t: int, n: int, seed: int, overlapping: bool) -> dict[str, np.ndarray]:
    """The GT of frame t: object folder -> mask (may be empty)."""
    h, w = shape
    rng = np.random.default_rng(seed)
    start = rng.uniform(0.3, 0.7, 2) * (h, w)
    speed = rng.uniform(-0.01, 0.01, 2) * (h, w)
    cy, cx = start + t * speed
    body = ellipse(shape, cy, cx, h * 0.2, w * 0.12)
    if overlapping:
        hand = ellipse(shape, cy - h * 0.1, cx + w * 0.05, h * 0.05, w * 0.04)  # inside the body
    else:
        hand = ellipse(shape, h * 0.85, w * 0.15 + t, h * 0.06, w * 0.05) & ~body
    masks = {"000": body, "001": hand}
    leaving = ring(shape, h * 0.25, w * 0.75, min(h, w) * 0.12)
    masks["002"] = leaving & ~body if t < n // 2 else np.zeros(shape, bool)
    late = ellipse(shape, h * 0.8, w * 0.7, h * 0.08, w * 0.1)
    masks["003"] = late & ~body & ~hand & ~leaving if t >= n // 2 - STEP else np.zeros(shape, bool)
    return masks


def predicted_masks(
    gt: dict[str, np.ndarray], t: int, n: int, rng, overlapping: bool
) -> dict[str, np.ndarray]:
    """A plausible prediction of frame t (every frame, not only the annotated ones)."""
    shape = next(iter(gt.values())).shape
    out = {}
    for obj, mask in gt.items():
        moved = np.roll(mask, tuple(rng.integers(-2, 3, 2)), axis=(0, 1))
        moved = ellipse_grow(moved, int(rng.integers(-1, 2))) if obj in ("000", "003") else moved
        noise = rng.random(shape) < 0.03
        out[obj] = moved ^ (noise & ellipse_grow(moved, 2))
    if t == STEP:
        out["001"] = np.zeros(shape, bool)  # an empty predicted mask
    if n // 2 - 3 * STEP <= t < n // 2 - STEP:  # object 003 predicted before its GT shows
        out["003"] = ellipse(shape, shape[0] * 0.8, shape[1] * 0.7, 4, 6)
    out["009"] = ellipse(shape, shape[0] * 0.1, shape[1] * 0.1, 3, 4)  # not in the GT
    if not overlapping:
        taken = np.zeros(shape, bool)
        for obj in sorted(out):
            out[obj] = out[obj] & ~taken
            taken |= out[obj]
    return out


def _save(path: Path, mask: np.ndarray, mode: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "P":
        write_indexed(path, mask.astype(np.uint8))
    elif mode == "L":
        Image.fromarray(mask.astype(np.uint8) * 255).save(path)
    else:
        Image.fromarray(mask).convert("1").save(path)


def sav_masks(seed: int = 0, overlapping: bool = True):
    """Yield (video, object, frame name, GT mask or None where not annotated, predicted mask)."""
    rng = np.random.default_rng(seed)
    for i, (video, (h, w, n, _)) in enumerate(VIDEOS.items()):
        for t in range(n):
            gt = gt_masks((h, w), t, n, seed + i, overlapping)
            pred = predicted_masks(gt, t, n, rng, overlapping)
            annotated = t % STEP == 0
            for obj in sorted(pred):
                short = overlapping and obj == "002" and i == 0 and t == n - 1
                keep = annotated and obj in gt and not short  # 002 of the first video: fewer
                yield video, obj, f"{t:05d}", gt[obj] if keep else None, pred[obj]


def write_sav_dataset(root: Path, seed: int = 0, overlapping: bool = True) -> tuple[Path, Path]:
    """(GT root, prediction root) of the SA-V layout."""
    gt_root, pred_root = root / "gt", root / "pred"
    for video, obj, frame, gt, pred in sav_masks(seed, overlapping):
        if gt is not None:
            _save(gt_root / video / obj / f"{frame}.png", gt, "P")
        _save(pred_root / video / obj / f"{frame}.png", pred, VIDEOS[video][3])
    return gt_root, pred_root


def write_davis_merge(root: Path, seed: int = 0) -> tuple[Path, Path]:
    """The overlapping=False set in the DAVIS layout: one indexed PNG per frame, object folder k
    as id k + 1 (only annotated frames for the GT, every frame for the prediction)."""
    merged: dict[tuple[str, str, str], np.ndarray] = {}
    for video, obj, frame, gt, pred in sav_masks(seed, overlapping=False):
        for kind, mask in (("gt", gt), ("pred", pred)):
            if mask is None:
                continue
            ids = merged.setdefault((kind, video, frame), np.zeros(mask.shape, np.uint8))
            assert not (ids[mask] > 0).any(), "overlapping masks cannot be merged"
            ids[mask] = int(obj) + 1
    for (kind, video, frame), ids in merged.items():
        write_indexed(root / kind / video / f"{frame}.png", ids)
    return root / "gt", root / "pred"


def masks_digest(seed: int = 0, overlapping: bool = True) -> str:
    """sha256 of every mask the set holds (which ones and their pixels), to pin the fixture's
    figures to the data they were computed on."""
    digest = hashlib.sha256()
    for video, obj, frame, gt, pred in sav_masks(seed, overlapping):
        digest.update(f"{video}/{obj}/{frame}".encode())
        for mask in (gt, pred):
            digest.update(b"-" if mask is None else np.packbits(mask).tobytes())
    return digest.hexdigest()
