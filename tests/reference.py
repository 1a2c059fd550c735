"""Reference implementations for parity tests: the official package and transformers, built at
the same size as ours, plus helpers that give every tensor random values."""

import torch
from torch import nn

from samhq_train.model import SamHQ, build_sam_hq, variant_config


def randomize_(model: nn.Module, seed: int = 0, scale: float = 0.1) -> nn.Module:
    """Give every parameter and buffer random values (norm weights and BatchNorm variances around 1), so that no
    zero or identity init can hide a wrong wiring."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in sorted(model.state_dict(keep_vars=True).items()):
            noise = torch.randn(tensor.shape, generator=gen) * scale
            if name.endswith("weight") and tensor.dim() == 1:  # norms
                noise = noise + 1.0
            elif name.endswith("running_var"):  # BatchNorm variances must stay positive
                noise = noise.abs() + 1.0
            tensor.copy_(noise.to(tensor.dtype))
    return model


def random_tiny_model(seed: int = 0) -> SamHQ:
    return randomize_(build_sam_hq("vit_demo", seed=seed), seed=seed)


def build_official(variant: str = "vit_demo") -> nn.Module:
    """segment_anything_hq's Sam with MaskDecoderHQ at one of our registry sizes."""
    from segment_anything_hq.modeling import (
        ImageEncoderViT,
        MaskDecoderHQ,
        PromptEncoder,
        Sam,
        TwoWayTransformer,
    )

    cfg = variant_config(variant)
    grid = cfg.image_size // cfg.patch_size
    return Sam(
        image_encoder=ImageEncoderViT(
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
        prompt_encoder=PromptEncoder(
            embed_dim=cfg.prompt_embed_dim,
            image_embedding_size=(grid, grid),
            input_image_size=(cfg.image_size, cfg.image_size),
            mask_in_chans=cfg.mask_in_chans,
        ),
        mask_decoder=MaskDecoderHQ(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(
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


def official_twin(model: SamHQ, variant: str = "vit_demo") -> nn.Module:
    """The official model carrying exactly `model`'s weights (loaded strictly)."""
    official = build_official(variant)
    official.load_state_dict(model.state_dict(), strict=True)
    return official


TRANSFORMERS_DECODER_DEFECT = (
    "transformers' SamHQMaskDecoder (seen in 4.57.6 and 5.17-5.24) upscales the pre-transformer "
    "image embedding (H and W swapped) instead of the two-way transformer's updated image tokens, "
    "so its masks differ from the official SAM-HQ on the same weights"
)


def patch_transformers_decoder(hf_model: nn.Module) -> list:
    """Make transformers' SamHQ decoder upscale the two-way transformer's image output, as the
    official code does, with two hooks (no transformers code copied). Returns the hook handles."""
    decoder = hf_model.mask_decoder
    kept = {}

    def keep_image_tokens(_module, _inputs, outputs):
        kept["tokens"] = outputs[1]  # updated image tokens, (B*P, 1, H*W, C) or (B*P, H*W, C)

    def use_image_tokens(_module, inputs):
        x = inputs[0]
        n, c, h, w = x.shape
        tokens = kept["tokens"].reshape(n, h * w, c)
        return (tokens.transpose(1, 2).reshape(n, c, h, w),)

    return [
        decoder.transformer.register_forward_hook(keep_image_tokens),
        decoder.upscale_conv1.register_forward_pre_hook(use_image_tokens),
    ]


def load_transformers_model(directory) -> nn.Module:
    from transformers import SamHQModel

    return SamHQModel.from_pretrained(directory, local_files_only=True, attn_implementation="eager").eval()
