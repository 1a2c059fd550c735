"""The reference implementations our numbers are checked against, built from our weights: the
official ``segment_anything_hq`` model and transformers' ``SamHQModel``.

Used by scripts/check_parity.py, scripts/benchmark.py and the parity tests. Both packages are
optional dev dependencies (``pip install -e ".[dev]"``): they are imported when a builder is
called, and a missing one raises an ImportError that says so.
"""

from __future__ import annotations

import importlib
import os
import tempfile

from torch import nn

from samhq_train.model import save_checkpoint, variant_config

DEV_INSTALL = 'pip install -e ".[dev]"'


def _optional(module: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"{module} is not installed; it is a dev dependency: {DEV_INSTALL}") from None


def build_official(variant: str = "vit_demo") -> nn.Module:
    """segment_anything_hq's Sam with MaskDecoderHQ (random weights, eval mode).

    The official variants (vit_b, vit_l, vit_h, vit_tiny) come from its ``sam_model_registry``;
    any other ViT size of our registry (vit_demo, the test size) is built from its classes.
    """
    package = _optional("segment_anything_hq")
    if variant in package.sam_model_registry and variant != "default":
        return package.sam_model_registry[variant]().eval()
    m = package.modeling
    cfg = variant_config(variant)
    grid = cfg.image_size // cfg.patch_size
    return m.Sam(
        image_encoder=m.ImageEncoderViT(
            depth=cfg.encoder_depth,
            embed_dim=cfg.encoder_embed_dim,
            img_size=cfg.image_size,
            mlp_ratio=4,
            norm_layer=lambda dim: nn.LayerNorm(dim, eps=1e-6),
            num_heads=cfg.encoder_num_heads,
            patch_size=cfg.patch_size,
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=cfg.encoder_global_attn_indexes,
            window_size=cfg.window_size,
            out_chans=cfg.prompt_embed_dim,
        ),
        prompt_encoder=m.PromptEncoder(
            embed_dim=cfg.prompt_embed_dim,
            image_embedding_size=(grid, grid),
            input_image_size=(cfg.image_size, cfg.image_size),
            mask_in_chans=cfg.mask_in_chans,
        ),
        mask_decoder=m.MaskDecoderHQ(
            num_multimask_outputs=3,
            transformer=m.TwoWayTransformer(
                depth=cfg.decoder_depth,
                embedding_dim=cfg.prompt_embed_dim,
                mlp_dim=cfg.decoder_mlp_dim,
                num_heads=cfg.decoder_num_heads,
            ),
            transformer_dim=cfg.prompt_embed_dim,
            iou_head_depth=3,
            iou_head_hidden_dim=cfg.iou_head_hidden_dim,
            vit_dim=cfg.encoder_embed_dim,
        ),
    ).eval()


def official_twin(model: nn.Module, variant: str = "vit_demo") -> nn.Module:
    """The official model carrying exactly ``model``'s weights (loaded strictly), on its device,
    in eval mode (set after the move: TinyViT caches its attention biases on ``eval()``)."""
    official = build_official(variant)
    official.load_state_dict(model.state_dict(), strict=True)
    return official.to(next(model.parameters()).device).train().eval()


def load_transformers_model(
    directory: str | os.PathLike, attn_implementation: str = "eager"
) -> nn.Module:
    """transformers' SamHQModel from a transformers directory (eval mode, nothing downloaded)."""
    transformers = _optional("transformers")
    return transformers.SamHQModel.from_pretrained(
        directory, local_files_only=True, attn_implementation=attn_implementation
    ).eval()


def transformers_twin(
    model: nn.Module, variant: str, attn_implementation: str = "eager"
) -> nn.Module:
    """transformers' SamHQModel carrying ``model``'s weights (written in our transformers format
    and read back). Raises CheckpointError for models transformers cannot hold (TinyViT, SAM 2)."""
    _optional("transformers")  # fail before writing anything
    device = next(model.parameters()).device
    with tempfile.TemporaryDirectory() as directory:
        save_checkpoint(model.cpu(), directory, "transformers", variant=variant)
        model.to(device)
        return load_transformers_model(directory, attn_implementation)
