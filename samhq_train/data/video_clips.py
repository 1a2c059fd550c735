"""Video clips for training SAM 2.1 / HQ-SAM 2 on videos, from DAVIS-style folders.

A root holds JPEGImages/<sequence>/<frame>.jpg (or .png: the frame files samhq-video reads,
imaging.frame_entries) and Annotations/<sequence>/<frame>.png (DAVIS' 480p/ level inside both is
followed); masks are indexed PNGs whose pixel values are object ids (0 background). A sequence's
frames are the annotated ones (a mask with a frame of the same stem), in name order, numeric
names in number order (user_files.frame_order). A clip, as SAM 2's VOS
sampler (RandomUniformSampler) draws it: num_frames consecutive frames from a uniform start, and
up to max_num_objects of the objects visible on its first frame (a start without any is drawn
again); frames resized to the model's square input, masks by nearest neighbour. Bad folders are
refused in one DataError line before any clip is read.

Randomness: item i of epoch e draws from its own generator, seeded from (seed, e, i) (the MOSE
augmentations from Python's and torch's generators seeded from it, as Meta's draw), so a clip
does not depend on the process, worker or order that reads it and a resumed run draws what the
uninterrupted one drew; ``set_epoch`` sets e (data.loaders.EpochSeededLoader calls it). An item
that DDP's DistributedSampler repeats to even the processes' shares draws, as its c-th repeat,
from (seed, e, i, c) (``set_repeats``), not the clip its first reading drew.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from samhq_train import imaging
from samhq_train.image_header import ImageFileError
from samhq_train.imaging import FRAME_SUFFIXES, entries_with_suffixes, frame_entries
from samhq_train.mask_png import mask_png_header, read_mask_png
from samhq_train.user_files import not_a_file, not_a_folder, stem_order

from .image_files import DataError
from .video_transforms import ClipAugmentation, augment_clip, seeded_global_draws

log = logging.getLogger(__name__)

LAYOUT = ("a root of JPEGImages/<sequence>/*.jpg (or .png frames) and "
          "Annotations/<sequence>/*.png (indexed PNGs)")
ID_MODES = ("P", "L")  # indexed PNGs (or grayscale ones) of object ids
MASK_FIX = "save masks as palette (mode P) PNGs whose values are object ids"
MAX_STARTS = 100  # starts drawn for a clip whose first frame shows an object


@dataclass(frozen=True)
class VideoSequence:
    """A sequence's annotated frames, in order, as listed: the paths are built when first asked
    (a root of SA-V's size lists hundreds of thousands of frames, most never read)."""

    name: str
    frame_folder: Path
    mask_folder: Path
    frame_names: tuple[str, ...]  # JPEGs or PNGs (FRAME_SUFFIXES)
    mask_names: tuple[str, ...]  # indexed PNGs, same stems

    @cached_property
    def frames(self) -> list[Path]:
        return [self.frame_folder / name for name in self.frame_names]

    @cached_property
    def masks(self) -> list[Path]:
        return [self.mask_folder / name for name in self.mask_names]


def _inner(folder: Path) -> Path:
    return folder / "480p" if (folder / "480p").is_dir() else folder


def _check_indexed(path: Path) -> None:
    try:
        mask_png_header(path, ID_MODES)
    except ImageFileError as err:
        raise DataError(f"{err}; {MASK_FIX}") from None


def _masks(folder: Path) -> dict[str, os.DirEntry]:
    """{stem: entry} of a sequence's mask PNGs (any case); hidden files (a Mac's '._<name>'
    metadata beside each copied file) left out, as user_files.is_hidden."""
    return dict(entries_with_suffixes(folder, (".png",)))


def _frames(folder: Path) -> dict[str, os.DirEntry]:
    """{stem: entry} of a sequence's frame files (imaging.frame_entries: samhq-video's too)."""
    if not folder.is_dir():
        return {}
    try:
        return dict(frame_entries(folder))
    except ImageFileError as err:
        raise DataError(str(err)) from None


def _video_file_hint(images: Path, name: str) -> str:
    """A note when the sequence is there as a video file (JPEGImages/<name>.mp4)."""
    videos = sorted(p.name for p in images.glob(f"{name}.*") if p.is_file() and
                    p.suffix.lower() in (".mp4", ".avi", ".mov", ".mkv", ".webm"))
    return f" (a video file, {videos[0]}, is not read: extract its frames)" if videos else ""


@dataclass(frozen=True)
class SequenceListing:
    """A root's sequences with at least min_frames annotated frames, and what its listing left
    out, said by say(): the frames without a mask and the sequences too short."""

    root: Path
    min_frames: int
    sequences: list[VideoSequence]
    unannotated: int  # frames without a mask, in the sequences kept
    short: list[str]  # the sequences skipped

    def say(self) -> None:
        if self.unannotated:  # YouTube-VOS annotates every 5th frame; a gap is stepped over
            log.info("%s: %d frames without a mask left out of %d sequences' clips (a clip is "
                     "%d consecutive annotated frames)", self.root, self.unannotated,
                     len(self.sequences), self.min_frames)
        if self.short:
            log.warning("%d sequence(s) with fewer than %d annotated frames skipped: %s",
                        len(self.short), self.min_frames, ", ".join(self.short[:5]))

    def takes(self, root: str | Path, min_frames: int) -> bool:
        """Whether this is the listing of `root` for clips of min_frames frames."""
        return self.root == Path(root) and self.min_frames == min_frames


def find_sequences(root: str | Path, min_frames: int = 1, key: str = "data.root",
                   listing: SequenceListing | None = None) -> list[VideoSequence]:
    """list_sequences' sequences, what it left out said (SequenceListing.say); `listing`: the
    check stage's listing, taken when it is root's for min_frames (a root listed once a run)."""
    if listing is None or not listing.takes(root, min_frames):
        listing = list_sequences(root, min_frames, key)
    listing.say()
    return listing.sequences


def list_sequences(root: str | Path, min_frames: int = 1,
                   key: str = "data.root") -> SequenceListing:
    """The sequences of a root with at least min_frames annotated frames (shorter ones are
    skipped); DataError naming the config `key` that gave the root when the layout is wrong or
    none is long enough. Nothing said: samhq-train's check stage lists a run's roots and hands
    the listings to its loaders, which say what was left out (SequenceListing.say)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{key}={root}: {not_a_folder(root)}; give {LAYOUT}")
    images, masks = _inner(root / "JPEGImages"), _inner(root / "Annotations")
    for folder in (images, masks):
        if not folder.is_dir():
            raise DataError(f"{key}={root}: {folder.name}/ missing; give {LAYOUT}")
    names = sorted(p.name for p in masks.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not names:
        raise DataError(f"{masks}: no sequence folders; give {LAYOUT}")
    found, short, unannotated = [], [], 0
    for name in names:
        frames, pngs = _frames(images / name), _masks(masks / name)
        annotated = sorted((stem for stem in pngs if stem in frames), key=stem_order)
        if not frames:
            raise DataError(f"{images / name}: no frames ({', '.join(FRAME_SUFFIXES)} files) "
                            f"for the masks of sequence {name}{_video_file_hint(images, name)}; "
                            f"give {LAYOUT}")
        for entry in [*(pngs[s] for s in annotated), *(frames[s] for s in annotated)]:
            if not entry.is_file():  # else found only when a clip reads it, mid-training
                path = Path(entry.path)
                raise DataError(f"{path}: {not_a_file(path)}, among the frames of sequence "
                                f"{name}; move it out of the folder")
        if len(annotated) < min_frames:
            short.append(name)
            continue
        _check_indexed(Path(pngs[annotated[0]].path))
        found.append(VideoSequence(name, images / name, masks / name,
                                   tuple(frames[s].name for s in annotated),
                                   tuple(pngs[s].name for s in annotated)))
        unannotated += len(frames) - len(annotated)
    if not found:
        fix = "lower data.num_frames or add frames" if key == "data.root" else "add frames"
        raise DataError(f"{key}={root}: no sequence has {min_frames} annotated frames (a "
                        f"frame and a mask PNG of the same name); {fix}")
    return SequenceListing(root, min_frames, found, unannotated, short)


def read_ids(path: Path) -> np.ndarray:
    """H x W object ids of an indexed PNG."""
    try:
        return read_mask_png(path, ID_MODES).values
    except ImageFileError as err:
        raise DataError(f"{err}; {MASK_FIX}") from None


def read_frame_image(path: Path) -> np.ndarray:
    """H x W x 3 uint8 RGB of a frame file (imaging.read_image, its refusals worded for a video
    frame: replaced, not removed)."""
    try:
        return imaging.read_image(path, what="frame")
    except ImageFileError as err:
        raise DataError(str(err)) from None


def read_frame(seq: VideoSequence, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame t of a sequence and its object ids; DataError naming a mask of another size than
    its frame (resized apart, it would be stretched over it)."""
    image, ids = read_frame_image(seq.frames[t]), read_ids(seq.masks[t])
    if ids.shape != image.shape[:2]:
        raise DataError(f"{seq.masks[t]}: a {ids.shape[1]}x{ids.shape[0]} mask for the "
                        f"{image.shape[1]}x{image.shape[0]} frame {seq.frames[t].name} (WxH); "
                        "give each mask its frame's size")
    return image, ids


def clip_frames(seq: VideoSequence, frames: range) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """read_frame of each frame of a clip, one at a time; DataError naming the first frame of
    another size than the clip's first (a video's frames share one size, as samhq-video
    requires)."""
    first = None
    for t in frames:
        image, ids = read_frame(seq, t)
        if first is None:
            first = image.shape[:2]
        elif image.shape[:2] != first:
            raise DataError(f"{seq.frames[t]} is {image.shape[1]}x{image.shape[0]} but "
                            f"{seq.frames[frames[0]].name} is {first[1]}x{first[0]} (WxH): the "
                            f"frames of sequence {seq.name} must have one size")
        yield image, ids
        del image, ids  # not held while the next frame is read


def read_clip_frames(seq: VideoSequence, frames: range) -> list[tuple[np.ndarray, np.ndarray]]:
    """clip_frames, all at full size (for the augmentations, which work on them)."""
    return list(clip_frames(seq, frames))


def squared_clip(seq: VideoSequence, frames: range, size: int,
                 squared_labels: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(T x S x S x 3 frames squared, T x H x W label maps; T x S x S by nearest neighbour with
    squared_labels) of a clip, each frame squared as it is read: one full-size frame held at a
    time (a 720p frame is 2.7 MB; a validation sequence can have hundreds)."""
    images = labels = None
    index = 0
    for image, ids in clip_frames(seq, frames):  # no enumerate: it would hold the last frame
        if images is None:
            images = np.empty((len(frames), size, size, 3), image.dtype)
            labels = np.empty((len(frames), *((size, size) if squared_labels else ids.shape)),
                              ids.dtype)
        images[index] = square(image, size)
        labels[index] = square(ids, size, nearest=True) if squared_labels else ids
        index += 1
        del image, ids
    return images, labels


def square(image: np.ndarray, size: int, nearest: bool = False) -> np.ndarray:
    interpolation = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interpolation)


class VideoClipDataset(Dataset):
    """One random clip per sequence and item: {"images": T x 3 x S x S uint8 RGB, "masks":
    T x N x S x S bool (N objects), "name", "object_ids"}. `multiplier` repeats the sequence list
    (SAM 2's dataset multiplier); hflip_prob flips a whole clip (SAM 2's consistent
    RandomHorizontalFlip); with `augmentation` a clip goes through SAM 2's MOSE augmentations
    (video_transforms.py: flip, affine, resize, colour) instead of the plain resize and flip;
    `seed` and the epoch (set_epoch) seed the draws (module docstring)."""

    def __init__(self, root, *, image_size: int, num_frames: int = 8, max_num_objects: int = 3,
                 multiplier: int = 1, hflip_prob: float = 0.5,
                 augmentation: ClipAugmentation | None = None, seed: int = 0,
                 listing: SequenceListing | None = None) -> None:
        self.sequences = find_sequences(root, num_frames, listing=listing)
        self.image_size, self.num_frames = image_size, num_frames
        self.max_num_objects, self.multiplier = max_num_objects, multiplier
        self.hflip_prob, self.augmentation = hflip_prob, augmentation
        self.seed, self.epoch = int(seed), 0
        self.repeats: dict[int, int] = {}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def set_repeats(self, repeats: dict[int, int]) -> None:
        """{index: c}: this process reads item `index` as its c-th repeat this epoch."""
        self.repeats = dict(repeats)

    def __len__(self) -> int:
        return len(self.sequences) * self.multiplier

    def __getitem__(self, index: int) -> dict:
        """A clip, or {"error": one line} for a clip that cannot be read (a frame cut short):
        said by the loader in the main process (data.loaders.SampleLoader), not as a loader
        worker's traceback."""
        repeat = self.repeats.get(index)
        key = [self.seed, self.epoch, index] + ([repeat] if repeat else [])
        rng = np.random.default_rng(key)
        try:
            return self.clip(self.sequences[index % len(self.sequences)], rng)
        except DataError as err:
            return {"error": str(err)}

    def clip(self, seq: VideoSequence, rng: np.random.Generator) -> dict:
        for _ in range(MAX_STARTS):
            start = int(rng.integers(0, len(seq.masks) - self.num_frames + 1))
            first = read_ids(seq.masks[start])
            visible = [int(i) for i in np.unique(first) if i != 0]
            if visible:
                break
        else:
            raise DataError(f"{seq.masks[0].parent}: no object on the first frame of "
                            f"{MAX_STARTS} drawn clips; remove the sequence or annotate it")
        count = min(len(visible), self.max_num_objects)
        ids = sorted(rng.choice(visible, count, replace=False).tolist())
        frames = range(start, start + self.num_frames)
        if self.augmentation is not None:
            with seeded_global_draws(int(rng.integers(2**63))):
                images, masks = self._augmented(seq, frames, ids)
        else:
            images, masks = self._resized(seq, frames, ids, rng)
        return {"images": images, "masks": masks, "name": seq.name, "object_ids": ids}

    def _resized(self, seq: VideoSequence, frames: range, ids: list[int], rng):
        s = self.image_size
        images, label_maps = squared_clip(seq, frames, s, squared_labels=True)
        masks = label_maps[:, None] == np.array(ids)[None, :, None, None]
        if rng.random() < self.hflip_prob:
            images, masks = images[:, :, ::-1], masks[..., ::-1]
        return (torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2),
                torch.from_numpy(np.ascontiguousarray(masks)))

    def _augmented(self, seq: VideoSequence, frames: range, ids: list[int]):
        pairs = read_clip_frames(seq, frames)
        pictures = [Image.fromarray(image) for image, _ in pairs]
        label_maps = np.stack([ids for _, ids in pairs])
        masks = label_maps[:, None] == np.array(ids)[None, :, None, None]
        return augment_clip(pictures, torch.from_numpy(masks).to(torch.uint8), self.image_size,
                            self.hflip_prob, self.augmentation)


def collate_clips(items: list[dict]) -> dict:
    """V clips -> {"images": T x V x 3 x S x S uint8, "masks": T x B x 1 x S x S bool (all clips'
    objects), "object_video": B (each object's clip), "names"}; {"error": the first clip's} when
    a clip could not be read."""
    errors = [item["error"] for item in items if "error" in item]
    if errors:
        return {"error": errors[0]}
    images = torch.stack([item["images"] for item in items], dim=1)
    masks = torch.cat([item["masks"] for item in items], dim=1)[:, :, None]
    owner = torch.cat([torch.full((item["masks"].shape[1],), v, dtype=torch.long)
                       for v, item in enumerate(items)])
    return {"images": images, "masks": masks, "object_video": owner,
            "names": [item["name"] for item in items]}
