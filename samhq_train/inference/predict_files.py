"""What samhq-predict reads and writes: the input images (list_images), the output names
(output_stems, output_files), PNG files, the listing (predictions.json, kept on disk as
predictions.jsonl while the run goes) and the one-line refusals and failures of its outputs.
"""

from __future__ import annotations

import errno
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from samhq_train.files import DiskFullError, atomic_write
from samhq_train.imaging import IMAGE_SUFFIXES
from samhq_train.inference.export import OutputError
from samhq_train.inference.predictor import ImageReadError
from samhq_train.inference.prompt_file import ImagePrompts
from samhq_train.user_files import is_hidden

RESULTS_FILE = "predictions.json"
JOURNAL_FILE = "predictions.jsonl"  # the listing while the run goes (one json line per image)
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def list_images(inputs: list[str]) -> list[Path]:
    """The image files of `inputs` (files, and folders' images sorted by name, hidden files left
    out: user_files.is_hidden), each once; a note counts the subfolders of a folder, which are not
    read."""
    images = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            found = [p for p in found if p.is_file() and not is_hidden(p)]
            note_subfolders(item)
            if not found:
                raise ImageReadError(
                    f"folder {item} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
                )
            images += found
        elif item.is_file():
            images.append(item)
        else:
            raise ImageReadError(f"image file not found: {item}")
    unique = {}
    for image in images:
        unique.setdefault(image.resolve(), image)
    return list(unique.values())


def note_subfolders(folder: Path) -> None:
    """One note line when `folder` has subfolders: samhq-predict reads one level only."""
    subfolders = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if subfolders:
        names = ", ".join(subfolders[:3]) + (", ..." if len(subfolders) > 3 else "")
        print(
            f"note: {folder}: {len(subfolders)} subfolder(s) not read ({names}); only the "
            "folder's own images are: pass a subfolder as an input to predict on it",
            file=sys.stderr,
        )


def output_stems(images: list[Path]) -> dict[Path, str]:
    """A distinct output stem per image, deterministic in the input order: the image's stem, or
    for stems shared by several inputs (compared case-insensitively) <stem>_<ext>, then
    <folder>_<stem>_<ext>, then a number."""
    groups: dict[str, list[Path]] = {}
    for image in images:
        groups.setdefault(image.stem.lower(), []).append(image)
    used = {stem for stem, group in groups.items() if len(group) == 1}
    stems = {}
    for image in images:
        if len(groups[image.stem.lower()]) == 1:
            stems[image] = image.stem
            continue
        ext = image.suffix.lstrip(".").lower()
        candidates = [f"{image.stem}_{ext}", f"{image.parent.name}_{image.stem}_{ext}"]
        candidates += [f"{image.stem}_{ext}_{i}" for i in range(2, len(images) + 2)]
        stems[image] = next(c for c in candidates if c.lower() not in used)
        used.add(stems[image].lower())
    return stems


def output_files(out_dir: Path, stem: str, prompts: ImagePrompts) -> tuple[list[Path], Path]:
    """<stem>_mask.png for one prompt, else <stem>_mask<i>.png for box entry i; the overlay."""
    masks = (
        [out_dir / f"{stem}_mask.png"]
        if prompts.box_entries <= 1
        else [out_dir / f"{stem}_mask{i}.png" for i in prompts.box_ids]
    )
    return masks, out_dir / f"{stem}_overlay.png"


def write_png(path: Path, image: np.ndarray) -> None:
    """Write a PNG atomically (a temporary file renamed over the target); an RGB image is turned
    to OpenCV's BGR in place (the overlay is not used after)."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR, dst=image)
    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise OutputError(f"could not encode {path} as PNG")
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data.tobytes()))


def taken_hint(out: Path) -> str:
    """How out of a refusal of existing outputs: --overwrite, or a new folder (named)."""
    fresh = next(
        out.with_name(f"{out.name}_{i}")
        for i in range(2, 10_000)
        if not out.with_name(f"{out.name}_{i}").exists()
    )
    return (
        f"the outputs of an earlier run; pass --overwrite to replace them, or give a new "
        f"--out (e.g. --out {fresh})"
    )


class Listing:
    """predictions.json's entries, kept on disk while the run goes: each finished image is one
    line appended to predictions.jsonl; finish() writes predictions.json (atomically) and removes
    the .jsonl. When that fails (a full disk), the .jsonl stays and says what was written."""

    def __init__(self, out_dir: Path):
        self.journal = out_dir / JOURNAL_FILE
        self.final = out_dir / RESULTS_FILE
        self.handle = None

    def add(self, image: str, result: dict) -> None:
        if self.handle is None:
            self.handle = open(self.journal, "w")  # noqa: SIM115 (open for the run)
        self.handle.write(json.dumps({"image": image, **result}) + "\n")
        self.handle.flush()

    def finish(self, results: dict) -> Path | None:
        """Where the listing is: predictions.json, the .jsonl when it could not be written, or
        None (nothing written)."""
        if self.handle is not None:
            try:
                self.handle.close()
            except OSError:
                pass
        if not results:
            self.journal.unlink(missing_ok=True)
            return None
        text = json.dumps(results, indent=2) + "\n"
        try:
            atomic_write(self.final, lambda tmp: Path(tmp).write_text(text))
        except OSError:
            return self.journal if self.journal.is_file() else None
        self.journal.unlink(missing_ok=True)
        return self.final


def disk_full_error(err: OSError, finished: int, listing: Path | None) -> OutputError:
    """The one line for a full disk: what failed, what is listed, what to do."""
    listed = (
        f"the {finished} finished image(s) are listed in {listing}"
        if listing
        else "no image was finished"
    )
    if isinstance(err, DiskFullError):  # atomic_write's line: the file and the space
        return OutputError(f"{err}; {listed}")
    where = f" writing {err.filename}" if err.filename else ""
    return OutputError(
        f"no space left on the device{where}: {listed}; free space (or give an --out on "
        "another disk) and run the remaining images again"
    )
