"""Meta's SAM 3 image model (Sam3Image: the concept detector with its text encoder, and the
interactive predictor) at the sam3_hq_demo miniature's vision shapes, with a small text encoder
on a synthetic BPE vocabulary; every tensor drawn so no init value hides a wrong wire. Imports
sam3: use only where it is installed."""

import contextlib
from pathlib import Path

import torch
from sam3.model.decoder import TransformerDecoder, TransformerDecoderLayer
from sam3.model.encoder import TransformerEncoderFusion, TransformerEncoderLayer
from sam3.model.geometry_encoders import SequenceGeometryEncoder
from sam3.model.maskformer_segmentation import PixelDecoder, UniversalSegmentationHead
from sam3.model.memory import CXBlock  # noqa: F401  (model_builder imports it for the geometry)
from sam3.model.model_misc import (
    MLP,
    DotProductScoring,
    MultiheadAttentionWrapper,
    TransformerWrapper,
)
from sam3.model.position_encoding import PositionEmbeddingSine
from sam3.model.sam1_task_predictor import SAM3InteractiveImagePredictor
from sam3.model.sam3_image import Sam3Image
from sam3.model.sam3_image_processor import Sam3Processor
from sam3.model.text_encoder_ve import VETextEncoder
from sam3.model.tokenizer_ve import SimpleTokenizer
from sam3.model.vl_combiner import SAM3VLBackbone

from samhq_train.model.sam3 import VARIANTS

from ..meta_reference import VARIANT, build_meta_mini, vision_neck
from .synthetic_bpe import write_merges_file

CFG = VARIANTS[VARIANT].concept  # the miniature's detector sizes (Meta's: ConceptConfig())


def _attention(d: int, batch_first: bool, dropout: float = 0.0) -> MultiheadAttentionWrapper:
    return MultiheadAttentionWrapper(
        num_heads=CFG.num_heads, dropout=dropout, embed_dim=d, batch_first=batch_first
    )


def _encoder_layer(d: int, batch_first: bool, geometry: bool) -> TransformerEncoderLayer:
    return TransformerEncoderLayer(
        activation="relu",
        d_model=d,
        dim_feedforward=CFG.dim_feedforward,
        dropout=0.0,
        pos_enc_at_attn=not geometry,
        pos_enc_at_cross_attn_keys=geometry,
        pos_enc_at_cross_attn_queries=False,
        pre_norm=True,
        self_attention=_attention(d, batch_first),
        cross_attention=_attention(d, batch_first),
    )


def _transformer(d: int) -> TransformerWrapper:
    encoder = TransformerEncoderFusion(
        layer=_encoder_layer(d, batch_first=True, geometry=False),
        num_layers=CFG.encoder_layers,
        d_model=d,
        num_feature_levels=1,
        frozen=False,
        use_act_checkpoint=False,
        add_pooled_text_to_img_feat=False,
        pool_text_with_mask=True,
    )
    decoder_layer = TransformerDecoderLayer(
        activation="relu",
        d_model=d,
        dim_feedforward=CFG.dim_feedforward,
        dropout=0.0,
        cross_attention=_attention(d, batch_first=False),
        n_heads=CFG.num_heads,
        use_text_cross_attention=True,
    )
    decoder = TransformerDecoder(
        layer=decoder_layer,
        num_layers=CFG.decoder_layers,
        num_queries=CFG.num_queries,
        return_intermediate=True,
        box_refine=True,
        num_o2m_queries=0,
        dac=True,
        boxRPB="log",
        d_model=d,
        frozen=False,
        interaction_layer=None,
        dac_use_selfatt_ln=True,
        resolution=None,  # Meta precomputes the box-bias grid on cuda when given; same values
        stride=None,
        use_act_checkpoint=False,
        presence_token=True,
    )
    return TransformerWrapper(encoder=encoder, decoder=decoder, d_model=d)


def _geometry_encoder(d: int) -> SequenceGeometryEncoder:
    return SequenceGeometryEncoder(
        pos_enc=PositionEmbeddingSine(num_pos_feats=d, normalize=True),
        encode_boxes_as_points=False,
        points_direct_project=True,
        points_pool=True,
        points_pos_enc=True,
        boxes_direct_project=True,
        boxes_pool=True,
        boxes_pos_enc=True,
        d_model=d,
        num_layers=CFG.geometry_layers,
        layer=_encoder_layer(d, batch_first=False, geometry=True),
        use_act_ckpt=False,
        add_cls=True,
        add_post_encode_proj=True,
    )


def _segmentation_head(d: int) -> UniversalSegmentationHead:
    return UniversalSegmentationHead(
        hidden_dim=d,
        upsampling_stages=3,
        aux_masks=False,
        presence_head=False,
        dot_product_scorer=None,
        act_ckpt=False,
        cross_attend_prompt=MultiheadAttentionWrapper(
            num_heads=CFG.num_heads, dropout=0, embed_dim=d
        ),
        pixel_decoder=PixelDecoder(
            num_upsampling_stages=3, interpolation_mode="nearest", hidden_dim=d
        ),
    )


