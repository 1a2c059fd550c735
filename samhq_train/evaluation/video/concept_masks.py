"""samhq-video --text ... --detect-every-frame outputs as the YT-VIS result list the video concept
metrics score: one output folder per video x phrase pair, <root>/<video folder>/<category id>/,
where the video folder is the folder part of the GT's file names (SA-Co/VEval: sav_000000/...)
and each GT frame <name>.jpg has its mask <name>.png (an indexed PNG of the video's size, 0
background) beside concept.json (the phrase and each object shown: its PNG value and score).
Each object becomes one predicted masklet: its mask on every frame (an empty one where it is not
shown), the box of each mask (mask_box) and concept.json's masklet score (the
score Meta's Sam3VideoInference.forward gives it; its "score" in files without one), as Meta's
YTVISResultsWriter writes them."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np

from ...coco_masks import encode_mask
from ...user_files import file_problem, not_a_folder
from .concept_inputs import (
    ConceptGroundTruth,
    ConceptInputError,
    asked_pairs,
    read_json,
)
from .folders import other_name_hint, read_indexed

CONCEPT_JSON = "concept.json"


def video_folder(gt: ConceptGroundTruth, video_id: int) -> str:
    """The folder part of a video's file names, the same for all of them (sav_000000)."""
    folders = {PurePosixPath(name).parent.as_posix() for name in gt.file_names[video_id]}
    if len(folders) != 1 or folders == {"."}:
        raise ConceptInputError(
            f"--gt {gt.path}: video {video_id}'s file_names must share one folder "
            f"(<video>/<frame>.jpg, as SA-Co/VEval's), got {sorted(folders)[:2]}"
        )
    return folders.pop()


def frame_stems(gt: ConceptGroundTruth, video_id: int) -> list[str]:
    return [PurePosixPath(name).stem for name in gt.file_names[video_id]]


def pair_folder(root: Path, gt: ConceptGroundTruth, video_id: int, category_id: int) -> Path:
    return root / video_folder(gt, video_id) / str(category_id)


def read_objects(folder: Path, phrase: str) -> list[tuple[int, float]]:
    """(PNG value, score) of each object concept.json lists, checked to be for `phrase`: its
    "masklet_score", else (files written before it) its "score"."""
    path = folder / CONCEPT_JSON
    if not path.is_file():
        raise ConceptInputError(
            f"--masks {path}: {file_problem(path)}; samhq-video --text {phrase!r} "
            "--detect-every-frame writes it beside the masks (the phrase, each object's "
            "png_value and score)"
        )
    record = read_json(path, "--masks")
    objects = record.get("objects") if isinstance(record, dict) else None
    if not isinstance(objects, list) or not all(isinstance(o, dict) for o in objects):
        raise ConceptInputError(f"--masks {path}: expected samhq-video's concept.json (objects)")
    if record.get("text") != phrase:
        raise ConceptInputError(
            f"--masks {path}: masks of {record.get('text')!r}, but this folder's phrase is "
            f"{phrase!r}; run samhq-video --text {phrase!r} into it"
        )
    found = []
    for i, entry in enumerate(objects):
        key = "masklet_score" if "masklet_score" in entry else "score"
        value, score = entry.get("png_value"), entry.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 255:
            raise ConceptInputError(f"--masks {path}: objects[{i}]: png_value must be 1..255")
        if not isinstance(score, (int, float)) or isinstance(score, bool):
            raise ConceptInputError(f"--masks {path}: objects[{i}]: {key} must be a number")
        found.append((value, float(score)))
    return found


def mask_box(mask: np.ndarray) -> list[float]:
    """[x, y, w, h] as Meta's benchmark writes a masklet's box (prep_for_evaluator's mask_to_box,
    then xywh): w = last column - first column (one less than COCO's toBbox), zeros when empty."""
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return [0.0, 0.0, 0.0, 0.0]
    x0, y0 = int(xs.min()), int(ys.min())
    return [float(x0), float(y0), float(xs.max() - x0), float(ys.max() - y0)]


def _masklet_entry(masks: list[np.ndarray]) -> dict:
    return {
        "segmentations": [encode_mask(mask) for mask in masks],
        "bboxes": [mask_box(mask) for mask in masks],
        "areas": [int(mask.sum()) for mask in masks],
    }


def _check_listed(path: Path, picture: np.ndarray, objects: list[tuple[int, float]]) -> None:
    """ConceptInputError for a PNG value concept.json does not list (samhq-video lists every
    value it writes): its pixels would else be dropped unseen."""
    listed = {value for value, _ in objects}
    unlisted = sorted(set(np.unique(picture).tolist()) - listed - {0})
    if unlisted:
        raise ConceptInputError(
            f"--masks {path}: value {unlisted[0]} is no object of {path.parent / CONCEPT_JSON} "
            f"(png_value {sorted(listed) or 'none'}): list the object there with its score, or "
            "give masks and concept.json of one samhq-video run"
        )


def read_pair(root: Path, gt: ConceptGroundTruth, video_id: int, category_id: int) -> list[dict]:
    """The predicted masklets of one video x phrase pair from its samhq-video output folder."""
    folder = pair_folder(root, gt, video_id, category_id)
    if folder.exists() and not folder.is_dir():
        raise ConceptInputError(
            f"--masks {folder}: {not_a_folder(folder)}; samhq-video --detect-every-frame writes "
            "a pair's masks into a folder of this name: move the file away"
        )
    if not folder.is_dir():
        raise ConceptInputError(
            f"--masks {folder}: no masks for video {video_id}, phrase "
            f"{gt.phrases[category_id]!r}: run samhq-video --detect-every-frame --out {folder}"
        )
    objects = read_objects(folder, gt.phrases[category_id])
    pictures = []
    for stem in frame_stems(gt, video_id):
        path = folder / f"{stem}.png"
        if not path.is_file():
            hint = other_name_hint(path, "its GT frame, <frame>.png") if folder.is_dir() else None
            raise ConceptInputError(
                f"--masks {path}: {hint}" if hint is not None else
                f"--masks {path}: {file_problem(path)}; every GT frame needs its mask PNG"
            )
        picture = read_indexed(path)
        if picture.shape != gt.sizes[video_id]:
            raise ConceptInputError(
                f"--masks {path}: {picture.shape[1]}x{picture.shape[0]}, but the video is "
                f"{gt.sizes[video_id][1]}x{gt.sizes[video_id][0]}"
            )
        _check_listed(path, picture, objects)
        pictures.append(picture)
    return [
        {"video_id": video_id, "category_id": category_id, "score": score,
         **_masklet_entry([picture == value for picture in pictures])}
        for value, score in objects
    ]


def predictions_from_masks(root: str | Path, gt: ConceptGroundTruth) -> list[dict]:
    """The YT-VIS result list of every asked pair's output folder under `root`."""
    root = Path(root)
    if not root.is_dir():
        raise ConceptInputError(f"--masks {root}: {not_a_folder(root)}")
    return [entry for video_id, category_id in asked_pairs(gt)
            for entry in read_pair(root, gt, video_id, category_id)]
