"""The inputs of a video concept evaluation (SA-Co/VEval), checked before anything is scored.

The ground truth is SA-Co/VEval's YT-VIS style JSON: "videos" (id, file_names, height, width),
"annotations" (one masklet each: video_id, category_id, per-frame "segmentations" as RLE or null,
per-frame "bboxes" [x, y, w, h] or null, optional iscrowd), "categories" (id, name: the noun
phrase) and "video_np_pairs" (video_id, category_id: every pair asked, the negatives included).
The predictions are the YT-VIS result list Meta's YTVISResultsWriter writes: one masklet each,
with video_id, category_id, score and per-frame "segmentations" and "bboxes". Every problem is
one ConceptInputError line naming the file and the entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from samhq_train.coco_masks import compressed_rle as _compressed
from samhq_train.coco_masks import segmentation_problem
from samhq_train.errors import UserError
from samhq_train.user_files import file_problem, read_text


class ConceptInputError(UserError, ValueError):
    """A ground-truth or prediction file of a video concept evaluation that cannot be used."""


@dataclass(frozen=True)
class Masklet:
    """One object over a video: a compressed RLE (or None: not there) and a box per frame."""

    video_id: int
    category_id: int
    segmentations: list[dict | None]
    bboxes: list[list[float] | None]
    score: float = 1.0
    crowd: bool = False
    track_id: int = 0  # a GT annotation's id (pHOTA numbers the tracks by it)


@dataclass(frozen=True)
class ConceptGroundTruth:
    """The videos (id -> frame count), the GT masklets and the video x phrase pairs asked
    (None when the file has no "video_np_pairs": then IL_MCC and cgF1 are not defined)."""

    path: Path
    frames: dict[int, int]
    sizes: dict[int, tuple[int, int]]
    file_names: dict[int, list[str]]
    phrases: dict[int, str]
    masklets: list[Masklet]
    pairs: list[tuple[int, int]] | None


def read_json(path: str | Path, what: str):
    path = Path(path)
    if not path.is_file():
        raise ConceptInputError(f"{what} {path}: {file_problem(path)}")
    try:
        return json.loads(read_text(path))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConceptInputError(f"{what} {path}: not a readable JSON file ({err})") from None


def _entries(data: dict, key: str, where: str) -> list[dict]:
    entries = data.get(key)
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConceptInputError(f"{where}: {key!r} must be a list of objects (SA-Co/VEval format)")
    return entries


def _field(entry: dict, key: str, kind, where: str):
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, kind):
        kind_name = getattr(kind, "__name__", "a number")
        raise ConceptInputError(f"{where}: {key!r} missing or not {kind_name}")
    return value


def compressed_rle(rle, size: tuple[int, int], where: str) -> dict | None:
    """A per-frame mask as a compressed RLE (string counts); None stays None."""
    if rle is None:
        return None
    if not isinstance(rle, dict) or not isinstance(rle.get("counts"), (str, list)):
        raise ConceptInputError(f"{where}: a segmentation must be an RLE {{size, counts}} or null")
    if list(rle.get("size", ())) != list(size):
        raise ConceptInputError(f"{where}: RLE size {rle.get('size')} is not the video's {size}")
    problem = segmentation_problem({"size": list(size), "counts": rle["counts"]}, *size)
    if problem is not None:  # pycocotools would decode it into uninitialised memory
        raise ConceptInputError(f"{where}: {problem}")
    if isinstance(rle["counts"], list):
        return _compressed({"size": list(size), "counts": rle["counts"]})
    return rle


def _boxes(entry: dict, frames: int, where: str) -> list[list[float] | None]:
    boxes = entry.get("bboxes")
    if not isinstance(boxes, list) or len(boxes) != frames:
        raise ConceptInputError(
            f"{where}: 'bboxes' must be a list of {frames} boxes [x, y, w, h] or null"
        )
    for box in boxes:
        if box is not None and (not isinstance(box, list) or len(box) != 4):
            raise ConceptInputError(f"{where}: a box must be [x, y, w, h] or null, got {box!r}")
    return boxes


def read_masklet(entry: dict, gt_frames, gt_sizes, where: str, *, score: bool) -> Masklet:
    """One GT annotation or prediction entry, checked against the GT's videos."""
    video_id = _field(entry, "video_id", int, where)
    category_id = _field(entry, "category_id", int, where)
    if video_id not in gt_frames:
        raise ConceptInputError(f"{where}: video_id {video_id} is not a video of the ground truth")
    frames, size = gt_frames[video_id], gt_sizes[video_id]
    segms = entry.get("segmentations")
    if not isinstance(segms, list) or len(segms) != frames:
        raise ConceptInputError(
            f"{where}: 'segmentations' must be a list of {frames} RLEs or null (one per frame "
            f"of video {video_id})"
        )
    rles = [compressed_rle(rle, size, where) for rle in segms]
    value = float(_field(entry, "score", (int, float), where)) if score else 1.0
    crowd = bool(entry.get("iscrowd", 0))
    track_id = entry.get("id", 0) if isinstance(entry.get("id", 0), int) else 0
    boxes = _boxes(entry, frames, where)
    return Masklet(video_id, category_id, rles, boxes, value, crowd, track_id)


