"""Semi-supervised video object segmentation (DAVIS 2017 protocol, as SAM 2's
tools/vos_inference.py runs it): each object's ground-truth mask on the first annotated frame
where it shows is its only prompt, every object is tracked forward from there, and the masks are
written as indexed PNGs, <out>/<sequence>/<frame>.png, at the video's size.

Settings of vos_inference.py: masks written DAVIS style (non_overlap_masks=True: where objects
overlap only the highest logit is kept), no post-processing (fill_hole_area=0; its other switches,
the dynamic multimask fallback and binarized point masks, do not act on mask prompts and tracked
frames), logits > 0. When
every object shows on the first annotated frame (DAVIS), all are prompted there and tracked
together; when some object first shows later (YouTube-VOS, LVOS: vos_inference's
--track_object_appearing_later_in_video), each object is tracked on its own from its first frame,
its logits elsewhere are -1024, and the objects' logits are made non-overlapping per frame.

Layouts: a DAVIS root (JPEGImages/480p/<seq>/*.jpg, Annotations/480p/<seq>/*.png, the sequences
of ImageSets/2017/<split>.txt when it exists), or <frames root>/<seq>/ beside <gt root>/<seq>/.
Annotations need not exist for every frame; every annotation needs a frame of the same name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from samhq_train.errors import UserError
from samhq_train.imaging import ImageFileError, MaskPng, read_mask_png
from samhq_train.model.sam2.tracking import non_overlapping

from .command import davis_palette, id_mask
from .frames import FramesError, frame_size, list_frames
from .predictor import VideoPredictor

DAVIS_FRAMES = Path("JPEGImages", "480p")
DAVIS_MASKS = Path("Annotations", "480p")
DAVIS_SPLITS = Path("ImageSets", "2017")
ABSENT_LOGIT = -1024.0  # vos_inference's score where an object is not tracked (before its start)


class VosInputError(UserError):
    """A frames or annotation folder the benchmark cannot run on; the message names it."""


@dataclass(frozen=True)
class VosSequence:
    """A sequence's frames (in order) and its prompts: object id -> (frame index, H x W mask)
    of the first annotated frame where the object shows."""

    name: str
    frames: list[Path]
    prompts: dict[int, tuple[int, np.ndarray]]
    palette: list[int] | None  # the first annotation's palette (vos_inference writes it)

    @property
    def starts_together(self) -> bool:
        return len({frame for frame, _ in self.prompts.values()}) == 1


def sequence_folders(frames_root: Path, gt_root: Path, split: str) -> list[tuple[str, Path, Path]]:
    """(name, frames folder, annotation folder) of every sequence: DAVIS layout when
    <gt>/Annotations/480p exists (frames: <frames>/JPEGImages/480p or <frames>), else
    <gt>/<seq> beside <frames>/<seq>."""
    if not gt_root.is_dir():
        raise VosInputError(f"--gt {gt_root}: folder not found; give the annotations' root")
    if not frames_root.is_dir():
        raise VosInputError(f"--frames {frames_root}: folder not found; give the frames' root")
    masks, frames = gt_root, frames_root
    if (gt_root / DAVIS_MASKS).is_dir():
        masks = gt_root / DAVIS_MASKS
        frames = frames_root / DAVIS_FRAMES if (frames_root / DAVIS_FRAMES).is_dir() else frames
    if frames.resolve() == masks.resolve():
        raise VosInputError(
            f"--gt {gt_root} holds the annotations, not their frames: give the frames' root "
            f"(<root>/<sequence>/ of JPEG/PNG frames) with --frames"
        )
    split_file = gt_root / DAVIS_SPLITS / f"{split}.txt"
    if masks != gt_root and split_file.is_file():
        names = [line.strip() for line in split_file.read_text().splitlines() if line.strip()]
    else:
        names = sorted(p.name for p in masks.iterdir() if p.is_dir() and p.name[0] != ".")
    if not names:
        raise VosInputError(f"--gt {gt_root} holds no sequence folders of annotation PNGs")
    for name in names:
        if not (masks / name).is_dir():
            raise VosInputError(f"{masks / name}: missing, but {split_file} lists {name}")
    return [(name, frames / name, masks / name) for name in names]


def read_annotation(path: Path, frame: Path, video_hw: tuple[int, int]) -> MaskPng:
    """An annotation's object ids and palette, at its frame's size; else VosInputError."""
    try:
        annotation = read_mask_png(path, modes=("P", "L"))
    except ImageFileError as err:
        raise VosInputError(f"{err}; give indexed (palette) PNGs") from None
    if annotation.values.shape != video_hw:
        height, width = annotation.values.shape
        raise VosInputError(
            f"{path} is {width}x{height} but its frame {frame} is "
            f"{video_hw[1]}x{video_hw[0]}: annotations must have their frames' size"
        )
    return annotation


def plan_sequence(name: str, frames_dir: Path, masks_dir: Path) -> VosSequence:
    """The frames and the first-appearance prompts of one sequence, every file checked."""
    try:
        frames = list_frames(frames_dir)
        video_hw = frame_size(frames)
    except FramesError as err:
        raise VosInputError(f"sequence {name}: {err}") from None
    index = {p.stem: i for i, p in enumerate(frames)}
    annotations = sorted(masks_dir.glob("*.png"), key=lambda p: index.get(p.stem, -1))
    if not annotations:
        raise VosInputError(f"{masks_dir} holds no annotation PNGs: add them or remove it")
    prompts, palette = {}, None
    for path in annotations:
        if path.stem not in index:
            raise VosInputError(
                f"{path}: no frame {path.stem} in {frames_dir}: every annotated frame needs its "
                "JPEG/PNG frame of the same name"
            )
        annotation = read_annotation(path, frames[index[path.stem]], video_hw)
        palette = annotation.palette if palette is None else palette
        ids = annotation.values
        if not prompts and not ids.any():
            raise VosInputError(
                f"{path}: the first annotated frame of {name} holds no object (all 0): its "
                "objects are the prompts; give their masks there"
            )
        for obj_id in np.unique(ids[ids > 0]).tolist():
            prompts.setdefault(obj_id, (index[path.stem], ids == obj_id))
    return VosSequence(name, frames, prompts, palette)


def plan_benchmark(frames_root, gt_root, split: str = "val") -> list[VosSequence]:
    """Every sequence to track, all inputs checked (VosInputError otherwise)."""
    folders = sequence_folders(Path(frames_root), Path(gt_root), split)
    return [plan_sequence(name, frames, masks) for name, frames, masks in folders]


def benchmark_predictor(model, use_hq: bool) -> VideoPredictor:
    """The video predictor as vos_inference.py builds it (non-overlapping output masks, no
    hole filling), the official batched predictor otherwise."""
    return VideoPredictor(model, use_hq=use_hq, fill_hole_area=0, non_overlap_masks=True)


def track_sequence(
    predictor: VideoPredictor, seq: VosSequence
) -> Iterator[tuple[int, list[int], torch.Tensor]]:
    """(frame index, object ids, logits N_obj x 1 x H x W) for every frame of the sequence:
    all objects together from their common first frame, else each on its own from its first
    frame (ABSENT_LOGIT before it), made non-overlapping. Frames before any prompt: no objects."""
    predictor.set_video(seq.frames[0].parent)
    obj_ids = sorted(seq.prompts)
    start = min(frame for frame, _ in seq.prompts.values())
    h, w = predictor.video_size
    for frame in range(start):
        yield frame, obj_ids, torch.full((len(obj_ids), 1, h, w), ABSENT_LOGIT)
    if seq.starts_together:
        for obj_id in obj_ids:
            predictor.add_mask(start, obj_id, seq.prompts[obj_id][1])
        for frame, ids, logits in predictor.propagate(start_frame=start):
            yield frame, ids, logits
        return
    logits = torch.full((predictor.num_frames, len(obj_ids), 1, h, w), ABSENT_LOGIT)
    for row, obj_id in enumerate(obj_ids):
        predictor.reset()
        first, mask = seq.prompts[obj_id]
        predictor.add_mask(first, obj_id, mask)
        for frame, _, obj_logits in predictor.propagate(start_frame=first):
            logits[frame, row] = obj_logits[0].cpu()
    for frame in range(start, predictor.num_frames):
        yield frame, obj_ids, non_overlapping(logits[frame])


def write_mask(path: Path, obj_ids: list[int], logits: torch.Tensor, palette) -> None:
    """An indexed PNG of object ids (logits > 0; the smaller id where two remain)."""
    picture = Image.fromarray(id_mask(obj_ids, logits), mode="P")
    picture.putpalette(palette or davis_palette())
    picture.save(path)


def run_sequence(predictor: VideoPredictor, seq: VosSequence, out: Path) -> None:
    """Track one sequence and write <out>/<seq>/<frame name>.png for every frame."""
    folder = out / seq.name
    folder.mkdir(parents=True, exist_ok=True)
    for frame, obj_ids, logits in track_sequence(predictor, seq):
        write_mask(folder / f"{seq.frames[frame].stem}.png", obj_ids, logits, seq.palette)


__all__ = [
    "ABSENT_LOGIT", "VosInputError", "VosSequence", "benchmark_predictor", "plan_benchmark",
    "plan_sequence", "run_sequence", "sequence_folders", "track_sequence", "write_mask",
]
