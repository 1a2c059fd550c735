"""A transformers `SamHQModel` directory (config.json + model.safetensors, and the processor's
config), SAM 1 ViT variants only; the earlier name `hf` is still accepted. The directory is written
whole (files.atomic_write_folder): from_pretrained never finds half an export. Read too, as
save_pretrained also writes them: the weights in shards (model-00001-of-0000N.safetensors listed by
model.safetensors.index.json) or as pytorch_model.bin (safe_serialization=False)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from samhq_train.files import atomic_write_folder, tensor_bytes
from samhq_train.user_files import read_text

from ..family_record import Family
from ..registry import FAMILIES, VARIANTS, family_of_model, variant_config, variant_of_config
from .base import (
    TORCH_SUFFIXES,
    CheckpointError,
    Found,
    Read,
    State,
    cpu_tensors,
    plain_weights_record,
    whole_model,
)
from .errors import FileProblem, unreadable
from .torch_files import is_tensor_dict, load_torch

WEIGHTS = "model.safetensors"
SHARD_INDEX = "model.safetensors.index.json"
TORCH_WEIGHTS = "pytorch_model.bin"
CONFIG = "config.json"
PROCESSOR_CONFIG = "processor_config.json"
# the image processor's settings, apart from processor_config.json (which names the processor
# only): transformers 4.53 (the dev floor) reads them only here, and would pass a processor
# config's "image_processor" entry on as a dict where an image processor is expected
IMAGE_PROCESSOR_CONFIG = "preprocessor_config.json"
# all the directory's files this format writes (any other file in it is the user's)
FILES = (WEIGHTS, CONFIG, PROCESSOR_CONFIG, IMAGE_PROCESSOR_CONFIG)
# the families that have a transformers model (SAM 1 only today: SamHQModel)
CODEC_FAMILIES = tuple(fam for fam in FAMILIES.values() if fam.transformers_codec is not None)


def codec_family() -> Family:
    """The family whose transformers model a SamHQModel directory holds."""
    (family,) = CODEC_FAMILIES
    return family


def probe(path: Path) -> Found:
    """transformers (held: its config.json) for a SamHQModel folder; any other is one line."""
    weights = next((name for name in (WEIGHTS, SHARD_INDEX, TORCH_WEIGHTS)
                    if (path / name).is_file()), None)
    if not ((path / CONFIG).is_file() and weights):
        raise FileProblem(
            path,
            f"is a folder but not a transformers SamHQ directory: expected {CONFIG} and "
            f"{WEIGHTS} (or {SHARD_INDEX} with its shards, or {TORCH_WEIGHTS}) in it"
            + _files_in(path),
        )
    try:
        config = json.loads(read_text(path / CONFIG))
    except ValueError as err:
        raise unreadable(path / CONFIG, "json", str(err)) from None
    if not isinstance(config, dict) or config.get("model_type") != "sam_hq":
        found = config.get("model_type") if isinstance(config, dict) else None
        raise FileProblem(path / CONFIG, f"has model_type {found!r}, expected 'sam_hq'")
    family = codec_family()
    variant = variant_of_config(family.transformers_codec.config_from(config))
    return Found("transformers", config, family.name, variant)


def _files_in(folder: Path) -> str:
    """A folder's checkpoint files (a few names), said as what to give instead; "" if none."""
    suffixes = (*TORCH_SUFFIXES, ".ckpt", ".safetensors")
    files = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix in suffixes)
    if not files:
        return ""
    more = f" (and {len(files) - 3} more)" if len(files) > 3 else ""
    return f"; give the path of a checkpoint file in it instead: {', '.join(files[:3])}{more}"


def _load_weights(path: Path) -> State:
    """The directory's tensors in transformers' names: model.safetensors, else the shards that
    model.safetensors.index.json lists (each a file of the folder, together exactly the tensors
    the index maps), else pytorch_model.bin."""
    if (path / WEIGHTS).is_file():
        return _load_safetensors(path / WEIGHTS)
    if (path / SHARD_INDEX).is_file():
        found: State = {}
        weight_map = _weight_map(path / SHARD_INDEX)
        for shard in sorted(set(weight_map.values())):
            found.update(_load_safetensors(path / shard))
        listed, held = set(weight_map), set(found)
        if listed != held:
            odd = sorted(listed ^ held)
            raise FileProblem(
                path / SHARD_INDEX,
                f"does not match its shards: {len(odd)} tensors listed but not in the shard named, "
                f"or in a shard but not listed, first: {odd[:3]} (copy the folder again)",
            )
        return found
    content = load_torch(path / TORCH_WEIGHTS)
    if not is_tensor_dict(content):
        raise FileProblem(path / TORCH_WEIGHTS, "is not a state dict of tensors")
    return content


