"""The SAM 3 family's record: its builder, format rules (HQ key set, official file layout, variant
detection, the tensors it carries, the base config two HQ designs share), input rule, LoRA targets,
ONNX decoder and official base file; no transformers codec (transformers' Sam3Tracker* classes
are not a target here) and no attention kernels. Meta's sam3.pt is a flat state dict (detector.* /
tracker.*; a {"model": ...} wrapper is read too); an HQ-SAM 3 file is the same plus the HQ keys
under tracker.sam_mask_decoder."""

import torch
from torch import nn

from ..family_record import Family, block_count, only_variant
from ..prompt_encoder import PromptEncoder
from ..sam2.family import (
    SAM2_AMG,
    build_memory_attention,
    build_memory_encoder,
    mask_decoder_options,
)
from ..sam2.layers import MLP
from ..sam2.mask_decoder import MaskDecoderHQ
from ..two_way_transformer import TwoWayTransformer
from . import carried
from .concept.detector import INTERACTIVE_PREFIXES, PREFIX, ConceptDetector
from .config import META_VARIANTS, VARIANTS, Sam3Config
from .image_encoder import VisionBackbone
from .mask_decoder import MaskDecoderHQFusion
from .model import VIDEO_PREFIXES, Sam3HQ, VideoParts, is_carried_key
from .onnx import Sam3OnnxDecoder, Sam3OnnxEncoder
from .processing import Sam3Processing
from .vit import ViT

# HQ-SAM 2's three HQ modules, under tracker.sam_mask_decoder. (+ HQ-SAM 1's two of early fusion)
HQ_MODULES = (
    "hf_token",
    "hf_mlp",
    "embedding_maskfeature",
    "compress_vit_feat",
    "embedding_encoder",
)
_FUSION_KEY = "tracker.sam_mask_decoder.compress_vit_feat."
TRUNK = "detector.backbone.vision_backbone.trunk."
_PATCH_KEY = TRUNK + "patch_embed.proj.weight"
DECODER_PREFIX = "tracker.sam_mask_decoder."

# HQ-SAM 3 trains on Meta's SAM 3 (detector and tracker, one file), in either HQ design
OFFICIAL_FILES = {"sam3_hq": "sam3.pt", "sam3_hq_ef": "sam3.pt"}

LORA_TARGETS = {
    # the ViT trunk, under the detector's vision backbone (shared with the interactive path)
    "attn": (TRUNK + "blocks.*.attn.qkv", TRUNK + "blocks.*.attn.proj"),
    "mlp": (TRUNK + "blocks.*.mlp.fc1", TRUNK + "blocks.*.mlp.fc2"),
    # q/k/v/out projections of every two-way attention block and of final_attn_token_to_image
    "decoder": (DECODER_PREFIX + "transformer.*_proj",),
}


def build(cfg: Sam3Config) -> Sam3HQ:
    """A model of these shapes with PyTorch's default init (and nothing carried yet)."""
    v, d, c = cfg.vit, cfg.decoder, cfg.d_model
    trunk = ViT(
        img_size=v.img_size,
        patch_size=v.patch_size,
        embed_dim=v.embed_dim,
        depth=v.depth,
        num_heads=v.num_heads,
        mlp_dim=v.mlp_dim,
        window_size=v.window_size,
        global_att_blocks=v.global_att_blocks,
        pretrain_img_size=v.pretrain_img_size,
        rope_theta=v.rope_theta,
    )
    grid = v.grid
    # the backbone and prompt encoder are drawn before the decoder, so a seeded model has the
    # same SAM 3 image path in both HQ designs (the fusion modules are drawn last); the video
    # parts are drawn on forked RNG states, so the other draws are what they were without them
    with torch.random.fork_rng(devices=[]):
        video = build_video_parts(cfg)
    vision_backbone = VisionBackbone(trunk=trunk, d_model=c, scale_factors=cfg.neck_scale_factors)
    prompt_encoder = PromptEncoder(
        embed_dim=c,
        image_embedding_size=(grid, grid),
        input_image_size=(v.img_size, v.img_size),
        mask_in_chans=d.mask_in_chans,
    )
    fusion = {"vit_dim": v.embed_dim} if cfg.hq_early_fusion else {}
    decoder = (MaskDecoderHQFusion if fusion else MaskDecoderHQ)(
        **fusion,
        transformer_dim=c,
        # SAM 3's two-way transformer has SAM 1's token MLP (lin1 / lin2), the default
        transformer=TwoWayTransformer(
            depth=d.depth, embedding_dim=c, num_heads=d.num_heads, mlp_dim=d.mlp_dim
        ),
        **mask_decoder_options(d),
    )
    return Sam3HQ(
        vision_backbone=vision_backbone,
        prompt_encoder=prompt_encoder,
        mask_decoder=decoder,
        video=video,
        tracking=cfg.tracking,
        concept=cfg.concept,
    )


