"""COCO segmentations <-> binary masks, the one home of both directions for every layer: the
training data (concept datapoints, the concept demo's json), the evaluations' results and the
automatic mask generator's output.

A COCO segmentation is polygons ([[x0, y0, x1, y1, ...], ...], merged), an uncompressed RLE
({"size": [H, W], "counts": [run, ...]}, column-major runs starting with background) or a
compressed RLE (COCO's string "counts"). ``segmentation_problem`` checks one read from a json
before anything decodes it; the decoders expect a checked one."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pycocotools.mask as mask_utils
import torch

__all__ = [
    "compressed_rle", "decode_mask", "decode_segmentation", "encode_mask", "segmentation_problem",
    "uncompressed_rle",
]


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _string_runs(counts: str) -> np.ndarray | None:
    """The runs of COCO's compressed "counts" string, read as pycocotools' rleFrString reads
    them (5 bits a character from '0', 0x20 = more to come, 0x10 of the last = negative, runs
    from the fourth on relative to the one two before); None when a character is outside '0'..'o'
    or the string ends inside a run. pycocotools itself reads any string, and decodes one whose
    runs fall short of the image into uninitialised memory. Vectorised: a GT json's thousands of
    masks are read in a blink."""
    if not counts.isascii():
        return None
    codes = np.frombuffer(counts.encode("ascii"), np.uint8).astype(np.int64) - 48
    if codes.size == 0 or codes.min() < 0 or codes.max() >= 64 or codes[-1] & 0x20:
        return None
    last = (codes & 0x20) == 0  # the last character of each run
    run = np.concatenate(([0], np.cumsum(last)[:-1]))  # the run each character belongs to
    starts = np.flatnonzero(np.concatenate(([True], last[:-1])))
    shift = 5 * (np.arange(codes.size) - starts[run])
    if shift.max() > 55:  # more than 12 characters: past any int64 run
        return None
    values = np.zeros(run[-1] + 1, np.int64)
    np.add.at(values, run, (codes & 0x1F) << shift)
    negative = codes[last] & 0x10 != 0
    values[negative] -= np.int64(1) << (shift[last][negative] + 5)
    for parity in (1, 2):  # runs 3, 5, ... add run 1, 3, ...; runs 4, 6, ... add run 2, 4, ...
        values[parity::2] = np.cumsum(values[parity::2])
    return values


def segmentation_problem(segmentation, height: int, width: int) -> str | None:
    """What is wrong with a segmentation read from a json for a height x width image (one
    sentence ending in what to do), None when it is polygons, an RLE of that size, or none.

    Polygons are read as pycocotools reads them: each a list of (x, y) number pairs, the first of
    at least 3 points; a later one of fewer covers no pixel (pycocotools' area is that of the
    others)."""
    if segmentation is None or segmentation == []:
        return None
    if isinstance(segmentation, list):
        for polygon in segmentation:
            if not (isinstance(polygon, list) and len(polygon) % 2 == 0
                    and all(_is_number(v) for v in polygon)):
                return "a segmentation polygon must be a list of (x, y) number pairs; fix the json"
        if len(segmentation[0]) < 6:  # pycocotools reads 4 numbers as a box (and fails), 2 not
            return ("the first segmentation polygon must have at least 3 (x, y) points "
                    f"(pycocotools cannot read {str(segmentation[0])[:40]}); fix the json")
        return None
    size = segmentation.get("size") if isinstance(segmentation, Mapping) else None
    counts = segmentation.get("counts") if isinstance(segmentation, Mapping) else None
    if size != [height, width]:
        return (f"the segmentation must be polygons or an RLE whose 'size' is the image's "
                f"[{height}, {width}], got {str(size)[:40]}; fix the json")
    if isinstance(counts, list):
        if not all(_is_count(c) for c in counts) or sum(counts) != height * width:
            return ("the RLE 'counts' must be non-negative integers summing to height x width; "
                    "fix the json")
    elif not isinstance(counts, str) or not counts:
        return "the RLE 'counts' must be a string or a list of integers; fix the json"
    else:
        runs = _string_runs(counts)
        if runs is None or runs.min() < 0 or int(runs.sum()) != height * width:
            return ("the RLE 'counts' string must be COCO's compressed runs covering height x "
                    "width; fix the json")
    return None


def decode_segmentation(segmentation, height: int, width: int) -> np.ndarray:
    """Polygons (merged) or RLE (compressed or not) -> H x W uint8 0 / 1."""
    if isinstance(segmentation, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation["counts"], list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:
        rle = {"size": segmentation["size"], "counts": segmentation["counts"].encode("ascii")}
    return mask_utils.decode(rle)


def decode_mask(rle: Mapping) -> np.ndarray:
    """COCO RLE (compressed or uncompressed) -> bool mask H x W."""
    if isinstance(rle["counts"], list):
        rle = mask_utils.frPyObjects(dict(rle), *rle["size"])
    elif isinstance(rle["counts"], str):
        rle = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
    return mask_utils.decode(rle).astype(bool)


def encode_mask(mask: np.ndarray | torch.Tensor) -> dict:
    """Binary mask H x W (bool or 0/1) -> COCO compressed RLE, json-serialisable."""
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    if mask.ndim != 2:
        raise ValueError(f"expected an H x W mask, got shape {mask.shape}")
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def compressed_rle(rle: Mapping) -> dict:
    """An RLE (uncompressed, or compressed with str or bytes counts) -> COCO's compressed RLE
    with a str "counts", json-serialisable."""
    if isinstance(rle["counts"], list):
        rle = mask_utils.frPyObjects(dict(rle), *rle["size"])
    counts = rle["counts"]
    return {
        "size": [int(s) for s in rle["size"]],
        "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts,
    }


def uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE of a mask: run lengths over the column-major pixels, starting
    with a (possibly empty) run of background."""
    flat = (mask > 0).flatten(order="F")
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate(([0], edges, [flat.size]))).tolist()
    if flat.size and flat[0]:
        runs = [0, *runs]
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": runs}
