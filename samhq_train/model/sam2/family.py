"""The SAM 2.1 family's record: its builder, format rules (HQ key set, official file layout,
variant detection), input rule, LoRA targets, ONNX encoder and decoder and official base files; no
transformers codec and no attention kernels. Official files of both HQ-SAM 2
(sam2.1_hq_hiera_*.pt) and Meta SAM 2.1 (sam2.1_hiera_*.pt) are {"model": state_dict}; Meta's lack
the HQ keys."""

from dataclasses import asdict

import torch

from ..family_record import AmgDefaults, Family, block_count, only_variant
from ..prompt_encoder import PromptEncoder
from ..two_way_transformer import TwoWayTransformer
from .config import META_VARIANTS, VARIANTS, DecoderConfig, MemoryConfig, Sam2Config
from .hiera import Hiera
from .image_encoder import FpnNeck, ImageEncoder
from .layers import MLP
from .mask_decoder import MaskDecoderHQ
from .memory import Fuser, MaskDownSampler, MemoryAttention, MemoryEncoder
from .model import Sam2HQ
from .onnx import Sam2OnnxDecoder, Sam2OnnxEncoder
from .processing import SquareProcessing

# the three HQ modules of HQ-SAM 2's mask decoder (under sam_mask_decoder.); the rest is SAM 2.1
HQ_MODULES = ("hf_token", "hf_mlp", "embedding_maskfeature")
OBJ_SCORE_KEY = "sam_mask_decoder.obj_score_token.weight"
_PATCH_KEY = "image_encoder.trunk.patch_embed.proj.weight"

# HQ-SAM 2 trains on Meta's SAM 2.1 (an official HQ-SAM 2 file exists for Hiera-L only)
OFFICIAL_FILES = {variant: f"{meta}.pt" for meta, variant in META_VARIANTS.items()}

LORA_TARGETS = {
    "attn": ("image_encoder.trunk.blocks.*.attn.qkv", "image_encoder.trunk.blocks.*.attn.proj"),
    "mlp": ("image_encoder.trunk.blocks.*.mlp.layers.*",),
    # q/k/v/out projections of every two-way attention block and of final_attn_token_to_image
    "decoder": ("sam_mask_decoder.transformer.*_proj",),
}


# Meta's sam2 1.1.0 generator; SAM 3, whose interactive path is SAM 2's predictor, has none
SAM2_AMG = AmgDefaults(pred_iou_thresh=0.8, small_regions_at="low_res")

def build(cfg: Sam2Config) -> Sam2HQ:
    """A model of these shapes with PyTorch's default init."""
    d, m = cfg.decoder, cfg.memory
    grid = cfg.image_size // cfg.backbone_stride
    return Sam2HQ(
        image_encoder=_build_image_encoder(cfg),
        prompt_encoder=PromptEncoder(
            embed_dim=cfg.d_model,
            image_embedding_size=(grid, grid),
            input_image_size=(cfg.image_size, cfg.image_size),
            mask_in_chans=d.mask_in_chans,
        ),
        mask_decoder=_build_mask_decoder(cfg),
        memory_attention=build_memory_attention(m, cfg.d_model),
        memory_encoder=build_memory_encoder(m),
        num_maskmem=m.num_maskmem,
        mem_dim=m.encoder_out_dim,
        use_obj_ptrs_in_encoder=m.use_obj_ptrs_in_encoder,
        use_mlp_for_obj_ptr_proj=m.use_mlp_for_obj_ptr_proj,
        proj_tpos_enc_in_obj_ptrs=m.proj_tpos_enc_in_obj_ptrs,
        no_obj_embed_spatial=m.no_obj_embed_spatial,
        directly_add_no_mem_embed=cfg.directly_add_no_mem_embed,
        tracking=cfg.tracking,
    )


def _build_image_encoder(cfg: Sam2Config) -> ImageEncoder:
    neck = asdict(cfg.neck)  # FpnNeck's arguments by name, and the encoder's scalp
    scalp = neck.pop("scalp")
    return ImageEncoder(trunk=Hiera(**asdict(cfg.trunk)), neck=FpnNeck(**neck), scalp=scalp)


# DecoderConfig fields of the two-way transformer and the prompt encoder; the others are
# MaskDecoderHQ arguments of the same name
_NOT_DECODER_OPTIONS = ("depth", "num_heads", "mlp_dim", "mask_in_chans")


def mask_decoder_options(d: DecoderConfig) -> dict:
    """The MaskDecoderHQ arguments a DecoderConfig sets (SAM 2.1's, and SAM 3's decoder)."""
    return {k: v for k, v in asdict(d).items() if k not in _NOT_DECODER_OPTIONS}


