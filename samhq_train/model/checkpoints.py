"""Read and write SAM-HQ weights in every layout we meet, by rule, never downloading.

Formats (detected from the file, overridable):
  sam          official SAM `sam_vit_*.pth` (no HQ keys: the HQ parts keep their fresh init)
  sam_hq       official SAM-HQ `sam_hq_vit_*.pth`
  transformers a transformers `SamHQModel` directory (config.json + model.safetensors); the
               earlier name "hf" is still accepted
  safetensors  our full model, official key names
  hq_only      our HQ-only safetensors (the five HQ modules); applied on top of a base model
  lightning    a training checkpoint (*.ckpt): HQ parameters plus what rebuilds the frozen rest
               (ckpt["samhq"]: a Provenance record)

Which keys are HQ (so which of sam / sam_hq / hq_only a file is) is the format rule of the model
family (registry.Family.is_hq_key), never the training policy.
"""

import copy
import hashlib
import json
import os
import pickle
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from .lora import is_lora_key, merge_lora
from .policy import as_policy, prepare_model, trained_state_dict
from .provenance import Provenance
from .registry import (
    FAMILIES,
    VARIANTS,
    Family,
    build_model,
    canonical_variant,
    family_of_model,
    family_of_state,
    family_of_variant,
    variant_config,
    variant_of_config,
)
from .sam1 import SamHQConfig, build_from_config
from .sam1.transformers_format import (
    HF_POSITIONAL_KEY,
    HF_PROMPT_POSITIONAL_KEY,
    config_from_hf,
    hf_config,
    hf_key_map,
    hf_processor_config,
)