def _scoring(d: int) -> DotProductScoring:
    prompt_mlp = MLP(
        input_dim=d,
        hidden_dim=CFG.dim_feedforward,
        output_dim=d,
        num_layers=2,
        dropout=0.0,
        residual=True,
        out_norm=torch.nn.LayerNorm(d),
    )
    return DotProductScoring(d_model=d, d_proj=d, prompt_mlp=prompt_mlp)


@torch.no_grad()
def draw_detector(model: Sam3Image, std: float = 0.1) -> None:
    """Every detector / text tensor drawn afresh (Meta leaves some as torch.empty until a
    checkpoint fills them): N(0, std^2), norm weights N(1, std^2)."""
    skip = ("backbone.vision_backbone.", "inst_interactive_predictor.")
    for name, module in model.named_modules():
        if name.startswith(skip):
            continue
        norm = isinstance(module, (torch.nn.LayerNorm, torch.nn.GroupNorm))
        for pname, tensor in module.named_parameters(recurse=False):
            tensor.normal_(1.0 if norm and pname == "weight" else 0.0, std)


def build_meta_image_model(bpe_path: Path, seed: int = 0):
    """(Sam3Image with its interactive predictor, sam3.pt-layout state dict). The detector and
    text encoder are drawn afresh (draw_detector), the vision backbone and tracker are
    build_meta_mini's (the interactive parity's)."""
    cfg = VARIANTS[VARIANT]
    d = cfg.d_model
    tracker, mini_predictor, tracker_state = build_meta_mini(seed)
    # the image model's interactive predictor as build_sam3_image_model makes it: Meta's
    # defaults, so small holes (max_hole_area 256) are filled in what predict_inst returns
    predictor = SAM3InteractiveImagePredictor(tracker)
    predictor._bb_feat_sizes = mini_predictor._bb_feat_sizes
    tokenizer = SimpleTokenizer(bpe_path=str(bpe_path))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        text = VETextEncoder(
            d_model=d,
            tokenizer=tokenizer,
            width=CFG.text_width,
            heads=CFG.text_heads,
            layers=CFG.text_layers,
            context_length=CFG.context_length,
            vocab_size=CFG.vocab_size,
            use_act_checkpoint=False,
        )
        model = Sam3Image(
            backbone=SAM3VLBackbone(visual=tracker.backbone.vision_backbone, text=text, scalp=1),
            transformer=_transformer(d),
            input_geometry_encoder=_geometry_encoder(d),
            segmentation_head=_segmentation_head(d),
            num_feature_levels=1,
            o2m_mask_predict=True,
            dot_prod_scoring=_scoring(d),
            use_instance_query=False,
            multimask_output=True,
            inst_interactive_predictor=predictor,
            matcher=None,
        )
        draw_detector(model)
    model.eval()
    state = dict(tracker_state)
    for key, value in model.state_dict().items():
        if not key.startswith("inst_interactive_predictor."):
            state["detector." + key] = value.clone()
    return model, state


@contextlib.contextmanager
def without_pinned_memory():
    """Meta's geometry encoder pins a host tensor before moving it (fails with no CUDA driver):
    pinning is a transfer detail, so it is skipped for the CPU reference run."""
    pin = torch.Tensor.pin_memory
    torch.Tensor.pin_memory = lambda self, *args, **kwargs: self
    try:
        yield
    finally:
        torch.Tensor.pin_memory = pin


def meta_processor(model: Sam3Image, threshold: float = 0.5) -> Sam3Processor:
    return Sam3Processor(
        model,
        resolution=VARIANTS[VARIANT].image_size,
        device="cpu",
        confidence_threshold=threshold,
    )




class FixedTrunk(torch.nn.Module):
    """Stands in for Meta's ViT trunk: returns the map it is given (`trunk_map`, N x C x g x g),
    so Meta's neck and detector run on the same trunk map as ours (and its gradient shows)."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk_map: torch.Tensor | None = None

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        assert self.trunk_map is not None and images.shape[0] == self.trunk_map.shape[0]
        return [self.trunk_map]


def meta_for_training(model: Sam3Image) -> Sam3Image:
    """The model in train mode as Meta's trainer runs it, with its trunk a FixedTrunk: activation
    checkpointing on where Meta asserts it in training (values unchanged), the matching (the
    loss's job here) skipped, and every dropout of the build checked to be 0."""
    for module in model.modules():
        if isinstance(module, (torch.nn.Dropout, torch.nn.MultiheadAttention)):
            assert getattr(module, "p", 0.0) == 0.0 and getattr(module, "dropout", 0.0) == 0.0
    model.backbone.vision_backbone.trunk = FixedTrunk()
    model.transformer.encoder.use_act_checkpoint = True
    model.transformer.decoder.use_act_checkpoint = True
    model._compute_matching = lambda out, targets: None
    model.back_convert = lambda targets: None
    return model.train()


__all__ = [
    "FixedTrunk",
    "build_meta_image_model",
    "meta_for_training",
    "meta_processor",
    "vision_neck",
    "without_pinned_memory",
    "write_merges_file",
]