def _build_mask_decoder(cfg: Sam2Config) -> MaskDecoderHQ:
    d, c = cfg.decoder, cfg.d_model
    return MaskDecoderHQ(
        transformer_dim=c,
        transformer=TwoWayTransformer(
            depth=d.depth,
            embedding_dim=c,
            num_heads=d.num_heads,
            mlp_dim=d.mlp_dim,
            mlp=lambda dim, hidden: MLP(dim, hidden, dim, 2),  # SAM 2's keys: mlp.layers.N
        ),
        **mask_decoder_options(d),
    )


def build_memory_attention(m: MemoryConfig, d_model: int) -> MemoryAttention:
    """The memory attention of these shapes (SAM 2.1's, and SAM 3's tracker's)."""
    return MemoryAttention(
        d_model=d_model,
        num_layers=m.attention_layers,
        dim_feedforward=m.attention_dim_feedforward,
        num_heads=m.attention_num_heads,
        kv_in_dim=m.attention_kv_in_dim,
        rope_theta=m.rope_theta,
    )


def build_memory_encoder(m: MemoryConfig, interpol_size: int | None = None) -> MemoryEncoder:
    """The memory encoder of these shapes (SAM 2.1's; SAM 3's resizes masks to interpol_size)."""
    return MemoryEncoder(
        in_dim=m.encoder_in_dim,
        out_dim=m.encoder_out_dim,
        mask_downsampler=MaskDownSampler(
            embed_dim=m.downsampler_embed_dim,
            kernel_size=m.downsampler_kernel_size,
            stride=m.downsampler_stride,
            padding=m.downsampler_padding,
            interpol_size=interpol_size,
        ),
        fuser=Fuser(
            num_layers=m.fuser_layers,
            dim=m.fuser_dim,
            kernel_size=m.fuser_kernel_size,
            padding=m.fuser_padding,
            use_dwconv=m.fuser_use_dwconv,
        ),
    )


def owns_state(state: dict) -> bool:
    """Whether a (full or HQ-only) state dict has SAM 2.1 / HQ-SAM 2 key names."""
    return any(k.startswith(("image_encoder.trunk.", "sam_mask_decoder.")) for k in state)


def official_layout(state: dict[str, torch.Tensor]) -> dict:
    """The object to torch.save for an official-format file."""
    return {"model": state}


def _trunk_stages(state: dict[str, torch.Tensor]) -> tuple[int, ...]:
    """Blocks per stage, from which blocks change width (they carry a `proj`)."""
    depth = block_count(state, "image_encoder.trunk.blocks.")
    starts = (
        [0]
        + [i for i in range(depth) if f"image_encoder.trunk.blocks.{i}.proj.weight" in state]
        + [depth]
    )
    return tuple(b - a for a, b in zip(starts, starts[1:]))


def detect_variant(
    state: dict[str, torch.Tensor], variants: dict[str, Sam2Config] = VARIANTS
) -> str | None:
    """The variant whose shapes a full official state dict has (trunk width, blocks per stage,
    position-embedding sizes); None for other families and for HQ-only state dicts (the HQ parts
    are 256 wide in every size). Raises for a trunk without SAM 2.1's object-score token."""
    patch = state.get(_PATCH_KEY)
    if patch is None:
        return None
    if OBJ_SCORE_KEY not in state:
        raise ValueError(
            f"state dict has a Hiera trunk but no {OBJ_SCORE_KEY}: not a SAM 2.1 / HQ-SAM 2 "
            "decoder (it predicts object scores)"
        )
    stages = _trunk_stages(state)
    bkg = tuple(state["image_encoder.trunk.pos_embed"].shape[-2:])
    window = state["image_encoder.trunk.pos_embed_window"].shape[-1]
    return only_variant(
        variants,
        lambda cfg: (
            cfg.trunk.embed_dim == patch.shape[0]
            and cfg.trunk.stages == stages
            and cfg.trunk.window_pos_embed_bkg_spatial_size == bkg
            and cfg.trunk.window_spec[0] == window
        ),
    )


FAMILY = Family(
    name="sam2",
    variants=VARIANTS,
    build=build,
    hq_modules=HQ_MODULES,
    detect_variant=detect_variant,
    owns_state=owns_state,
    decoder_prefix="sam_mask_decoder.",
    processing=SquareProcessing,
    aliases=META_VARIANTS,
    official_files=OFFICIAL_FILES,
    official_layout=official_layout,
    lora_targets=LORA_TARGETS,
    onnx_decoder=Sam2OnnxDecoder,
    onnx_encoder=Sam2OnnxEncoder,
    has_int8_encoder=lambda cfg: True,  # the trunk's switch (common.TrunkSwitches)
    amg=SAM2_AMG,
    has_video_tracker=True,
)