def build_video_parts(cfg: Sam3Config) -> VideoParts:
    """The tracker's memory attention, memory encoder and object-pointer modules (Sam3TrackerBase
    as model_builder.build_tracker makes it: SAM 2.1's memory shapes)."""
    c, m = cfg.d_model, cfg.memory
    return VideoParts(
        memory_attention=build_memory_attention(m, c),
        memory_encoder=build_memory_encoder(m, cfg.memory_mask_size),
        mask_downsample=nn.Conv2d(1, 1, kernel_size=4, stride=4),
        obj_ptr_proj=MLP(c, c, c, 3),
        obj_ptr_tpos_proj=nn.Linear(c, m.encoder_out_dim),
        num_maskmem=m.num_maskmem,
    )


def add_fresh_video_parts(model: Sam3HQ, cfg: Sam3Config) -> None:
    """Start the tracker's video parts of a model loaded without them (an image-only file) as
    Meta's Sam3TrackerBase starts them: the modules with their constructors' init (PyTorch's
    defaults, the fuser's layer scale 1e-6), the learned embeddings truncated normal (0.02)."""
    model.attach_video_parts(build_video_parts(cfg))


def add_fresh_detector(model: Sam3HQ, seed: int) -> None:
    """Give a SAM 3 model loaded without the concept detector's tensors (the seeded random demo
    backbone, an image-only file) a fresh ConceptDetector of its variant's sizes, drawn under
    torch's RNG seeded with `seed` (the caller's RNG state is left as it was) and started as
    Meta's builder starts it (init_detector_as_meta). Its tensors are carried at sam3.pt's
    detector.* paths, as a loaded file's are: concept_detector, attach_detector and a full export
    then see what they see with Meta's file. ValueError for a model that has detector tensors."""
    if getattr(model, "family", None) != "sam3" or model.concept_config is None:
        raise ValueError("a fresh concept detector needs a SAM 3 model of a variant with one")
    own = [k for k in model.state_dict() if k.startswith(PREFIX)]
    held = [k for k in own if not k.startswith(INTERACTIVE_PREFIXES)]
    if held:
        raise ValueError(
            f"this SAM 3 model already has concept detector tensors ({held[0]}, ...): it keeps "
            "them; a fresh detector is for a model loaded without one"
        )
    backbone = model.image_encoder
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        detector = ConceptDetector(
            model.concept_config,
            vit_dim=backbone.trunk.pos_embed.shape[-1],
            scale_factors=tuple(backbone.scale_factors),
        )
        init_detector_as_meta(detector, backbone.sam2_convs)
    like = backbone.trunk.pos_embed
    for key, tensor in detector.state_dict().items():
        value = tensor.to(device=like.device, dtype=like.dtype if tensor.is_floating_point()
                          else tensor.dtype)
        carried.carry(model, PREFIX + key, value.detach().clone())


