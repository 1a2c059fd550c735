"""Synthetic SA-Co/VEval data for the video concept metric tests: a GT JSON (videos, masklets that
appear and disappear, categories, positive and negative video x phrase pairs, a crowd masklet)
and YT-VIS result lists (near and far matches, low scores, false positives, empty frames)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pycocotools.mask as mask_utils
from PIL import Image

HEIGHT, WIDTH = 20, 28


def rle(mask: np.ndarray, compressed: bool = True) -> dict:
    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    if compressed:
        return {"size": list(encoded["size"]), "counts": encoded["counts"].decode()}
    # the uncompressed form (run lengths as integers) some GT files hold
    flat = mask.astype(np.uint8).flatten(order="F")
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff([0, *edges, len(flat)]).tolist()
    return {"size": [mask.shape[0], mask.shape[1]], "counts": [0, *runs] if flat[0] else runs}


def box(mask: np.ndarray, as_int: bool) -> list | None:
    if not mask.any():
        return None
    bbox = mask_utils.toBbox(mask_utils.encode(np.asfortranarray(mask.astype(np.uint8))))
    return [int(v) for v in bbox] if as_int else [float(v) for v in bbox]


def blob(rng, shape=(HEIGHT, WIDTH)) -> np.ndarray:
    h, w = shape
    y0, x0 = rng.integers(0, h - 4), rng.integers(0, w - 4)
    y1, x1 = y0 + rng.integers(3, h - y0 + 1), x0 + rng.integers(3, w - x0 + 1)
    mask = np.zeros(shape, bool)
    mask[y0:y1, x0:x1] = True
    mask &= rng.random(shape) < 0.9  # ragged, so boxes and masks differ
    return mask


def moved(mask: np.ndarray, rng, amount: int) -> np.ndarray:
    dy, dx = rng.integers(-amount, amount + 1, size=2)
    return np.roll(mask, (dy, dx), axis=(0, 1))


def masklet_entry(frames: list[np.ndarray | None], as_int: bool, compressed: bool = True) -> dict:
    return {
        "segmentations": [None if m is None else rle(m, compressed) for m in frames],
        "bboxes": [None if m is None else box(m, as_int) for m in frames],
        "areas": [None if m is None else int(m.sum()) for m in frames],
    }


def synthetic_veval(seed: int = 0, num_videos: int = 4, num_phrases: int = 4, frames: int = 5):
    """(GT dict, predictions list): every video x phrase pair asked, about half of them positive;
    predictions track the GT with more or less drift, some pairs get none, some get only false
    positives or low scores."""
    rng = np.random.default_rng(seed)
    videos = [{"id": v + 1, "video_name": f"vid{v + 1}", "height": HEIGHT, "width": WIDTH,
               "length": frames, "file_names": [f"vid{v + 1}/{t:05d}.jpg" for t in range(frames)]}
              for v in range(num_videos)]
    categories = [{"id": 10 + c, "name": f"phrase {c}"} for c in range(num_phrases)]
    annotations, preds, pairs = [], [], []
    for video in videos:
        for cat in categories:
            num_gt = int(rng.choice([0, 0, 1, 2, 3]))
            pairs.append({"id": len(pairs), "video_id": video["id"], "category_id": cat["id"],
                          "noun_phrase": cat["name"], "num_masklets": num_gt})
            gt_tracks = []
            for _ in range(num_gt):
                start, stop = sorted(rng.choice(frames + 1, size=2, replace=False))
                track = [blob(rng) if start <= t < stop else None for t in range(frames)]
                gt_tracks.append(track)
                entry = masklet_entry(track, as_int=True, compressed=bool(rng.random() < 0.7))
                annotations.append({"id": len(annotations) + 1, "video_id": video["id"],
                                    "category_id": cat["id"], "iscrowd": int(rng.random() < 0.1),
                                    "height": HEIGHT, "width": WIDTH,
                                    "noun_phrase": cat["name"], **entry})
            for track in gt_tracks:
                if rng.random() < 0.2:
                    continue  # missed
                drift = int(rng.choice([0, 1, 2, 4]))
                pred = [np.zeros((HEIGHT, WIDTH), bool) if m is None else moved(m, rng, drift)
                        for m in track]
                if rng.random() < 0.3:  # shown one frame too long or too short
                    pred[int(rng.integers(frames))] = blob(rng)
                preds.append(_pred(video, cat, pred, float(rng.choice([0.3, 0.5, 0.8, 0.95]))))
            for _ in range(int(rng.choice([0, 0, 1, 2]))):  # false positives
                pred = [blob(rng) if rng.random() < 0.7 else np.zeros((HEIGHT, WIDTH), bool)
                        for _ in range(frames)]
                pred[0] = blob(rng)
                preds.append(_pred(video, cat, pred, float(rng.uniform(0.2, 1.0))))
    gt = {"info": {"description": "synthetic"}, "videos": videos, "annotations": annotations,
          "categories": categories, "video_np_pairs": pairs}
    return gt, preds


def _pred(video: dict, cat: dict, frames: list[np.ndarray], score: float) -> dict:
    """As Meta's YTVISResultsWriter: an RLE and a float box on every frame (zeros when empty)."""
    entry = masklet_entry(frames, as_int=False)
    entry["bboxes"] = [b if b is not None else [0.0, 0.0, 0.0, 0.0] for b in entry["bboxes"]]
    entry["areas"] = [int(m.sum()) for m in frames]
    return {"video_id": video["id"], "category_id": cat["id"], "score": score, **entry}


