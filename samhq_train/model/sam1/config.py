"""SAM 1 family shapes: ViT-B/L/H, Light HQ-SAM's TinyViT, the small demo ViTs."""

from dataclasses import dataclass


@dataclass(frozen=True)
class TinyViTConfig:
    """The TinyViT image encoder of Light HQ-SAM (MobileSAM's, 4 stages)."""

    embed_dims: tuple[int, ...] = (64, 128, 160, 320)
    depths: tuple[int, ...] = (2, 2, 6, 2)
    num_heads: tuple[int, ...] = (2, 4, 5, 10)
    window_sizes: tuple[int, ...] = (7, 7, 14, 7)
    mlp_ratio: float = 4.0
    mbconv_expand_ratio: float = 4.0
    local_conv_size: int = 3


@dataclass(frozen=True)
class SamHQConfig:
    """Shapes of one variant. With `tiny_vit` set the image encoder is that TinyViT: then
    encoder_embed_dim is the width of its early feature (the decoder's vit_dim) and the other
    encoder_* fields, which describe a ViT, are unused (0 / ())."""

    encoder_embed_dim: int
    encoder_depth: int
    encoder_num_heads: int
    encoder_global_attn_indexes: tuple[int, ...]
    image_size: int = 1024
    patch_size: int = 16
    window_size: int = 14
    prompt_embed_dim: int = 256
    mask_in_chans: int = 16
    decoder_depth: int = 2
    decoder_num_heads: int = 8
    decoder_mlp_dim: int = 2048
    iou_head_hidden_dim: int = 256
    tiny_vit: TinyViTConfig | None = None


VARIANTS: dict[str, SamHQConfig] = {
    "vit_b": SamHQConfig(768, 12, 12, (2, 5, 8, 11)),
    "vit_l": SamHQConfig(1024, 24, 16, (5, 11, 17, 23)),
    "vit_h": SamHQConfig(1280, 32, 16, (7, 15, 23, 31)),
    # Light HQ-SAM: TinyViT encoder; early feature = output of its layers[1], 160 wide
    "vit_tiny": SamHQConfig(160, 0, 0, (), tiny_vit=TinyViTConfig()),
    # the small ViT of the tests and the demo: 4 blocks, 64 wide, 256 px input; window 6
    # exercises window padding
    "vit_demo": SamHQConfig(
        64,
        4,
        2,
        (1, 3),
        image_size=256,
        window_size=6,
        prompt_embed_dim=64,
        decoder_num_heads=4,
        decoder_mlp_dim=256,
        iou_head_hidden_dim=64,
    ),
    # the demo's pretrained base (scripts/make_demo_base.py, data/demo_base/): vit_demo at 384 px
    # and 96 wide, so that the S/4 masks (96 x 96) can hold the demo's thin parts
    "vit_demo_base": SamHQConfig(
        96,
        4,
        3,
        (1, 3),
        image_size=384,
        window_size=8,
        prompt_embed_dim=64,
        decoder_num_heads=4,
        decoder_mlp_dim=256,
        iou_head_hidden_dim=64,
    ),
}


# earlier names still accepted (checkpoints record the variant they were trained with): the demo
# ViT was called "tiny" before it became vit_demo (not vit_tiny, which is Light HQ-SAM)
VARIANT_ALIASES = {"tiny": "vit_demo"}
