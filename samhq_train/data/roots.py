"""Where the data config points: data.root and the folders and files each set names, checked
without listing or reading them (the datamodule and the check stages of samhq-train,
run/checks.py, and samhq-evaluate share these)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .datasets import SOURCE_TYPES
from .image_files import DataError
from .set_paths import check_set_dir, check_set_file, resolve_set_path
from .sets import set_name
from .write_once import check_generated_root


def data_root_path(root) -> Path | None:
    """data.root as an absolute path (None: not set), `~` expanded, relative ones from the launch
    directory even if Hydra changed into its run directory."""
    if root is None:
        return None
    from hydra.utils import to_absolute_path

    return Path(to_absolute_path(str(Path(str(root)).expanduser())))


def plain_data_config(cfg: Mapping) -> dict:
    """The ``data`` config group as a plain dict (a DictConfig resolved): DataError naming a key
    that must be set (``???``)."""
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import MissingMandatoryValue

    if not isinstance(cfg, DictConfig):
        return dict(cfg)
    try:
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as e:
        raise DataError(
            f"data config: {e.full_key} must be set (e.g. data.root=/path/to/data)"
        ) from None


def check_data_root(root: Path | None, *, written_on_first_use: bool = False) -> None:
    """DataError unless data.root (None: not set, the sets' folders are absolute) is a folder;
    written_on_first_use (the demo data): it may not be there yet, but must not be a file."""
    if root is not None and root.exists() and not root.is_dir():
        raise DataError(
            f"data.root={root} is a file, not a folder: data.root takes the folder that holds "
            "the sets (data/README.md shows the layout)"
        )
    if root is not None and not written_on_first_use and not root.is_dir():
        raise DataError(
            f"data root not found: {root}; put the data there (data/README.md shows the layout) "
            "or pass data.root=/path/to/data"
        )


def check_set_paths(spec: Mapping, root: Path | None) -> None:
    """The folders and the annotation file a set's config entry names are there (nothing listed
    or read): DataError naming the first that is not, as its source would. An entry that is
    malformed otherwise is left to build_source."""
    kind = spec.get("type", "folder")
    if kind not in SOURCE_TYPES:
        return
    keys = ("image_dir", "mask_dir", "annotation_file")
    paths = {k: resolve_set_path(spec[k], root, spec.get("name")) for k in keys if k in spec}
    named_by = paths.get("annotation_file") if kind == "coco" else paths.get("image_dir")
    if named_by is None:  # build_source names the missing key
        return
    name = spec.get("name") or (named_by.stem if kind == "coco" else named_by.name)
    for key, what in (("image_dir", "image folder"), ("mask_dir", "mask folder")):
        if key in paths:
            check_set_dir(paths[key], what, name)
    if "annotation_file" in paths:
        check_set_file(paths["annotation_file"], "annotation file", name)


def check_data_sets(data: Mapping, keys: tuple[str, ...], wanted=None) -> None:
    """What a run reads of the ``data`` group (a plain dict, plain_data_config) is there:
    data.root and each set of the data.<key> lists of `keys` (check_set_paths; with `wanted`,
    the sets of those names only); with data.demo (generated on first use) a root that is not
    a file and that the generator may write (write_once.check_generated_root). DataError naming
    the first missing one. Lists that are not lists of sets are left to the datamodule, which
    names the key. samhq-train checks its training and validation sets, samhq-evaluate those
    it evaluates (evaluation/checks.py)."""
    root = data_root_path(data.get("root"))
    if data.get("demo") is not None:
        check_data_root(root, written_on_first_use=True)
        if root is not None:
            check_generated_root(root)
        return
    check_data_root(root)
    for key in keys:
        specs = data.get(key)
        if isinstance(specs, list):
            for spec in specs:
                if isinstance(spec, Mapping) and (not wanted or set_name(spec) in wanted):
                    check_set_paths(spec, root)
