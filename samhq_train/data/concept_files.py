"""Where a concept fine-tune's COCO jsons and images are (conf/data/coco_concept.yaml: a Roboflow
export's root/train/ and root/valid/, or explicit paths), checked to be there without reading
them: samhq-train's check stage (run/checks.py) refuses a missing one before the training stack
is imported, and the run (training/concept/loaders.py) takes the paths from here."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from samhq_train.errors import ConfigValueError

from .demo_concepts import ANNOTATIONS
from .write_once import check_generated_root


class DataFiles(NamedTuple):
    train_annotation_file: Path
    train_image_dir: Path
    val_annotation_file: Path | None
    val_image_dir: Path | None


def _absolute(path) -> Path:
    """A config path made absolute against the directory the command was started in."""
    from hydra.utils import to_absolute_path

    return Path(to_absolute_path(str(path)))


def check_root(root: Path) -> None:
    """data.root a folder that is there (a Roboflow COCO export)."""
    if root.is_file():
        raise ConfigValueError(
            f"data.root={root} is a file: give the folder holding train/ and valid/ (each with "
            f"{ANNOTATIONS}), or the json itself as data.train_annotation_file")
    if not root.is_dir():
        raise ConfigValueError(
            f"data.root={root} does not exist: give the folder holding train/ and valid/ (each "
            f"with {ANNOTATIONS})")


def _split_files(data, split: str, required: bool) -> tuple[Path | None, Path | None]:
    """(json, image folder) of the train or val split: data.<split>_annotation_file /
    data.<split>_image_dir, else <data.root>/<data.<split>_split>/_annotations.coco.json."""
    annotation, images = data.get(f"{split}_annotation_file"), data.get(f"{split}_image_dir")
    root, folder = data.get("root"), data.get(f"{split}_split")
    if annotation:
        annotation = _absolute(annotation)
        if annotation.is_dir():
            raise ConfigValueError(
                f"data.{split}_annotation_file: {annotation} is a folder: give its COCO json "
                f"(e.g. {annotation / ANNOTATIONS}), or the folder above it as data.root")
        images = _absolute(images) if images else annotation.parent
    elif root and folder:
        check_root(_absolute(root))
        images = _absolute(root) / folder
        annotation = images / ANNOTATIONS
        if not annotation.is_file() and not required:
            return None, None  # a Roboflow export without a validation split
    elif required:
        raise ConfigValueError(
            "data.root is not set: pass data.root=/path/to/export (a Roboflow COCO export: "
            "train/ and valid/ with _annotations.coco.json) or data.train_annotation_file=...")
    else:
        return None, None
    key = f"data.{split}_annotation_file" if data.get(f"{split}_annotation_file") else "data.root"
    if not annotation.is_file():
        inside = annotation.parent.parent / ANNOTATIONS  # data.root given as a split's folder
        hint = ""
        if key == "data.root" and inside.is_file():
            hint = (f"; data.root holds {ANNOTATIONS} itself: give the folder above it, or "
                    f"data.train_annotation_file={inside}")
        raise ConfigValueError(f"{key}: {annotation} does not exist (a COCO json){hint}")
    if not images.is_dir():
        raise ConfigValueError(f"data.{split}_image_dir: {images} is not a folder")
    return annotation, images


def data_files(data) -> DataFiles:
    """The data's files, checked to exist (nothing read)."""
    return DataFiles(*_split_files(data, "train", True), *_split_files(data, "val", False))


def check_concept_data(data) -> None:
    """samhq-train's check stage for a concept run: its files are there (data_files); the
    concept demo's (data.concept_demo), written under data.root on first use by the run
    (loaders.write_concept_demo), need a root the demo may write (not the user's files:
    write_once.check_generated_root)."""
    if data.get("concept_demo") and data.get("root"):
        check_generated_root(_absolute(data.root))
        return
    data_files(data)