FORMATS = ("sam", "sam_hq", "transformers", "safetensors", "hq_only", "delta", "lightning")
SAVE_FORMATS = ("sam_hq", "transformers", "safetensors", "hq_only", "delta")
FORMAT_ALIASES = {"hf": "transformers"}
HF_WEIGHTS = "model.safetensors"
LIGHTNING_MODEL_PREFIX = "model."
TORCH_SUFFIXES = (".pth", ".pt", ".bin")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used as asked; the message names the file and the fix."""


def canonical_format(format: str | None) -> str | None:
    """The current name of a format (earlier names accepted); None stays None (detect)."""
    return FORMAT_ALIASES.get(format, format) if format is not None else None


def _family(state: dict) -> Family:
    return family_of_state(state) or FAMILIES["sam1"]


def hq_state_dict(model_or_state: nn.Module | dict) -> dict[str, torch.Tensor]:
    """The HQ entries (the family's HQ key set) of a model's or a state dict's tensors."""
    if isinstance(model_or_state, nn.Module):
        family, state = family_of_model(model_or_state), model_or_state.state_dict()
    else:
        family, state = _family(model_or_state), model_or_state
    return {k: v for k, v in state.items() if family.is_hq_key(k)}


def without_hq(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict minus its HQ entries: what an official SAM file of the same model holds."""
    family = _family(state)
    return {k: v for k, v in state.items() if not family.is_hq_key(k)}


def detect_format(path: str | os.PathLike) -> str:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path} (give the path of a local file or folder)")
    if path.is_dir():
        if (path / "config.json").is_file() and (path / HF_WEIGHTS).is_file():
            return "transformers"
        raise CheckpointError(
            f"{path} is a folder but not a transformers SamHQ directory: expected config.json "
            f"and {HF_WEIGHTS} in it"
        )
    if path.suffix == ".safetensors":
        return _safetensors_format(path)
    if path.suffix == ".ckpt":
        return "lightning"
    if path.suffix in TORCH_SUFFIXES:
        return _torch_format(_read_torch_state(path))
    return _sniff_format(path)


def _safetensors_format(path: Path) -> str:
    """safetensors, hq_only or delta: what our metadata says, else HQ-only when only HQ keys."""
    keys, metadata = _safetensors_keys(path)
    if metadata.get("contents") in ("hq_only", "delta"):
        return metadata["contents"]
    family = _family(dict.fromkeys(keys))
    return "hq_only" if keys and all(family.is_hq_key(k) for k in keys) else "safetensors"


def _sniff_format(path: Path) -> str:
    """The format of a file whose name does not tell it (no or an unknown extension)."""
    if _looks_like_safetensors(path):
        return _safetensors_format(path)
    if not _starts_like_torch(path):
        raise CheckpointError(
            f"cannot tell the format of {path}: it is neither a PyTorch file (.pth/.pt/.ckpt) nor "
            "safetensors nor a transformers directory; give a checkpoint file, or pass the format "
            f"(format= / --format, one of {', '.join(FORMATS)})"
        )
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"could not read {path} as a PyTorch checkpoint: {describe_read_error(path, err)}") from None
    if isinstance(content, dict) and "state_dict" in content:
        raise CheckpointError(
            f"{path} is a training checkpoint without the .ckpt extension: rename it to "
            f"{path.name}.ckpt, or pass format=lightning (--format lightning)"
        )
    return _torch_format(_as_tensor_state(path, content))


def _looks_like_safetensors(path: Path) -> bool:
    """safetensors: an 8-byte little-endian header length, then a JSON object."""
    with open(path, "rb") as handle:
        head = handle.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return 0 < int.from_bytes(head[:8], "little") <= max(path.stat().st_size - 8, 0)


def _starts_like_torch(path: Path) -> bool:
    """A zip archive (torch.save since 1.6) or a pickle (the legacy format)."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def describe_read_error(path: str | os.PathLike, err: BaseException) -> str:
    """What a failed torch.load says about the file, in a few words (never torch's paragraph
    of advice about weights_only)."""
    path = Path(path)
    size = path.stat().st_size if path.is_file() else None
    if size == 0:
        return "the file is empty (0 bytes)"
    if isinstance(err, (EOFError,)) or "unexpected EOF" in str(err):
        return "the file ends early (truncated: copy or download it again)"
    if zipfile.is_zipfile(path):
        if isinstance(err, pickle.UnpicklingError) or "weights_only" in str(err).lower():
            return "it holds Python objects other than tensors, not a weights file"
        return f"the archive is damaged ({str(err).splitlines()[0].split('. ')[0]})"
    if _starts_like_torch(path):
        return "the file is truncated or damaged (an incomplete PyTorch archive: copy or download it again)"
    return "it is not a PyTorch file (random bytes or another format)"



def read_state_dict(path: str | os.PathLike, format: str | None = None) -> tuple[dict, str]:
    """(state dict with official key names, format) of a checkpoint."""
    path = Path(path)
    format = canonical_format(format)
    if format is None and path.suffix in TORCH_SUFFIXES and path.is_file():
        state = _read_torch_state(path)  # the format is in the keys: read the file once
        return state, _torch_format(state)
    format = format or detect_format(path)
    if format not in FORMATS:
        raise CheckpointError(f"unknown checkpoint format {format!r} for {path}; use one of {FORMATS}")
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path} (give the path of a local file or folder)")
    if format in ("sam", "sam_hq"):
        return _read_torch_state(path), format
    if format == "transformers":
        return _read_hf_state(path), format
    if format == "lightning":
        return _read_lightning(path)[0], format
    try:
        return load_file(str(path)), format
    except Exception as err:  # safetensors raises several error types for damaged files
        raise CheckpointError(
            f"could not read {path} as safetensors (damaged or another format): {str(err).splitlines()[0]}"
        ) from None


def _torch_format(state: dict) -> str:
    family = _family(state)
    return "sam_hq" if any(family.is_hq_key(k) for k in state) else "sam"


def detect_variant(state: dict[str, torch.Tensor]) -> str | None:
    """The registry variant whose shapes a (full or HQ-only) official state dict has."""
    family = family_of_state(state)
    if family is None:
        return None
    try:
        return family.detect_variant(state)
    except ValueError as err:  # a state dict the family cannot serve; the message names the key
        raise CheckpointError(str(err)) from None


def build_sam_hq(
    variant: str,
    checkpoint: str | os.PathLike | None = None,
    *,
    seed: int | None = None,
    format: str | None = None,
    policy="hq",
) -> nn.Module:
    """Build a variant in eval mode with exactly `policy`'s parameters trainable (a policy name,
    TrainablePolicy or its dict; hq+lora adds the LoRA adapters after the checkpoint is loaded).

    Without a checkpoint the weights are PyTorch's default init (drawn under `seed` when given).
    With one, it is loaded strictly through the checkpoint I/O (any format; an official SAM file
    leaves the HQ parts at their fresh init).
    """
    model = build_model(variant, seed=seed)
    if checkpoint is not None:
        load_weights_into(model, checkpoint, variant=canonical_variant(variant), format=format)
    return prepare_model(model, policy)


def load_weights_into(
    model: nn.Module, path: str | os.PathLike, *, variant: str | None = None, format: str | None = None
) -> str:
    """Load a checkpoint into a built model, strictly; returns the format read.

    An official SAM file fills everything but the HQ parts; an HQ-only file fills only those.
    """
    state, format = read_state_dict(path, format)
    _apply_state(model, state, format, path, variant)
    return format


def _apply_state(model: nn.Module, state: dict, format: str, path, variant: str | None, policy="hq") -> None:
    variant = canonical_variant(variant) if variant is not None else None
    found = detect_variant(state)
    if variant is not None and found is not None and _base_config(found) != _base_config(variant):
        raise CheckpointError(
            f"{path} holds a {found} model ({family_of_variant(found).name} family) but variant {variant} "
            f"was asked: use model={found} "
            f"(or model.variant={found}), or give a {variant} checkpoint"
        )
    adopt = getattr(model, "adopt_carried_state", None)  # SAM 3: tensors kept, not computed
    if adopt is not None and format not in ("hq_only", "delta", "lightning"):
        adopt(state)
    expected = model.state_dict()
    if format == "sam":
        expected = without_hq(expected)
    elif format == "hq_only":
        expected = hq_state_dict(expected)
    elif format in ("lightning", "delta"):
        expected = trained_state_dict(model, policy)
    _check_keys(path, format, expected, state)
    model.load_state_dict(state, strict=False)


def _base_config(variant: str):
    """A variant's shapes without its HQ design (SAM 3's early-fusion variants share their base)."""
    cfg = variant_config(variant)
    return getattr(cfg, "base_config", cfg)


class LoadedCheckpoint(NamedTuple):
    """A model built from a checkpoint, with what the one read of the file told: the format it was
    read as and its record (what read_provenance gives for that file)."""

    model: nn.Module
    format: str | None  # None: not read from a file (evaluation's random demo backbone)
    provenance: Provenance


def load_checkpoint(
    path: str | os.PathLike,
    variant: str | None = None,
    format: str | None = None,
    base_checkpoint: str | os.PathLike | None = None,
):
    """Build a model from a checkpoint. An HQ-only file needs `base_checkpoint` (SAM or SAM-HQ)."""
    return load_checkpoint_with_provenance(path, variant, format, base_checkpoint).model


def load_checkpoint_with_provenance(
    path: str | os.PathLike,
    variant: str | None = None,
    format: str | None = None,
    base_checkpoint: str | os.PathLike | None = None,
) -> LoadedCheckpoint:
    """load_checkpoint, plus the format and the Provenance from the same read (a training
    checkpoint is big: reading its record again would read the whole file again)."""
    format = canonical_format(format)
    provenance = Provenance()
    if format == "lightning" or (format is None and Path(path).suffix == ".ckpt"):
        state, provenance = _read_lightning(Path(path))
        format = "lightning"
    else:
        state, format = read_state_dict(path, format)
    if format == "delta":
        provenance = _delta_provenance(Path(path))
    if variant is None:
        variant = provenance.variant
    if variant is None:
        variant = detect_variant(state)
        if variant is None and format == "transformers":
            variant = variant_of_config(config_from_hf(json.loads((Path(path) / "config.json").read_text())))
        if variant is None:
            raise CheckpointError(f"cannot tell the model variant of {path}; pass variant= one of {sorted(VARIANTS)}")
    if format in ("hq_only", "delta"):
        check_base_given(path, base_checkpoint)
        model = build_sam_hq(variant, checkpoint=str(base_checkpoint), policy=policy_of(provenance))
    elif format == "lightning":
        model = _build_lightning_base(Path(path), provenance, variant, base_checkpoint)
    else:
        model = build_sam_hq(variant)
    _apply_state(model, state, format, path, variant, policy_of(provenance))
    return LoadedCheckpoint(model, format, provenance)


def check_base_given(path, base_checkpoint) -> None:
    """The one rule for HQ-only files: they only make a model together with a base."""
    if base_checkpoint is None:
        raise CheckpointError(
            f"{path} holds only the HQ parameters: also give the base it was trained on, an official "
            "SAM (e.g. sam_vit_b_01ec64.pth) or SAM-HQ file of the same variant "
            "(base_checkpoint= in Python and evaluate.py, --base in the scripts)"
        )


def save_checkpoint(
    model: nn.Module, path: str | os.PathLike, format: str, variant: str | None = None, policy="hq"
) -> Path:
    """Write `model` as one of SAVE_FORMATS, atomically (a crash never leaves a half file).

    Full formats merge LoRA adapters into plain weights; `delta` holds exactly what `policy`
    trains (HQ parts, plus LoRA A/B or the decoder) and records the policy to re-apply it."""
    path = Path(path)
    format = canonical_format(format)
    if format not in SAVE_FORMATS:
        raise CheckpointError(f"cannot save format {format!r}; use one of {SAVE_FORMATS}")
    variant = variant or detect_variant(without_lora(model.state_dict())) or "custom"
    if format == "delta":
        delta = {k: v.detach().cpu().contiguous() for k, v in trained_state_dict(model, policy).items()}
        meta = {
            "format": "samhq_train", "contents": "delta", "variant": variant,
            "policy": json.dumps(as_policy(policy).to_dict()),
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: save_file(delta, tmp, metadata=meta))
        return path
    if any(is_lora_key(k) for k in model.state_dict()):
        model = merge_lora(copy.deepcopy(model))  # consumers get plain weights, no LoRA code
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if format == "transformers":
        cfg = _transformers_config(model, variant, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if format == "sam_hq":
        official = family_of_model(model).official_layout(state)
        atomic_write(path, lambda tmp: torch.save(official, tmp))
    elif format == "safetensors":
        meta = {"format": "samhq_train", "contents": "full", "variant": variant}
        atomic_write(path, lambda tmp: save_file(state, tmp, metadata=meta))
    elif format == "hq_only":
        meta = {"format": "samhq_train", "contents": "hq_only", "variant": variant}
        atomic_write(path, lambda tmp: save_file(hq_state_dict(state), tmp, metadata=meta))
    else:
        _save_hf(model, state, path, cfg)
    return path


def _save_hf(model: nn.Module, state: dict, directory: Path, cfg: SamHQConfig) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    renamed = {hf_key: state[key] for key, hf_key in hf_key_map(list(state)).items()}
    atomic_write(directory / HF_WEIGHTS, lambda tmp: save_file(renamed, tmp, metadata={"format": "pt"}))
    mean, std = model.pixel_mean.flatten().tolist(), model.pixel_std.flatten().tolist()
    for name, content in (("config.json", hf_config(cfg)), ("processor_config.json", hf_processor_config(cfg, mean, std))):
        text = json.dumps(content, indent=2) + "\n"
        atomic_write(directory / name, lambda tmp, text=text: Path(tmp).write_text(text))


def _read_hf_state(directory: Path) -> dict[str, torch.Tensor]:
    config = json.loads((directory / "config.json").read_text())
    if config.get("model_type") != "sam_hq":
        raise CheckpointError(
            f"{directory}/config.json has model_type {config.get('model_type')!r}, expected 'sam_hq'"
        )
    hf_state = load_file(str(directory / HF_WEIGHTS))
    if HF_POSITIONAL_KEY not in hf_state and HF_PROMPT_POSITIONAL_KEY in hf_state:
        hf_state[HF_POSITIONAL_KEY] = hf_state[HF_PROMPT_POSITIONAL_KEY]
    hf_state.pop(HF_PROMPT_POSITIONAL_KEY, None)
    reference = build_from_hf_config_keys(config)
    inverse = {hf_key: key for key, hf_key in hf_key_map(reference).items()}
    unknown = sorted(k for k in hf_state if k not in inverse)
    if unknown:
        raise CheckpointError(
            f"{directory}/{HF_WEIGHTS} has {len(unknown)} keys that SamHQ does not know, first: {unknown[:5]}"
        )
    return {inverse[k]: v for k, v in hf_state.items()}


def build_from_hf_config_keys(config: dict) -> list[str]:
    """Official key names of the model a transformers config describes (built on the meta device)."""
    with torch.device("meta"):
        model = build_from_config(config_from_hf(config))
    return list(model.state_dict())


def _read_lightning(path: Path) -> tuple[dict[str, torch.Tensor], Provenance]:
    if not path.is_file():
        raise CheckpointError(
            f"checkpoint not found: {path} (give a training checkpoint, outputs/<run>/checkpoints/last.ckpt)"
        )
    try:
        # our own training checkpoints hold Lightning's loop state and the config, not only tensors
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise CheckpointError(
            f"could not read {path} as a training checkpoint: {describe_read_error(path, err)}"
        ) from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        if isinstance(ckpt, dict) and ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
            raise CheckpointError(
                f"{path} holds plain model weights (an official or exported SAM / SAM-HQ file), not a "
                "training checkpoint: rename it to .pth, or pass format=sam_hq (--format sam_hq)"
            )
        raise CheckpointError(f"{path} is not a training checkpoint (no 'state_dict' in it)")
    n = len(LIGHTNING_MODEL_PREFIX)
    state = {k[n:]: v for k, v in ckpt["state_dict"].items() if k.startswith(LIGHTNING_MODEL_PREFIX)}
    return state, Provenance.from_dict(ckpt.get("samhq"))


def _build_lightning_base(path: Path, meta: Provenance, variant: str, base_checkpoint) -> nn.Module:
    """The frozen model a training checkpoint was trained on: its base file, or its random seed."""
    recorded = meta.base_checkpoint
    if base_checkpoint is None and recorded is None:
        if meta.seed is None:
            raise CheckpointError(
                f"{path} records neither a base checkpoint nor a seed: pass base_checkpoint= the "
                "official SAM file it was trained from"
            )
        return build_sam_hq(variant, seed=meta.seed, policy=policy_of(meta))
    base = Path(base_checkpoint or recorded)
    if not base.exists():
        raise CheckpointError(
            f"{path} was trained on base checkpoint {base}, which is not there: pass "
            "base_checkpoint= its new location"
        )
    if meta.base_sha256 and base_checkpoint is None and file_sha256(base) != meta.base_sha256:
        raise CheckpointError(
            f"{base} is not the file {path} was trained on (sha256 differs): pass base_checkpoint= "
            "the right file, or that one explicitly to use it anyway"
        )
    return build_sam_hq(variant, checkpoint=str(base), seed=meta.seed, policy=policy_of(meta))


def without_lora(state: dict) -> dict:
    return {k: v for k, v in state.items() if not is_lora_key(k)}


def read_provenance(path: str | os.PathLike, format: str | None = None) -> Provenance:
    """What a training checkpoint or a delta file records (variant, base, policy); an empty
    record for the other formats (they hold a whole model)."""
    path = Path(path)
    format = canonical_format(format) or detect_format(path)
    if format == "lightning":
        return _read_lightning(path)[1]
    if format == "delta":
        return _delta_provenance(path)
    return Provenance()


def policy_of(provenance: Provenance):
    """The TrainablePolicy a record describes."""
    return as_policy(provenance.policy_settings or provenance.policy)


def _delta_provenance(path: Path) -> Provenance:
    """The variant and policy a delta file records."""
    metadata = _safetensors_keys(path)[1]
    try:
        policy = json.loads(metadata.get("policy", '"hq"'))
    except json.JSONDecodeError:
        raise CheckpointError(f"{path}: its 'policy' metadata is not valid json; export it again") from None
    name = policy["name"] if isinstance(policy, dict) else policy
    return Provenance(variant=metadata.get("variant"), policy=name, policy_settings=policy if isinstance(policy, dict) else None)


def file_sha256(path: str | os.PathLike, chunk_size: int = 1 << 24) -> str:
    """sha256 of a file, or of the sorted files of a folder (a transformers directory)."""
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digest = hashlib.sha256()
    for file in files:
        with open(file, "rb") as handle:
            while chunk := handle.read(chunk_size):
                digest.update(chunk)
    return digest.hexdigest()


def _check_keys(path, format: str, expected: dict, state: dict) -> None:
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected) - (set(hq_state_dict(state)) if format == "sam" else set()))
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys, first: {missing[:5]}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys, first: {unexpected[:5]}")
    wrong_shape = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in sorted(set(state) & set(expected))
        if state[k].shape != expected[k].shape
    ]
    if wrong_shape:
        problems.append(f"{len(wrong_shape)} tensors of the wrong shape, first: {wrong_shape[:3]}")
    if problems:
        raise CheckpointError(
            f"{path} (read as {format}) does not fit the model: " + "; ".join(problems)
            + ". Check the variant and the format (pass format= to override detection)."
        )