@torch.no_grad()
def init_detector_as_meta(detector: ConceptDetector, interactive_neck: nn.ModuleList) -> None:
    """What Meta's SAM 3 builder does to a new detector beyond its modules' own init:
    TransformerWrapper draws every matrix of the fusion encoder and the decoder Xavier-uniform
    (not the box head, query embeddings or reference points), the decoder's box head ends in
    zeros (box refinement starts at the reference boxes), and Sam3DualViTDetNeck's two necks
    start equal (its sam2_convs are a deep copy of convs): here the detector's neck starts as a
    copy of the model's interactive neck where the shapes agree."""
    for name, param in detector.transformer.named_parameters():
        if param.dim() > 1 and not any(
            part in name for part in ("box_embed", "query_embed", "reference_points")
        ):
            nn.init.xavier_uniform_(param)
    last = detector.transformer.decoder.bbox_embed.layers[-1]
    nn.init.zeros_(last.weight)
    nn.init.zeros_(last.bias)
    neck = detector.backbone.vision_backbone.convs
    theirs = interactive_neck.state_dict()
    ours = neck.state_dict()
    if ours.keys() == theirs.keys() and all(ours[k].shape == theirs[k].shape for k in ours):
        neck.load_state_dict(theirs)


def owns_state(state: dict) -> bool:
    """Whether a (full or HQ-only) state dict has SAM 3 key names."""
    return any(k.startswith((TRUNK, DECODER_PREFIX)) for k in state)


def official_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The object to torch.save for an official-format file: the flat state dict, as sam3.pt."""
    return state


def detect_variant(
    state: dict[str, torch.Tensor], variants: dict[str, Sam3Config] = VARIANTS
) -> str | None:
    """The variant whose trunk a full state dict has (width, patch, depth, position-embedding grid)
    and HQ design (early-fusion keys or none: Meta's file gets the default design); None for
    HQ-only state dicts and other families."""
    patch = state.get(_PATCH_KEY)
    if patch is None:
        return None
    depth = block_count(state, TRUNK + "blocks.")
    positions = state[TRUNK + "pos_embed"].shape[1]
    fusion = any(k.startswith(_FUSION_KEY) for k in state)
    return only_variant(
        variants,
        lambda cfg: (
            cfg.vit.embed_dim == patch.shape[0]
            and cfg.vit.patch_size == patch.shape[-1]
            and cfg.vit.depth == depth
            and (cfg.vit.pretrain_img_size // cfg.vit.patch_size) ** 2 + 1 == positions
            and cfg.hq_early_fusion == fusion
        ),
    )


def adopt_carried(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Give the model the detector tensors of a state dict about to be loaded, as carried buffers
    (carried.py): they load, and save back unchanged. A full file without the tracker's video
    parts (an image-only file such as the demo base) takes them off the model: it loads and saves
    back as it was, and cannot track."""
    if _PATCH_KEY in state and not any(k.startswith(VIDEO_PREFIXES) for k in state):
        model.drop_video_parts()
    carried.adopt(model, state, is_carried_key)


def base_config(cfg: Sam3Config) -> Sam3Config:
    return cfg.base_config


FAMILY = Family(
    name="sam3",
    variants=VARIANTS,
    build=build,
    hq_modules=HQ_MODULES,
    detect_variant=detect_variant,
    owns_state=owns_state,
    decoder_prefix=DECODER_PREFIX,
    processing=Sam3Processing,
    aliases=META_VARIANTS,
    official_files=OFFICIAL_FILES,
    official_layout=official_layout,
    lora_targets=LORA_TARGETS,
    onnx_decoder=Sam3OnnxDecoder,
    onnx_encoder=Sam3OnnxEncoder,
    has_int8_encoder=lambda cfg: True,  # the trunk's switch (common.TrunkSwitches)
    amg=SAM2_AMG,
    image_fill_hole_area=256,  # Meta's SAM3InteractiveImagePredictor (predict_inst) default
    adopt_state=adopt_carried,
    base_config=base_config,
    has_video_tracker=True,
)
