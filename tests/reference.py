"""Reference implementations for parity tests: the official package and transformers, built at
the same size as ours (samhq_train.reference, shared with scripts/check_parity.py and
scripts/benchmark.py), plus test-only helpers that give every tensor random values."""

import torch
from torch import nn

from samhq_train.model import SamHQ, build_sam_hq
from samhq_train.reference import build_official, load_transformers_model, official_twin

__all__ = [
    "TRANSFORMERS_DECODER_DEFECT", "build_official", "load_transformers_model",
    "official_sam_decoder", "official_twin", "patch_transformers_decoder", "random_tiny_model",
    "randomize_",
]


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


def official_sam_decoder(official: nn.Module) -> nn.Module:
    """The official package's plain SAM MaskDecoder on an official SAM-HQ model's decoder weights
    (sharing its two-way transformer): what use_hq=False must match."""
    from segment_anything_hq.modeling import MaskDecoder

    hq_decoder = official.mask_decoder
    sam_decoder = MaskDecoder(
        transformer_dim=hq_decoder.transformer_dim,
        transformer=hq_decoder.transformer,
        num_multimask_outputs=3,
        iou_head_hidden_dim=hq_decoder.iou_prediction_head.layers[0].out_features,
    ).eval()
    own_keys = sam_decoder.state_dict()
    sam_decoder.load_state_dict(
        {k: v for k, v in hq_decoder.state_dict().items() if k in own_keys}, strict=True
    )
    return sam_decoder


def random_tiny_model(seed: int = 0) -> SamHQ:
    return randomize_(build_sam_hq("vit_demo", seed=seed), seed=seed)


TRANSFORMERS_DECODER_DEFECT = (
    "transformers' SamHQMaskDecoder (from 4.54; seen in 4.57.6 and 5.17-5.25) upscales the "
    "pre-transformer image embedding (H and W swapped) instead of the two-way transformer's "
    "updated image tokens, so its masks differ from the official SAM-HQ on the same weights"
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
