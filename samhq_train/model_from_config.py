"""The model a config's `model` group describes: one builder for training, evaluation and the
config check.

    model.variant, model.checkpoint, model.seed     the weights (or the seeded random backbone)
    model.grad_checkpointing, model.attention,      how the image encoder runs
    model.compile

`purpose="train"`: the checkpoint is the base a run starts from (official SAM or SAM-HQ weights)
and `policy` decides what trains. `purpose="evaluate"`: the checkpoint is any file
load_checkpoint reads (an HQ-only or delta file with `base_checkpoint`), and the file says what
was trained. `weights=False` builds the architecture alone, with the policy and the encoder
settings applied: the config check's dry run, which finds a LoRA rank or an attention kernel that
does not fit before any file is read. Its parameters are allocated on the CPU and never written
(PyTorch's init skipped: untouched pages, a fraction of a CPU-second even for vit_h), and the
global random state is left as it was. Not on the meta device: there torch runs every operation
through its Python decompositions, whose first call imports torch._dynamo (1.5 CPU-s of a refused
command line).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import torch
from hydra.utils import to_absolute_path
from torch import nn
from torch.overrides import TorchFunctionMode

from samhq_train.errors import UserError
from samhq_train.model import (
    CheckpointError,
    LoadedCheckpoint,
    Provenance,
    TrainablePolicy,
    build_sam_hq,
    canonical_variant,
    encoder_needs_grad,
    file_sha256,
    load_checkpoint_with_provenance,
    load_weights_into,
    prepare_model,
    set_attention_kernel,
)
from samhq_train.model.registry import build_model

PURPOSES = ("train", "evaluate")

NO_WEIGHTS_TO_EVALUATE = (
    "no weights to evaluate: pass model.checkpoint=/path/to/weights (official SAM or SAM-HQ .pth, "
    "transformers directory, .safetensors, an HQ-only file with base_checkpoint=, or a training "
    ".ckpt)"
)


def absolute_path(path: str | Path | None) -> str | None:
    """A config path made absolute against the directory the command was started in."""
    return None if path in (None, "") else to_absolute_path(str(path))


def build_model_from_config(
    model_cfg,
    policy: TrainablePolicy | None = None,
    *,
    purpose: str = "train",
    base_checkpoint: str | Path | None = None,
    weights: bool = True,
) -> LoadedCheckpoint:
    """(model, format read or None, Provenance) from the `model` config group: the format of
    model.checkpoint as it was read (training from it too: what the file is, asked of nobody
    else), None without a file.

    policy: what a training run trains (default hq); evaluation takes it from the file.
    Raises UserError (CheckpointError for a file that cannot serve) with one line to fix.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"purpose={purpose!r}: expected one of {PURPOSES}")
    policy = policy or TrainablePolicy()
    variant = model_cfg.get("variant")
    checkpoint = absolute_path(model_cfg.get("checkpoint"))
    seed = model_cfg.get("seed")
    try:
        if not weights:
            with uninitialised_parameters():
                model = build_sam_hq(variant, policy=policy)
            loaded = LoadedCheckpoint(model, None, _record(variant, policy))
        elif checkpoint is None:
            loaded = _random_backbone(variant, seed, policy, purpose)
        elif purpose == "train":
            model = build_model(variant)
            read_as = load_weights_into(model, checkpoint, variant=canonical_variant(variant))
            model = prepare_model(model, policy)
            base = {"base_checkpoint": checkpoint, "base_sha256": file_sha256(checkpoint)}
            loaded = LoadedCheckpoint(model, read_as, _record(variant, policy, **base))
        else:
            loaded = load_checkpoint_with_provenance(
                checkpoint, variant, base_checkpoint=absolute_path(base_checkpoint)
            )
        configure_encoder(loaded.model, model_cfg, compile=weights)
    except UserError:
        raise
    except ValueError as err:  # a LoRA setting or attention kernel the model cannot take
        raise UserError(str(err)) from None
    return loaded


# PyTorch's parameter init: nn.init's fills, and the random fills a module's own init calls
INIT_FILLS = frozenset(
    [getattr(nn.init, name) for name in dir(nn.init) if name.endswith("_") and name[0] != "_"]
    + [torch.Tensor.normal_, torch.Tensor.uniform_]
)


class _SkipInit(TorchFunctionMode):
    """Every init fill returns its tensor unwritten."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in INIT_FILLS:
            return args[0] if args else kwargs["tensor"]
        return func(*args, **kwargs)


@contextlib.contextmanager
def uninitialised_parameters() -> Iterator[None]:
    """Modules built inside hold parameters that were allocated and never written (their values
    are whatever the memory held), with the global random state restored afterwards."""
    with torch.random.fork_rng(devices=[]), _SkipInit():
        yield


def configure_encoder(model: nn.Module, model_cfg, *, compile: bool = True) -> None:
    """model.grad_checkpointing, model.attention and (with `compile`) model.compile."""
    if model_cfg.get("grad_checkpointing"):  # every family's encoder has the switch
        model.image_encoder.grad_checkpointing = True
    set_attention_kernel(model, model_cfg.get("attention") or "auto")
    if compile and model_cfg.get("compile"):
        # in place: parameter names (checkpoints, exports) stay those of the plain module
        model.image_encoder.compile()


def ignored_grad_checkpointing(model_cfg, policy: TrainablePolicy) -> str | None:
    """The config error of model.grad_checkpointing=true in an image training run whose policy
    keeps the encoder frozen (hq, hq+decoder), else None: the encoder runs under no_grad (or not
    at all, from the embedding cache), there is no backward through it to recompute for, and the
    switch would be ignored in silence."""
    if not model_cfg.get("grad_checkpointing") or encoder_needs_grad(policy):
        return None
    return (
        f"model.grad_checkpointing=true recomputes the image encoder's blocks in backward, but "
        f"model.policy={policy.name} keeps the encoder frozen (no backward through it): remove "
        "model.grad_checkpointing, or use model.policy=hq+lora or full"
    )


def _record(variant: str, policy: TrainablePolicy, **base) -> Provenance:
    return Provenance(variant=variant, policy=policy.name, policy_settings=policy.to_dict(), **base)


def _random_backbone(variant, seed, policy: TrainablePolicy, purpose: str) -> LoadedCheckpoint:
    """The seeded random backbone of `variant` (the tests' and the demo's tiny models)."""
    if variant is None or seed is None:
        if purpose == "evaluate":
            raise CheckpointError(NO_WEIGHTS_TO_EVALUATE)
        raise CheckpointError(
            f"model={variant} needs its SAM weights: pass model.checkpoint=/path/to/the official "
            "SAM file (or model.seed for a random backbone)"
        )
    model = build_sam_hq(variant, seed=int(seed), policy=policy)
    if purpose == "evaluate":  # the record evaluation has always given this model
        return LoadedCheckpoint(model, None, Provenance(variant=variant, seed=int(seed)))
    return LoadedCheckpoint(model, None, _record(variant, policy, seed=int(seed)))


__all__ = [
    "PURPOSES", "absolute_path", "build_model_from_config", "configure_encoder",
    "ignored_grad_checkpointing", "uninitialised_parameters",
]
