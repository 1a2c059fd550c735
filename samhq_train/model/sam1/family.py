"""The SAM 1 family's record: its builder, format rules (HQ key set, how a state dict tells its
variant), input rule, LoRA targets, ONNX encoder and decoder, transformers codec, official base
files and attention kernels."""

from dataclasses import asdict

import torch

from ..family_record import Family, block_count, only_variant
from ..prompt_encoder import PromptEncoder
from ..two_way_transformer import TwoWayTransformer
from . import flex_attention
from .config import VARIANT_ALIASES, VARIANTS, SamHQConfig
from .image_encoder import ImageEncoderViT
from .mask_decoder import MaskDecoderHQ
from .model import SamHQ
from .onnx import Sam1OnnxDecoder, Sam1OnnxEncoder
from .processing import LongestSideProcessing
from .tiny_vit import TinyViT
from .transformers_format import CODEC

# the five HQ modules of SAM-HQ's mask decoder (official names); everything else is SAM
HQ_MODULES = (
    "hf_token",
    "hf_mlp",
    "compress_vit_feat",
    "embedding_encoder",
    "embedding_maskfeature",
)

# the official SAM files that training starts from
OFFICIAL_FILES = {
    "vit_b": "sam_vit_b_01ec64.pth",
    "vit_l": "sam_vit_l_0b3195.pth",
    "vit_h": "sam_vit_h_4b8939.pth",
    "vit_tiny": "mobile_sam.pt",  # Light HQ-SAM trains on MobileSAM's TinyViT
}

# LoRA globs; TinyViT's layers[0] is convolutional and has no Linear to match
LORA_TARGETS = {
    "attn": (
        "image_encoder.blocks.*.attn.qkv",
        "image_encoder.blocks.*.attn.proj",
        "image_encoder.layers.*.blocks.*.attn.qkv",
        "image_encoder.layers.*.blocks.*.attn.proj",
    ),
    "mlp": (
        "image_encoder.blocks.*.mlp.lin1",
        "image_encoder.blocks.*.mlp.lin2",
        "image_encoder.layers.*.blocks.*.mlp.fc1",
        "image_encoder.layers.*.blocks.*.mlp.fc2",
    ),
    # q/k/v/out projections of every two-way attention block and of final_attn_token_to_image
    "decoder": ("mask_decoder.transformer.*_proj",),
}


def build_image_encoder(cfg: SamHQConfig) -> ImageEncoderViT | TinyViT:
    if cfg.tiny_vit is not None:
        tv = cfg.tiny_vit
        if tv.embed_dims[TinyViT.early_layer_index + 1] != cfg.encoder_embed_dim:
            raise ValueError("encoder_embed_dim must be the width of the TinyViT early feature")
        return TinyViT(img_size=cfg.image_size, out_chans=cfg.prompt_embed_dim, **asdict(tv))
    return ImageEncoderViT(
        img_size=cfg.image_size,
        patch_size=cfg.patch_size,
        embed_dim=cfg.encoder_embed_dim,
        depth=cfg.encoder_depth,
        num_heads=cfg.encoder_num_heads,
        out_chans=cfg.prompt_embed_dim,
        window_size=cfg.window_size,
        global_attn_indexes=cfg.encoder_global_attn_indexes,
    )


def build(cfg: SamHQConfig) -> SamHQ:
    """A model of these shapes with PyTorch's default init."""
    embedding_size = cfg.image_size // cfg.patch_size
    return SamHQ(
        image_encoder=build_image_encoder(cfg),
        prompt_encoder=PromptEncoder(
            embed_dim=cfg.prompt_embed_dim,
            image_embedding_size=(embedding_size, embedding_size),
            input_image_size=(cfg.image_size, cfg.image_size),
            mask_in_chans=cfg.mask_in_chans,
        ),
        mask_decoder=MaskDecoderHQ(
            transformer_dim=cfg.prompt_embed_dim,
            transformer=TwoWayTransformer(
                depth=cfg.decoder_depth,
                embedding_dim=cfg.prompt_embed_dim,
                num_heads=cfg.decoder_num_heads,
                mlp_dim=cfg.decoder_mlp_dim,
            ),
            vit_dim=cfg.encoder_embed_dim,
            iou_head_hidden_dim=cfg.iou_head_hidden_dim,
        ),
    )


def owns_state(state: dict) -> bool:
    """Whether a (full or HQ-only) state dict has SAM 1 key names."""
    return any(k.startswith(("mask_decoder.", "image_encoder.patch_embed.")) for k in state)


def detect_variant(state: dict[str, torch.Tensor]) -> str | None:
    """The variant whose shapes a (full or HQ-only) official SAM 1 state dict has."""
    patch = state.get("image_encoder.patch_embed.proj.weight")
    if patch is not None:
        width = patch.shape[0]
        depth = block_count(state, "image_encoder.blocks.")
        return only_variant(
            VARIANTS,
            lambda c: (
                c.tiny_vit is None and c.encoder_embed_dim == width and c.encoder_depth == depth
            ),
        )
    if "image_encoder.patch_embed.seq.0.c.weight" in state:  # a TinyViT encoder
        widths = tuple(
            state[f"image_encoder.layers.{i}.blocks.0.{name}"].shape[0]
            for i, name in enumerate(["conv3.c.weight"] + ["attn.proj.weight"] * 3)
            if f"image_encoder.layers.{i}.blocks.0.{name}" in state
        )
        return only_variant(
            VARIANTS, lambda c: c.tiny_vit is not None and c.tiny_vit.embed_dims == widths
        )
    vit = state.get("mask_decoder.compress_vit_feat.0.weight")
    if vit is None:
        return None
    return only_variant(VARIANTS, lambda c: c.encoder_embed_dim == vit.shape[0])


FAMILY = Family(
    name="sam1",
    variants=VARIANTS,
    build=build,
    hq_modules=HQ_MODULES,
    detect_variant=detect_variant,
    owns_state=owns_state,
    decoder_prefix="mask_decoder.",
    processing=LongestSideProcessing,
    aliases=VARIANT_ALIASES,
    official_files=OFFICIAL_FILES,
    lora_targets=LORA_TARGETS,
    onnx_decoder=Sam1OnnxDecoder,
    onnx_encoder=Sam1OnnxEncoder,
    transformers_codec=CODEC,
    attention=flex_attention.set_attention_kernel,
    has_int8_encoder=lambda cfg: cfg.tiny_vit is None,  # ViT: yes; Light HQ-SAM's TinyViT: no
)
