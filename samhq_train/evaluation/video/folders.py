"""The ground-truth and prediction folders of a video object segmentation evaluation, checked
before any frame is scored.

A root is a folder of sequences, <root>/<sequence>/<frame>.png, or a DAVIS root whose sequences
are <root>/Annotations/480p/<sequence>/ (those listed in <root>/ImageSets/2017/<split>.txt when
it exists), or <root>/Annotations/<sequence>/, or <root>/Annotations_6fps/<video>/ (SA-V); a GT
folder of PNGs alone is one sequence (the prediction: the --pred folder itself). A video list
(--video-list: SA-V's sav_val.txt / sav_test.txt, DAVIS's ImageSets/2017/val.txt) names the
sequences instead, each checked to be there. Here the DAVIS
layout (sav.py: SA-V's per-object folders; plan.py: which of the two a root holds); its masks are
indexed (palette, mode P) PNGs, DAVIS style:
pixel value = object id, 0 = background; the values are read, never the palette's colours.
The GT's frames are its PNGs in frame order (user_files.frame_order: by name, numbers as numbers,
2.png before 10.png); the prediction needs a PNG of the same name for every scored frame (extra
predicted frames and sequences are not read). Every problem is one
VideoInputError line naming the file or folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from samhq_train.errors import UserError
from samhq_train.image_header import ImageFileError
from samhq_train.mask_png import mask_png_header, read_mask_png
from samhq_train.user_files import file_problem, frame_order, not_a_file, not_a_folder, read_text

DAVIS_MASKS = Path("Annotations", "480p")
DAVIS_SPLITS = Path("ImageSets", "2017")
SAV_MASKS = Path("Annotations_6fps")  # SA-V val / test
MASK_HINT = "save masks as indexed (palette, mode P) PNGs whose pixel values are object ids"
JPEG_SUFFIXES = (".jpg", ".jpeg")
JPEG_WHY = "JPEG compression changes pixel values, so the object ids cannot be read back"
BINARY_HINT = "save each object's mask as a one-channel PNG (mode P, L or 1), 0 background"


def _hint(modes: tuple[str, ...]) -> str:
    return MASK_HINT if modes == ("P",) else BINARY_HINT


class VideoInputError(UserError, ValueError):
    """A ground-truth or prediction folder or file that cannot be evaluated; names it."""


@dataclass(frozen=True)
class SequenceFrames:
    """The frames of one sequence that are scored: GT and prediction files, pairwise."""

    name: str
    gt: list[Path]
    pred: list[Path]


@dataclass(frozen=True)
class VideoList:
    """The sequences a list file names (one a line, as sav_val.txt), in its order."""

    path: Path
    names: list[str]


def require_pred_folder(pred_dir: Path, gt_dir: Path, what: str, layout: str = "") -> None:
    """VideoInputError unless the prediction's folder of a GT sequence, object or video (`what`:
    "video sav_000001") is there; `layout`: what goes in it, for the message."""
    if not pred_dir.is_dir():
        why = not_a_folder(pred_dir) if pred_dir.exists() else "missing"
        raise VideoInputError(
            f"{pred_dir}: {why}: the GT has {what} ({gt_dir}); write its predicted masks "
            f"there{layout}"
        )


def read_video_list(path: str | Path) -> VideoList:
    """A list of video names, one a line (surrounding blanks and empty lines ignored, as
    vos_inference.py's --video_list_file); VideoInputError for a missing or unreadable file, a
    name that is not a plain folder name, a repeated name or no name."""
    path = Path(path)
    if not path.is_file():
        raise VideoInputError(
            f"--video-list {path}: {file_problem(path)}; give a text file of video names, one a "
            "line (as SA-V's sav_val.txt)"
        )
    try:
        lines = read_text(path).splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise VideoInputError(f"--video-list {path}: not a readable text file ({err})") from None
    names = [line.strip() for line in lines if line.strip()]
    seen: set[str] = set()
    for name in names:
        if name in (".", "..") or "/" in name or "\\" in name:
            raise VideoInputError(
                f"--video-list {path}: {name!r} is not a video folder's name; list one name a line"
            )
        if name in seen:
            raise VideoInputError(f"--video-list {path} lists {name} twice; list each video once")
        seen.add(name)
    if not names:
        raise VideoInputError(f"--video-list {path} lists no video; one name a line")
    return VideoList(path, names)


def subfolders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def pngs(folder: Path) -> list[Path]:
    """The PNG files of a folder in frame order (2.png before 10.png), hidden names left out (as
    subfolders: macOS's ._<frame>.png resource files are no frames); VideoInputError naming an
    entry called *.png that is no regular file (a folder, a pipe, a broken link), which would
    else drop a frame unseen."""
    found = sorted(
        (p for p in folder.iterdir() if p.suffix.lower() == ".png" and not p.name.startswith(".")),
        key=frame_order,
    )
    for path in found:
        if not path.is_file():
            raise VideoInputError(
                f"{path}: {not_a_file(path)}, among the masks of {folder}: move it out of the "
                "folder (or replace it with the frame's mask PNG)"
            )
    return found


def sequence_root(root: Path) -> Path:
    """Where the sequence folders of `root` are (DAVIS layouts resolved)."""
    for inner in (root / DAVIS_MASKS, root / "Annotations", root / SAV_MASKS):
        if inner.is_dir():
            return inner
    return root


def gt_sequences(
    root: Path, split: str, videos: VideoList | None = None
) -> tuple[Path, list[str]]:
    """(folder holding the sequences, their names) of the ground truth: those `videos` lists
    (instead of a DAVIS split file), else every sequence."""
    if not root.is_dir():
        raise VideoInputError(
            f"--gt {root}: {not_a_folder(root)}; give the ground-truth masks' root"
        )
    folder = sequence_root(root)
    split_file = root / DAVIS_SPLITS / f"{split}.txt"
    if videos is not None:
        names = videos.names
        for name in names:
            if not (folder / name).is_dir():
                raise VideoInputError(
                    f"--video-list {videos.path} lists {name}, but {folder / name} is not a "
                    "folder: give the list that matches --gt, or restore the video"
                )
    elif folder == root / DAVIS_MASKS and split_file.is_file():
        names = [line.strip() for line in read_text(split_file).splitlines() if line.strip()]
        for name in names:
            if not (folder / name).is_dir():
                raise VideoInputError(
                    f"{split_file} lists {name}, but {folder / name} is not a folder: restore it "
                    "or give the split that matches the masks (--split)"
                )
    else:
        names = subfolders(folder)
    if not names:
        raise VideoInputError(
            f"--gt {root} holds no sequence folders: give a folder of <sequence>/<frame>.png "
            f"masks or a DAVIS root ({DAVIS_MASKS}/<sequence>/)"
        )
    return folder, names


def _header(path: Path, modes: tuple[str, ...] = ("P",)) -> tuple[int, int]:
    """(width, height) of a mask PNG, from its header; else VideoInputError."""
    try:
        return mask_png_header(path, modes)
    except ImageFileError as err:
        raise VideoInputError(f"{err}; {_hint(modes)}") from None


def _scored_frames(gt_dir: Path, skip_first_and_last: bool) -> list[Path]:
    frames = pngs(gt_dir)
    if not frames and any(p.suffix.lower() in JPEG_SUFFIXES for p in gt_dir.iterdir()):
        raise VideoInputError(
            f"{gt_dir} holds JPEG images, no PNG masks: --gt is the annotations' root (DAVIS: "
            f"{DAVIS_MASKS}/, or the DAVIS root itself), not the frames'"
        )
    if not frames:
        raise VideoInputError(f"{gt_dir} holds no PNG masks: add the sequence's masks or remove it")
    if not skip_first_and_last:
        return frames
    if len(frames) < 3:
        raise VideoInputError(
            f"{gt_dir} has {len(frames)} frame(s): with the first and last skipped none is "
            "scored; pass --score-all-frames or remove the sequence"
        )
    return frames[1:-1]


def _without_pngs(pred_dir: Path, gt_dir: Path) -> str:
    """Why a prediction folder without PNGs cannot be scored, from what it holds instead."""
    names = sorted(p.name for p in pred_dir.iterdir() if not p.name.startswith("."))
    jpegs = [n for n in names if Path(n).suffix.lower() in JPEG_SUFFIXES]
    if jpegs:
        return (
            f"{pred_dir} holds JPEG files ({jpegs[0]}, ...), no PNG masks: {JPEG_WHY}; save the "
            "predicted masks as PNGs named as the GT's frames"
        )
    folders = subfolders(pred_dir)
    if folders:
        return (
            f"{pred_dir} holds folders ({folders[0]}/, ...), no PNG masks, but its GT {gt_dir} "
            "holds PNG frames: give the folder that holds the predicted <frame>.png masks"
        )
    return f"{pred_dir} holds no PNG masks: write the predicted masks there, named as in {gt_dir}"


def named_otherwise(path: Path) -> Path | None:
    """A file beside the missing frame `path` that is likely meant as it: its name in another
    case or suffix (00001.PNG, 00001.jpg) or its number written another way (1.png)."""
    stem = path.stem
    number = int(stem) if stem.isascii() and stem.isdigit() else None
    for other in sorted(path.parent.iterdir()):
        alike = other.stem.lower() == stem.lower() or (
            number is not None and other.stem.isascii() and other.stem.isdigit()
            and int(other.stem) == number
        )
        if alike and not other.name.startswith(".") and other.name != path.name:
            return other
    return None


def other_name_hint(path: Path, frame: str) -> str | None:
    """What to do when the missing mask `path` is in its folder under another name (named_
    otherwise): the clause after the path; `frame` names the file it should be called after."""
    other = named_otherwise(path)
    if other is None:
        return None
    if other.suffix.lower() in JPEG_SUFFIXES:
        return f"missing; the folder has {other.name}: {JPEG_WHY}; save it as {path.name}"
    return f"missing; the folder has {other.name}: name each mask exactly as {frame}"


def _missing_frame(pred_file: Path, gt_file: Path) -> str:
    """The line for a scored GT frame without its predicted PNG."""
    hint = other_name_hint(pred_file, f"its GT frame ({gt_file}), zero padding and .png alike")
    if hint is not None:
        return f"{pred_file}: {hint}"
    return (
        f"{pred_file}: missing: every scored GT frame ({gt_file}) needs a predicted mask of the "
        "same name"
    )


def plan_sequence(
    name: str, gt_dir: Path, pred_dir: Path, skip_first_and_last: bool,
    modes: tuple[str, ...] = ("P",), what: str = "sequence",
) -> SequenceFrames:
    """The scored frames of one sequence (or SA-V object: `what`), every file's header checked
    (a PNG of one of `modes`)."""
    gt = _scored_frames(gt_dir, skip_first_and_last)
    require_pred_folder(pred_dir, gt_dir, f"{what} {name}")
    if not pngs(pred_dir):
        raise VideoInputError(_without_pngs(pred_dir, gt_dir))
    pred = [pred_dir / frame.name for frame in gt]
    for gt_file, pred_file in zip(gt, pred):
        if not pred_file.is_file():
            raise VideoInputError(_missing_frame(pred_file, gt_file))
        gt_size, pred_size = _header(gt_file, modes), _header(pred_file, modes)
        if gt_size != pred_size:
            raise VideoInputError(
                f"{pred_file}: {pred_size[0]}x{pred_size[1]} pixels, its GT {gt_file} is "
                f"{gt_size[0]}x{gt_size[1]}: write predictions at the GT's size"
            )
    return SequenceFrames(name, gt, pred)


def read_indexed(path: Path, modes: tuple[str, ...] = ("P",)) -> np.ndarray:
    """The object ids (H, W) of an indexed PNG (or the values of a mode `modes` mask)."""
    try:
        return read_mask_png(path, modes).values
    except ImageFileError as err:
        raise VideoInputError(f"{err}; {_hint(modes)}") from None


__all__ = [
    "SequenceFrames", "VideoInputError", "VideoList", "gt_sequences",
    "plan_sequence", "pngs", "read_indexed", "read_video_list", "require_pred_folder",
    "sequence_root", "subfolders",
]
