"""A transformers `SamHQModel` directory (config.json + model.safetensors, and the processor's
config), SAM 1 ViT variants only; the earlier name `hf` is still accepted."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from samhq_train.files import atomic_write, atomic_write_text

from ..registry import VARIANTS, variant_config, variant_of_config
from ..sam1 import SamHQConfig, build_from_config
from ..sam1.transformers_format import (
    HF_POSITIONAL_KEY,
    HF_PROMPT_POSITIONAL_KEY,
    config_from_hf,
    hf_config,
    hf_key_map,
    hf_processor_config,
)
from .base import (
    ALL_USES,
    CheckpointError,
    FormatRecord,
    Found,
    Read,
    State,
    Use,
    cpu_tensors,
    plain_weights,
)
from .errors import FileProblem, unreadable

HF_WEIGHTS = "model.safetensors"
CONFIG = "config.json"


def probe(path: Path) -> Found:
    """transformers (held: its config.json) for a SamHQModel folder; any other is one line."""
    if not ((path / CONFIG).is_file() and (path / HF_WEIGHTS).is_file()):
        raise FileProblem(
            path,
            f"is a folder but not a transformers SamHQ directory: expected {CONFIG} and "
            f"{HF_WEIGHTS} in it",
        )
    try:
        config = json.loads((path / CONFIG).read_text())
    except ValueError as err:
        raise unreadable(path / CONFIG, "json", str(err)) from None
    if config.get("model_type") != "sam_hq":
        raise FileProblem(
            path / CONFIG, f"has model_type {config.get('model_type')!r}, expected 'sam_hq'"
        )
    return Found("transformers", config, "sam1", variant_of_config(config_from_hf(config)))


def official_keys(config: dict) -> list[str]:
    """Official key names of the model a transformers config describes (built on the meta
    device)."""
    with torch.device("meta"):
        model = build_from_config(config_from_hf(config))
    return list(model.state_dict())


def read(path: Path, held: dict | None) -> Read:
    config = held if held is not None else probe(path).held
    try:
        hf_state = load_file(str(path / HF_WEIGHTS))
    except Exception as err:
        raise unreadable(path / HF_WEIGHTS, "safetensors", str(err).splitlines()[0]) from None
    if HF_POSITIONAL_KEY not in hf_state and HF_PROMPT_POSITIONAL_KEY in hf_state:
        hf_state[HF_POSITIONAL_KEY] = hf_state[HF_PROMPT_POSITIONAL_KEY]
    hf_state.pop(HF_PROMPT_POSITIONAL_KEY, None)
    inverse = {hf_key: key for key, hf_key in hf_key_map(official_keys(config)).items()}
    unknown = sorted(k for k in hf_state if k not in inverse)
    if unknown:
        raise FileProblem(
            path / HF_WEIGHTS,
            f"has {len(unknown)} keys that SamHQ does not know, first: {unknown[:5]}",
        )
    return Read({inverse[k]: v for k, v in hf_state.items()})


def write(model: nn.Module, directory: Path, variant: str, policy) -> None:
    cfg = transformers_config(model, variant, directory)
    state: State = cpu_tensors(model.state_dict())
    directory.mkdir(parents=True, exist_ok=True)
    renamed = {hf_key: state[key] for key, hf_key in hf_key_map(list(state)).items()}
    atomic_write(
        directory / HF_WEIGHTS, lambda tmp: save_file(renamed, tmp, metadata={"format": "pt"})
    )
    mean, std = model.pixel_mean.flatten().tolist(), model.pixel_std.flatten().tolist()
    configs = {
        "config.json": hf_config(cfg),
        "processor_config.json": hf_processor_config(cfg, mean, std),
    }
    for name, content in configs.items():
        atomic_write_text(directory / name, json.dumps(content, indent=2) + "\n")


def transformers_config(model: nn.Module, variant: str, path: Path) -> SamHQConfig:
    """The SAM 1 ViT config transformers' SamHQModel can hold; one line for anything else."""
    if model.family != "sam1":
        raise CheckpointError(
            f"cannot export {path} as transformers: transformers has no {model.family} SAM-HQ "
            "model; save it as sam_hq, safetensors or hq_only"
        )
    if variant not in VARIANTS:
        raise CheckpointError(
            f"cannot export {path} as transformers: the model's shapes are not a registry variant"
        )
    cfg = variant_config(variant)
    if cfg.tiny_vit is not None:
        raise CheckpointError(
            f"cannot export {path} as transformers: transformers' SamHQModel has no TinyViT "
            "encoder, so Light HQ-SAM (vit_tiny) has no transformers layout; save it as sam_hq, "
            "safetensors or hq_only"
        )
    return cfg


TRANSFORMERS = FormatRecord(
    name="transformers",
    summary="a transformers SamHQModel directory (SamHQModel.from_pretrained)",
    container="transformers",
    probe=probe,
    folder=True,
    uses=ALL_USES - {Use.RESUME},
    read=read,
    expected_keys=lambda model, policy: model.state_dict(),
    write=write,
    refusals={Use.RESUME: plain_weights("a transformers directory")},
    aliases=("hf",),
)