def read_ground_truth(path: str | Path) -> ConceptGroundTruth:
    where = f"--gt {path}"
    data = read_json(path, "--gt")
    if not isinstance(data, dict):
        raise ConceptInputError(f"{where}: expected a JSON object (SA-Co/VEval format)")
    frames, sizes, file_names = {}, {}, {}
    for i, video in enumerate(_entries(data, "videos", where)):
        at = f"{where}: videos[{i}]"
        video_id = _field(video, "id", int, at)
        names = _field(video, "file_names", list, at)
        sizes[video_id] = (_field(video, "height", int, at), _field(video, "width", int, at))
        frames[video_id], file_names[video_id] = len(names), [str(n) for n in names]
    phrases = {}
    for i, category in enumerate(_entries(data, "categories", where)):
        at = f"{where}: categories[{i}]"
        phrases[_field(category, "id", int, at)] = _field(category, "name", str, at)
    masklets = [
        read_masklet(ann, frames, sizes, f"{where}: annotations[{i}]", score=False)
        for i, ann in enumerate(_entries(data, "annotations", where))
    ]
    pairs = None
    if "video_np_pairs" in data:
        pairs = []
        for i, pair in enumerate(_entries(data, "video_np_pairs", where)):
            at = f"{where}: video_np_pairs[{i}]"
            video_id = _field(pair, "video_id", int, at)
            if video_id not in frames:
                raise ConceptInputError(f"{at}: video_id {video_id} is not in 'videos'")
            pairs.append((video_id, _field(pair, "category_id", int, at)))
    named = [(f"annotations[{i}]", m.category_id) for i, m in enumerate(masklets)]
    named += [(f"video_np_pairs[{i}]", category) for i, (_, category) in enumerate(pairs or ())]
    for at, category in named:
        if category not in phrases:
            raise ConceptInputError(f"{where}: {at}: category_id {category} is not in 'categories'")
    return ConceptGroundTruth(Path(path), frames, sizes, file_names, phrases, masklets, pairs)


def asked_pairs(gt: ConceptGroundTruth) -> list[tuple[int, int]]:
    """The (video_id, category_id) pairs to predict: video_np_pairs (negatives included), else
    the pairs with GT masklets."""
    pairs = gt.pairs if gt.pairs is not None else [(m.video_id, m.category_id) for m in gt.masklets]
    return list(dict.fromkeys(pairs))


def read_predictions(path: str | Path, gt: ConceptGroundTruth) -> list[Masklet]:
    """The YT-VIS result list of `path`, each entry checked against the ground truth."""
    return predicted_masklets(read_json(path, "--pred"), gt, f"--pred {path}")


def predicted_masklets(data, gt: ConceptGroundTruth, where: str) -> list[Masklet]:
    """A YT-VIS result list (`where` names it), each entry checked against the ground truth."""
    if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
        raise ConceptInputError(
            f"{where}: expected a list of predicted masklets (YT-VIS result format: video_id, "
            "category_id, score, segmentations, bboxes)"
        )
    return [
        read_masklet(entry, gt.frames, gt.sizes, f"{where}[{i}]", score=True)
        for i, entry in enumerate(data)
    ]