def _weight_map(index: Path) -> dict[str, str]:
    """The index's tensor -> shard file map, checked: each shard a file name in the folder."""
    try:
        weight_map = json.loads(read_text(index)).get("weight_map")
    except (ValueError, AttributeError) as err:
        raise unreadable(index, "a shard index", f"not a json object ({err})") from None
    if not isinstance(weight_map, dict) or not weight_map:
        raise unreadable(index, "a shard index", "it has no 'weight_map' of tensors to files")
    for shard in set(weight_map.values()):
        if not isinstance(shard, str) or Path(shard).name != shard or shard in ("", ".", ".."):
            raise unreadable(index, "a shard index", f"{shard!r} is not a file name in its folder")
        if not (index.parent / shard).is_file():
            raise FileProblem(index.parent / shard, "not found (listed in its shard index: copy "
                              "the whole folder)")
    return weight_map


def _load_safetensors(file: Path) -> State:
    try:
        return load_file(str(file))
    except Exception as err:
        raise unreadable(file, "safetensors", str(err).splitlines()[0]) from None


def official_keys(config: dict) -> list[str]:
    """Official key names of the model a transformers config describes (built on the meta
    device)."""
    family = codec_family()
    with torch.device("meta"):
        model = family.build(family.transformers_codec.config_from(config))
    return list(model.state_dict())


def read(path: Path, held: dict | None) -> Read:
    config = held if held is not None else probe(path).held
    codec = codec_family().transformers_codec
    found = _load_weights(path)
    if codec.positional_key not in found and codec.prompt_positional_key in found:
        found[codec.positional_key] = found[codec.prompt_positional_key]
    found.pop(codec.prompt_positional_key, None)
    inverse = {hf_key: key for key, hf_key in codec.key_map(official_keys(config)).items()}
    unknown = sorted(k for k in found if k not in inverse)
    if unknown:
        raise FileProblem(
            path,
            f"has {len(unknown)} keys that SamHQ does not know, first: {unknown[:5]}",
        )
    return Read({inverse[k]: v for k, v in found.items()})


def write(model: nn.Module, directory: Path, variant: str, policy) -> None:
    cfg = transformers_config(model, variant, directory)
    codec = family_of_model(model).transformers_codec
    state: State = cpu_tensors(model.state_dict())
    renamed = {new: state[key] for key, new in codec.key_map(list(state)).items()}
    mean, std = model.pixel_mean.flatten().tolist(), model.pixel_std.flatten().tolist()
    processor = codec.processor_config(cfg, mean, std)
    configs = {
        CONFIG: codec.config(cfg),
        PROCESSOR_CONFIG: {"processor_class": processor["processor_class"]},
        IMAGE_PROCESSOR_CONFIG: {**processor["image_processor"],
                                 "processor_class": processor["processor_class"]},
    }

    def write_files(folder: Path) -> None:
        save_file(renamed, str(folder / WEIGHTS), metadata={"format": "pt"})
        for name, content in configs.items():
            (folder / name).write_text(json.dumps(content, indent=2) + "\n")

    atomic_write_folder(directory, write_files, replaces=FILES, size_hint=tensor_bytes(renamed))


def transformers_config(model: nn.Module, variant: str, path: Path):
    """The SAM 1 ViT config transformers' SamHQModel can hold; one line for anything else."""
    if family_of_model(model).transformers_codec is None:
        raise CheckpointError(
            f"cannot export {path} as transformers: transformers has no {model.family} SAM-HQ "
            "model; save it as sam_hq, safetensors or hq_only"
        )
    if variant not in VARIANTS:
        raise CheckpointError(
            f"cannot export {path} as transformers: the model's shapes are not a registry variant"
        )
    cfg = variant_config(variant)
    if getattr(cfg, "tiny_vit", None) is not None:
        raise CheckpointError(
            f"cannot export {path} as transformers: transformers' SamHQModel has no TinyViT "
            "encoder, so Light HQ-SAM (vit_tiny) has no transformers layout; save it as sam_hq, "
            "safetensors or hq_only"
        )
    return cfg


TRANSFORMERS = plain_weights_record(
    what="a transformers directory",
    name="transformers",
    summary="a transformers SamHQModel directory (SamHQModel.from_pretrained)",
    container="transformers",
    probe=probe,
    folder=True,
    read=read,
    expected_keys=whole_model,
    write=write,
    check_writable=transformers_config,
    aliases=("hf",),
)