def _read_torch_state(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path} (give the path of a local file or folder)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for damaged or non-torch files
        raise CheckpointError(
            f"could not read {path} as a PyTorch checkpoint: {describe_read_error(path, err)}"
        ) from None
    return _as_tensor_state(path, state)


def _as_tensor_state(path: Path, state) -> dict[str, torch.Tensor]:
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if isinstance(state, dict) and "state_dict" in state:
        raise CheckpointError(
            f"{path} is a training checkpoint (Lightning), not an official SAM / SAM-HQ weights "
            "file: rename it to .ckpt, or pass format=lightning (--format lightning)"
        )
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} is not a state dict of tensors (official SAM / SAM-HQ layout expected)")
    return state


def _safetensors_keys(path: Path) -> tuple[list[str], dict]:
    try:
        with safe_open(str(path), "pt") as handle:
            return list(handle.keys()), handle.metadata() or {}
    except Exception as err:
        raise CheckpointError(
            f"could not read {path} as safetensors (damaged or another format): {str(err).splitlines()[0]}"
        ) from None


def _transformers_config(model: nn.Module, variant: str, path: Path) -> SamHQConfig:
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
            f"cannot export {path} as transformers: transformers' SamHQModel has no TinyViT encoder, "
            "so Light HQ-SAM (vit_tiny) has no transformers layout; save it as sam_hq, safetensors "
            "or hq_only"
        )
    return cfg


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Write through a temporary file in the same folder, then rename over the target, so a
    crash never leaves a truncated file where a good one was."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's file is private (0600); give it normal permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
