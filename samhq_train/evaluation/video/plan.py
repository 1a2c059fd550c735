"""Which layout a ground-truth root holds, and every sequence to score, checked before any frame
is scored: DAVIS (<sequence>/<frame>.png, indexed masks of object ids; folders.py) or SA-V
(<video>/<object>/<frame>.png, one binary mask per object; sav.py). "auto" tells them apart by
the sequence folders: all holding PNG frames is DAVIS, all holding object folders SA-V; a root
with both kinds (or a folder with both) is one VideoInputError line asking for --layout."""

from __future__ import annotations

from pathlib import Path

from samhq_train.user_files import not_a_folder

from .folders import (
    SequenceFrames,
    VideoInputError,
    VideoList,
    gt_sequences,
    plan_sequence,
    pngs,
    sequence_root,
    subfolders,
)
from .sav import SavSequence, plan_sav_sequence

LAYOUTS = ("auto", "davis", "sav")


def detect_layout(folder: Path, names: list[str]) -> str:
    """"davis" or "sav" for the sequence folders `names` of `folder`; else VideoInputError."""
    kinds: dict[str, str] = {}
    for name in names:
        has_objects, has_frames = bool(subfolders(folder / name)), bool(pngs(folder / name))
        if has_objects and has_frames:
            raise VideoInputError(
                f"{folder / name} holds both PNG frames (DAVIS) and subfolders (SA-V objects): "
                "remove the ones that do not belong, or pass --layout davis or --layout sav"
            )
        if has_objects or has_frames:
            kinds.setdefault("sav" if has_objects else "davis", name)
    if len(kinds) == 2:
        raise VideoInputError(
            f"{folder}: cannot tell the layout: {kinds['davis']}/ holds PNG frames (DAVIS, "
            f"<sequence>/<frame>.png) but {kinds['sav']}/ object folders (SA-V, "
            "<video>/<object>/<frame>.png); pass --layout davis or --layout sav"
        )
    return next(iter(kinds), "davis")  # no masks anywhere: the DAVIS checks name the folder


def gt_layout(
    gt_root: str | Path, split: str = "val", layout: str = "auto", videos: VideoList | None = None
) -> str:
    """"davis" or "sav": `layout` itself, or (auto) what the GT root's sequences (those
    `videos` lists) hold; a GT folder of PNGs alone (one sequence) is DAVIS."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout {layout!r}: one of {LAYOUTS}")
    if videos is not None and _one_sequence(Path(gt_root)):
        raise VideoInputError(
            f"--gt {gt_root} is one sequence's masks; --video-list goes with a root of videos"
        )
    if layout != "auto":
        return layout
    if _one_sequence(Path(gt_root)):
        return "davis"
    return detect_layout(*gt_sequences(Path(gt_root), split, videos))


def _one_sequence(gt_root: Path) -> bool:
    return gt_root.is_dir() and not subfolders(gt_root) and bool(pngs(gt_root))


def plan_evaluation(
    gt_root: str | Path, pred_root: str | Path, *, skip_first_and_last: bool = True,
    split: str = "val", layout: str = "auto", videos: VideoList | None = None,
) -> list[SequenceFrames] | list[SavSequence]:
    """Every sequence of the GT (those `videos` lists) with its scored frames; all files
    checked, none decoded. A GT folder of PNGs without subfolders is one sequence, its
    prediction the folder --pred."""
    gt_root, pred_root = Path(gt_root), Path(pred_root)
    layout = gt_layout(gt_root, split, layout, videos)
    one_sequence = layout == "davis" and _one_sequence(gt_root)
    gt_folder, names = (gt_root, []) if one_sequence else gt_sequences(gt_root, split, videos)
    if not pred_root.is_dir():
        raise VideoInputError(
            f"--pred {pred_root}: {not_a_folder(pred_root)}; give the predictions' root"
        )
    if one_sequence:
        if not pngs(pred_root) and subfolders(pred_root):
            raise VideoInputError(
                f"--pred {pred_root} holds folders ({subfolders(pred_root)[0]}/, ...), no PNG "
                f"masks, but --gt {gt_root} is one sequence's masks: give --pred that "
                f"sequence's folder (e.g. {pred_root / subfolders(pred_root)[0]})"
            )
        return [plan_sequence(gt_root.name, gt_root, pred_root, skip_first_and_last)]
    plan = plan_sav_sequence if layout == "sav" else plan_sequence
    pred_folder = sequence_root(pred_root)
    if pngs(pred_folder) and not subfolders(pred_folder):
        raise VideoInputError(
            f"--pred {pred_root} holds PNG masks (one sequence's), but --gt {gt_root} holds "
            f"sequence folders ({names[0]}/, ...): give --pred the folder holding "
            "<sequence>/ folders, or --gt that one sequence's folder"
        )
    return [
        plan(name, gt_folder / name, pred_folder / name, skip_first_and_last) for name in names
    ]


__all__ = ["LAYOUTS", "detect_layout", "gt_layout", "plan_evaluation"]
