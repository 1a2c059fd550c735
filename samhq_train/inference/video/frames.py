"""A video as a folder of frames (JPEG or PNG, one per file) or a video file, read as the official
SAM 2 video predictor reads its JPEG folder: each frame squashed to the model's S x S with PIL's
resize (bicubic on 8-bit RGB), kept as 0-255 values. A video file's frames are decoded in order by
OpenCV (its FFmpeg backend) and enter the model exactly as the same RGB frames saved as PNGs.

A video file is decoded once, by open_video (which must count and check its frames before a model
is loaded): its frames are held at the video's size, H x W x 3 uint8 each, until load_video has
resized them to the model's (and dropped each as it goes unless kept for overlays). Memory: the
whole video at its size, 3 H W bytes a frame (480p: 1.2 MB, 1080p: 6.2 MB) besides the 3 S S
bytes a frame (1024: 3.1 MB) that every video is held at for the model; a folder of frames is
read one file at a time instead, so for a very long video extract its frames to a folder.

A folder's frames are read by imaging.read_image (the same pixels and refusals as every other
reader of a user's images; for 8-bit JPEG and PNG frames the pixels PIL's convert("RGB") gives).
open_video checks every frame before a model is loaded: its header (pixel limit, a file that is
no image) and its end mark (a frame cut short by an interrupted copy), so a bad frame is one
FramesError line naming it, not an error midway through loading the video.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from samhq_train.errors import UserError
from samhq_train.image_header import ImageFileError, ImageMemoryError, read_header
from samhq_train.imaging import FRAME_SUFFIXES, check_complete, frame_entries, read_image
from samhq_train.user_files import is_hidden, not_a_file

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")
# FFmpeg logs its own lines for a file it cannot read ("moov atom not found"); FramesError says it
# in one line instead. OpenCV reads this when it first uses FFmpeg; a user's own setting is kept.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
GIVE_FRAMES = f"give a folder of JPEG/PNG frames or a video file ({', '.join(VIDEO_SUFFIXES)})"


class FramesError(UserError):
    """A frames folder that cannot be read as a video; the message names it."""


def list_frames(folder: str | Path) -> list[Path]:
    """The frame files of a folder, in order (imaging.frame_entries, as video training lists a
    sequence's); FramesError for a missing or empty folder or two frames of one name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FramesError(f"{folder}: frames folder not found; {GIVE_FRAMES}")
    try:
        entries = frame_entries(folder)
    except ImageFileError as err:
        raise FramesError(str(err)) from None
    for _, entry in entries:  # skipping one would shift every later frame's index
        if not entry.is_file():  # told by the listing: no stat per frame
            path = Path(entry.path)
            raise FramesError(
                f"{path}: {not_a_file(path)}, among the frames of {folder}: move it out of the "
                "folder (or replace it with the frame's image file)"
            )
    if not entries:
        raise FramesError(
            f"{folder} holds no frames ({', '.join(FRAME_SUFFIXES)} files){_not_frames(folder)}"
        )
    return [Path(entry.path) for _, entry in entries]


def _not_frames(folder: Path) -> str:
    """What a folder without frames holds instead, for its refusal: a video file, subfolders
    (a folder of videos; one is read at a time), hidden files only."""
    entries = sorted(folder.iterdir())
    videos = [p.name for p in entries if is_video_file(p) and not is_hidden(p)]
    if videos:
        return f"; it holds the video file {videos[0]}: give that file instead"
    folders = [p.name for p in entries if p.is_dir() and not is_hidden(p)]
    if folders:
        return f"; its subfolders are not read: give one video's folder, e.g. {folder / folders[0]}"
    if entries and all(is_hidden(p) for p in entries):
        return " (hidden files such as a Mac's '._<name>' files are not frames)"
    return ""


def frame_size(paths: list[Path]) -> tuple[int, int]:
    """(H, W) shared by every frame, read from the file headers (checked_frame_size);
    FramesError naming the first unreadable frame or the first of another size."""
    sizes = []
    for path in paths:
        sizes.append(checked_frame_size(path))
        if sizes[-1] != sizes[0]:
            raise FramesError(
                f"{path} is {sizes[-1][1]}x{sizes[-1][0]} but {paths[0].name} is "
                f"{sizes[0][1]}x{sizes[0][0]}: all frames of a video must have one size"
            )
    return sizes[0]


def checked_frame_size(path: Path) -> tuple[int, int]:
    """(H, W) of a frame file from its header, without decoding it; FramesError naming it when
    it is over the pixel limit, no image (read_image's refusal) or cut short (its end mark
    missing: an interrupted copy)."""
    try:
        header = read_header(path, "frame")
        if header is None:  # PIL cannot open it: read_image says what it is (or reads it)
            return read_frame(path).shape[:2]
        check_complete(path, "frame")
    except ImageFileError as err:
        raise FramesError(str(err)) from None
    return header.height, header.width


def read_frame(path: Path) -> np.ndarray:
    """A frame file as H x W x 3 uint8 RGB (imaging.read_image); FramesError naming it when it
    cannot be read."""
    try:
        return read_image(path, what="frame")
    except (ImageFileError, ImageMemoryError) as err:
        raise FramesError(str(err)) from None


def load_frames(paths: list[Path], image_size: int) -> torch.Tensor:
    """N x S x S x 3 uint8: each frame as RGB (read_frame), resized to S x S by PIL (the official
    loader's rule, which differs from the image predictor's antialiased bilinear resize)."""
    frames = torch.empty(len(paths), image_size, image_size, 3, dtype=torch.uint8)
    for i, path in enumerate(paths):
        resized = Image.fromarray(read_frame(path)).resize((image_size, image_size))
        frames[i] = torch.from_numpy(np.array(resized))
    return frames


@dataclass(frozen=True)
class VideoFrames:
    """A video checked but not yet at the model's size: its frame files (None for a video file),
    the frames' names (a video file's: 00000, 00001, ...), their (H, W), and a video file's
    decoded frames (H x W x 3 uint8 RGB; None for a folder), which load_video drops one by one
    once resized unless keep_decoded (then they stay for overlays)."""

    source: Path
    files: list[Path] | None
    names: list[str]
    size: tuple[int, int]
    decoded: list[np.ndarray | None] | None = None
    keep_decoded: bool = False

    def __len__(self) -> int:
        return len(self.names)

    def image(self, frame: int) -> np.ndarray:
        """Frame `frame` at the video's size, H x W x 3 uint8 RGB."""
        if self.files is not None:
            return read_frame(self.files[frame])
        image = self.decoded[frame]
        if image is None:
            raise RuntimeError(f"{self.source}: frame {frame} was dropped (keep_decoded=False)")
        return image


def is_video_file(path: str | Path) -> bool:
    return not Path(path).is_dir() and Path(path).suffix.lower() in VIDEO_SUFFIXES


def open_video(
    path: str | Path, keep_decoded: bool = False, max_frames: int | None = None
) -> VideoFrames:
    """A frames folder or a video file (its first max_frames frames when given), checked
    (FramesError naming it) but not resized to the model's size; a video file is decoded here,
    once, and no further than max_frames (see VideoFrames for keep_decoded)."""
    path = Path(path)
    if not is_video_file(path):
        if path.is_file():
            raise FramesError(f"{path}: not a frames folder nor a video file; {GIVE_FRAMES}")
        files = list_frames(path)[:max_frames]
        return VideoFrames(path, files, [p.stem for p in files], frame_size(files))
    with contextlib.closing(decoded_frames(path)) as frames:
        decoded = list(itertools.islice(frames, max_frames))
    if not decoded:
        raise FramesError(f"{path}: no frames could be decoded; {GIVE_FRAMES}")
    names = [f"{i:05d}" for i in range(len(decoded))]
    return VideoFrames(path, None, names, decoded[0].shape[:2], decoded, keep_decoded)


def decoded_frames(path: Path) -> Iterator[np.ndarray]:
    """A video file's frames in order, each H x W x 3 uint8 RGB; FramesError for a missing file,
    one OpenCV cannot open, or a frame of another size than the first."""
    if not path.is_file():
        raise FramesError(f"{path}: video file not found; {GIVE_FRAMES}")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise FramesError(f"{path}: not a readable video file; {GIVE_FRAMES}")
        first = None
        while True:
            ok, bgr = capture.read()
            if not ok:
                return
            first = bgr.shape if first is None else first
            if bgr.shape != first:
                raise FramesError(f"{path}: frames change size ({first[1]}x{first[0]} to "
                                  f"{bgr.shape[1]}x{bgr.shape[0]}); re-encode it at one size")
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


def load_video(video: VideoFrames, image_size: int) -> torch.Tensor:
    """load_frames for a folder or a video file: N x S x S x 3 uint8 (a video file's decoded
    frames go through PIL as a PNG's would, each dropped once resized unless keep_decoded)."""
    if video.files is not None:
        return load_frames(video.files, image_size)
    frames = torch.empty(len(video), image_size, image_size, 3, dtype=torch.uint8)
    for i in range(len(video)):
        resized = Image.fromarray(video.image(i)).resize((image_size, image_size))
        frames[i] = torch.from_numpy(np.array(resized))
        if not video.keep_decoded:
            video.decoded[i] = None
    return frames
