"""The SAM 1 family's format rules: its HQ key set and how a state dict tells its variant."""

import torch

from .config import VARIANTS

# the five HQ modules of SAM-HQ's mask decoder (official names); everything else is SAM
HQ_MODULES = ("hf_token", "hf_mlp", "compress_vit_feat", "embedding_encoder", "embedding_maskfeature")


def owns_state(state: dict) -> bool:
    """Whether a (full or HQ-only) state dict has SAM 1 key names."""
    return any(k.startswith(("mask_decoder.", "image_encoder.patch_embed.")) for k in state)


def detect_variant(state: dict[str, torch.Tensor]) -> str | None:
    """The variant whose shapes a (full or HQ-only) official SAM 1 state dict has."""
    patch = state.get("image_encoder.patch_embed.proj.weight")
    if patch is not None:
        width = patch.shape[0]
        depth = 1 + max(
            (int(k.split(".")[2]) for k in state if k.startswith("image_encoder.blocks.")), default=-1
        )
        matches = [
            n for n, c in VARIANTS.items()
            if c.tiny_vit is None and c.encoder_embed_dim == width and c.encoder_depth == depth
        ]
    elif "image_encoder.patch_embed.seq.0.c.weight" in state:  # a TinyViT encoder
        widths = tuple(
            state[f"image_encoder.layers.{i}.blocks.0.{name}"].shape[0]
            for i, name in enumerate(["conv3.c.weight"] + ["attn.proj.weight"] * 3)
            if f"image_encoder.layers.{i}.blocks.0.{name}" in state
        )
        matches = [n for n, c in VARIANTS.items() if c.tiny_vit is not None and c.tiny_vit.embed_dims == widths]
    else:
        vit = state.get("mask_decoder.compress_vit_feat.0.weight")
        if vit is None:
            return None
        matches = [n for n, c in VARIANTS.items() if c.encoder_embed_dim == vit.shape[0]]
    return matches[0] if len(matches) == 1 else None
