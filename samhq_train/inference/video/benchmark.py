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

Per-object annotations (SA-V: <video>/<object id>/<frame>.png, one binary mask each; an SA-V root
is JPEGImages_24fps/ beside Annotations_6fps/) run as vos_inference.py --per_obj_png_file: each
object's prompt is its mask on the first annotated frame where it shows (SA-V: frame 0 for all,
vos_inference's prompt frame), no non-overlap constraint anywhere (that mode builds its predictor
with non_overlap_masks=False and skips the constraint on objects tracked alone), and every
object's mask of every frame is written, <out>/<video>/<object folder>/<frame>.png (0 / 1, mode
P): objects may overlap. An object folder is named by its id (int(), as vos_inference reads it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from samhq_train.errors import UserError
from samhq_train.files import atomic_write
from samhq_train.image_header import ImageFileError
from samhq_train.mask_png import DAVIS_VOID_ID, MaskPng, read_mask_png
from samhq_train.model.sam2.tracking import non_overlapping
from samhq_train.user_files import is_hidden, not_a_file, not_a_folder, read_text

from .command import davis_palette, id_mask
from .frames import FramesError, frame_size, list_frames
from .predictor import VideoPredictor

DAVIS_FRAMES = Path("JPEGImages", "480p")
DAVIS_MASKS = Path("Annotations", "480p")
DAVIS_SPLITS = Path("ImageSets", "2017")
SAV_FRAMES = Path("JPEGImages_24fps")
SAV_MASKS = Path("Annotations_6fps")
OBJECT_MODES = ("P", "L", "1")  # a per-object annotation: 0 background, nonzero the object
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
    object_folders: dict[int, str] | None = None  # per-object layout: id -> its folder name

    @property
    def per_object(self) -> bool:
        return self.object_folders is not None

    @property
    def starts_together(self) -> bool:
        return len({frame for frame, _ in self.prompts.values()}) == 1


def sequence_folders(
    frames_root: Path, gt_root: Path, split: str, names: list[str] | None = None
) -> list[tuple[str, Path, Path]]:
    """(name, frames folder, annotation folder) of every sequence (those named, when given: a
    video list's): DAVIS layout when <gt>/Annotations/480p exists (frames:
    <frames>/JPEGImages/480p or <frames>), else <gt>/<seq> beside <frames>/<seq>."""
    for flag, root, what in (("--gt", gt_root, "annotations"), ("--frames", frames_root, "frames")):
        if not root.is_dir():
            raise VosInputError(f"{flag} {root}: {not_a_folder(root)}; give the {what}' root")
    masks, frames = gt_root, frames_root
    for masks_dir, frames_dir in ((DAVIS_MASKS, DAVIS_FRAMES), (SAV_MASKS, SAV_FRAMES)):
        if (gt_root / masks_dir).is_dir():
            masks = gt_root / masks_dir
            frames = frames_root / frames_dir if (frames_root / frames_dir).is_dir() else frames
            break
    if frames.resolve() == masks.resolve():
        raise VosInputError(
            f"--gt {gt_root} holds the annotations, not their frames: give the frames' root "
            f"(<root>/<sequence>/ of JPEG/PNG frames) with --frames"
        )
    split_file = gt_root / DAVIS_SPLITS / f"{split}.txt"
    listed_in = "the video list" if names is not None else split_file
    if names is None and masks == gt_root / DAVIS_MASKS and split_file.is_file():
        names = [line.strip() for line in read_text(split_file).splitlines() if line.strip()]
    elif names is None:
        names = sorted(p.name for p in masks.iterdir() if p.is_dir() and not is_hidden(p))
    if not names and any(annotation_pngs(masks)):
        raise VosInputError(
            f"--gt {gt_root} holds one sequence's masks: with --checkpoint give the folder of "
            f"sequence folders ({gt_root.parent}), and --frames the one of their frames"
        )
    if not names:
        raise VosInputError(f"--gt {gt_root} holds no sequence folders of annotation PNGs")
    for name in names:
        if not (masks / name).is_dir():
            raise VosInputError(f"{masks / name}: missing, but {listed_in} lists {name}")
    return [(name, frames / name, masks / name) for name in names]


def read_annotation(
    path: Path, frame: Path, video_hw: tuple[int, int], modes: tuple[str, ...] = ("P", "L")
) -> MaskPng:
    """An annotation's object ids and palette, at its frame's size; else VosInputError."""
    try:
        annotation = read_mask_png(path, modes)
    except ImageFileError as err:
        raise VosInputError(f"{err}; give indexed (palette) PNGs") from None
    if annotation.values.shape != video_hw:
        height, width = annotation.values.shape
        raise VosInputError(
            f"{path} is {width}x{height} but its frame {frame} is "
            f"{video_hw[1]}x{video_hw[0]}: annotations must have their frames' size"
        )
    return annotation


def _frames(name: str, frames_dir: Path) -> tuple[list[Path], dict[str, int], tuple[int, int]]:
    """(frames in order, frame name -> index, video H x W) of a sequence."""
    try:
        frames = list_frames(frames_dir)
        video_hw = frame_size(frames)
    except FramesError as err:
        raise VosInputError(f"sequence {name}: {err}") from None
    return frames, {p.stem: i for i, p in enumerate(frames)}, video_hw


def annotation_pngs(folder: Path) -> list[Path]:
    """The folder's *.png, without the hidden ones (macOS's "._<frame>.png" metadata)."""
    return [p for p in folder.glob("*.png") if not is_hidden(p)]


def _annotations(masks_dir: Path, frames_dir: Path, index: dict[str, int]) -> list[Path]:
    """The annotation PNGs of a folder in frame order, each with its frame."""
    annotations = sorted(annotation_pngs(masks_dir), key=lambda p: index.get(p.stem, -1))
    for path in annotations:
        if not path.is_file():
            raise VosInputError(
                f"{path}: {not_a_file(path)}, among the annotations of {masks_dir}: move it out "
                "of the folder (or replace it with the frame's annotation PNG)"
            )
    if not annotations:
        raise VosInputError(f"{masks_dir} holds no annotation PNGs: add them or remove it")
    for path in annotations:
        if path.stem not in index:
            raise VosInputError(
                f"{path}: no frame {path.stem} in {frames_dir}: every annotated frame needs its "
                "JPEG/PNG frame of the same name"
            )
    return annotations


def plan_sequence(name: str, frames_dir: Path, masks_dir: Path) -> VosSequence:
    """The frames and the first-appearance prompts of one sequence, every file checked."""
    frames, index, video_hw = _frames(name, frames_dir)
    prompts, palette = {}, None
    for path in _annotations(masks_dir, frames_dir, index):
        annotation = read_annotation(path, frames[index[path.stem]], video_hw)
        palette = annotation.palette if palette is None else palette
        ids = np.where(annotation.values == DAVIS_VOID_ID, 0, annotation.values)
        if not prompts and not ids.any():
            raise VosInputError(
                f"{path}: the first annotated frame of {name} holds no object (all 0 or void): its "
                "objects are the prompts; give their masks there"
            )
        for obj_id in np.unique(ids[ids > 0]).tolist():
            prompts.setdefault(obj_id, (index[path.stem], ids == obj_id))
    return VosSequence(name, frames, prompts, palette)


def _object_id(folder: Path, seen: dict[int, str]) -> int:
    try:
        obj_id = int(folder.name)
    except ValueError:
        obj_id = None
    if obj_id is None or obj_id < 0:
        raise VosInputError(
            f"{folder}: object folders are named by their id (000, 001, ...): rename it"
        )
    if obj_id in seen:
        raise VosInputError(
            f"{folder} and {folder.parent / seen[obj_id]} are both object {obj_id}: merge them"
        )
    return obj_id


def plan_object_sequence(name: str, frames_dir: Path, masks_dir: Path) -> VosSequence:
    """The frames and prompts of one video of per-object annotations (SA-V): each object's mask
    on its first annotated frame where it shows; every annotation needs its frame, those up to
    the prompt are read."""
    frames, index, video_hw = _frames(name, frames_dir)
    folders = sorted(p for p in masks_dir.iterdir() if p.is_dir() and not is_hidden(p))
    if not folders:
        raise VosInputError(
            f"{masks_dir} holds no object folders: per-object annotations are "
            "<video>/<object id>/<frame>.png"
        )
    prompts, names, palette = {}, {}, None
    for folder in folders:
        obj_id = _object_id(folder, names)
        names[obj_id] = folder.name
        for path in _annotations(folder, frames_dir, index):
            annotation = read_annotation(path, frames[index[path.stem]], video_hw, OBJECT_MODES)
            palette = annotation.palette if palette is None else palette
            if annotation.values.any():
                prompts[obj_id] = (index[path.stem], annotation.values > 0)
                break
        else:
            raise VosInputError(
                f"{folder}: every annotation of object {folder.name} is empty (all 0): nothing "
                "to prompt it with; annotate it where it shows, or remove the folder"
            )
    return VosSequence(name, frames, prompts, palette, names)


def plan_benchmark(
    frames_root, gt_root, split: str = "val", per_object: bool = False,
    names: list[str] | None = None,
) -> list[VosSequence]:
    """Every sequence to track (those named, when given), all inputs checked (VosInputError
    otherwise); per_object: the annotations are per-object folders (SA-V)."""
    folders = sequence_folders(Path(frames_root), Path(gt_root), split, names)
    plan = plan_object_sequence if per_object else plan_sequence
    return [plan(name, frames, masks) for name, frames, masks in folders]


def benchmark_predictor(model, use_hq: bool, per_object: bool = False) -> VideoPredictor:
    """The video predictor as vos_inference.py builds it (no hole filling; non-overlapping
    output masks unless per_object), the official batched predictor otherwise."""
    return VideoPredictor(
        model, use_hq=use_hq, fill_hole_area=0, non_overlap_masks=not per_object
    )


def track_sequence(
    predictor: VideoPredictor, seq: VosSequence
) -> Iterator[tuple[int, list[int], torch.Tensor]]:
    """(frame index, object ids, logits N_obj x 1 x H x W) for every frame of the sequence:
    all objects together from their common first frame, else each on its own from its first
    frame (ABSENT_LOGIT before it), made non-overlapping (not with per-object annotations).
    Frames before any prompt: ABSENT_LOGIT."""
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
        yield frame, obj_ids, logits[frame] if seq.per_object else non_overlapping(logits[frame])


def write_mask(path: Path, obj_ids: list[int], logits: torch.Tensor, palette) -> None:
    """An indexed PNG of object ids (logits > 0; the smaller id where two remain)."""
    picture = Image.fromarray(id_mask(obj_ids, logits), mode="P")
    picture.putpalette(palette or davis_palette())
    atomic_write(path, lambda tmp: picture.save(tmp, format="PNG"))


def write_object_mask(path: Path, logits: torch.Tensor, palette) -> None:
    """One object's mask, 1 where its logits (1 x H x W) > 0, as a mode P PNG."""
    picture = Image.fromarray((logits[0] > 0).cpu().numpy().astype(np.uint8), mode="P")
    picture.putpalette(palette or davis_palette())
    atomic_write(path, lambda tmp: picture.save(tmp, format="PNG"))


def run_sequence(predictor: VideoPredictor, seq: VosSequence, out: Path) -> None:
    """Track one sequence and write <out>/<seq>/<frame name>.png for every frame (per-object
    annotations: <out>/<seq>/<object folder>/<frame name>.png for every object)."""
    folder = out / seq.name
    folder.mkdir(parents=True, exist_ok=True)
    for name in (seq.object_folders or {}).values():
        (folder / name).mkdir(exist_ok=True)
    for frame, obj_ids, logits in track_sequence(predictor, seq):
        png = f"{seq.frames[frame].stem}.png"
        if not seq.per_object:
            write_mask(folder / png, obj_ids, logits, seq.palette)
            continue
        for obj_id, obj_logits in zip(obj_ids, logits):
            write_object_mask(folder / seq.object_folders[obj_id] / png, obj_logits, seq.palette)


__all__ = [
    "ABSENT_LOGIT", "VosInputError", "VosSequence", "benchmark_predictor", "plan_benchmark",
    "plan_object_sequence", "plan_sequence", "run_sequence", "sequence_folders", "track_sequence",
    "write_mask", "write_object_mask",
]