def write_masks_folders(root: Path, gt: dict, preds: list[dict]) -> Path:
    """samhq-video --detect-every-frame outputs of the predictions: <root>/<video folder>/
    <category id>/ with a PNG per GT frame (objects 1, 2, ... in order; a later one drawn over an
    earlier one) and concept.json, for every video x phrase pair of the GT."""
    names = {c["id"]: c["name"] for c in gt["categories"]}
    for video in gt["videos"]:
        stems = [Path(n).stem for n in video["file_names"]]
        for pair in gt["video_np_pairs"]:
            if pair["video_id"] != video["id"]:
                continue
            folder = root / Path(video["file_names"][0]).parent / str(pair["category_id"])
            folder.mkdir(parents=True)
            mine = [p for p in preds
                    if (p["video_id"], p["category_id"]) == (video["id"], pair["category_id"])]
            objects = [{"id": i + 1, "png_value": i + 1, "first_frame": 0, "score": p["score"]}
                       for i, p in enumerate(mine)]
            for t, stem in enumerate(stems):
                picture = np.zeros((video["height"], video["width"]), np.uint8)
                for i, p in enumerate(mine):
                    picture[mask_utils.decode(p["segmentations"][t]).astype(bool)] = i + 1
                image = Image.fromarray(picture, mode="P")
                image.putpalette([v for i in range(256) for v in (i, i, i)])
                image.save(folder / f"{stem}.png")
            record = {"text": names[pair["category_id"]], "frame": 0, "objects": objects}
            (folder / "concept.json").write_text(json.dumps(record))
    return root


def write_veval_files(root: Path, seed: int = 0) -> dict[str, Path]:
    """A synthetic SA-Co/VEval GT file, its predictions (YT-VIS results) and the same
    predictions as samhq-video output folders (the README commands' stand-ins)."""
    gt, preds = synthetic_veval(seed, num_videos=2, num_phrases=3)
    root.mkdir(parents=True, exist_ok=True)
    (root / "gt.json").write_text(json.dumps(gt))
    (root / "preds.json").write_text(json.dumps(preds))
    masks = write_masks_folders(root / "masks", gt, preds)
    return {"gt": root / "gt.json", "pred": root / "preds.json", "masks": masks}
