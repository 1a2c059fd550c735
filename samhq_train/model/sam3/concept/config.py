"""The concept detector's sizes: one record whose fields give each part's config."""

from dataclasses import dataclass

from .decoder import DecoderConfig
from .fusion_encoder import FusionEncoderConfig
from .geometry import GeometryEncoderConfig
from .scoring import DotProductScoringConfig
from .segmentation import SegmentationHeadConfig
from .text_encoder import TextEncoderConfig


@dataclass(frozen=True)
class ConceptConfig:
    """The detector's sizes; defaults are Meta's full-size model_builder values."""

    d_model: int = 256
    num_heads: int = 8
    dim_feedforward: int = 2048
    encoder_layers: int = 6
    decoder_layers: int = 6
    geometry_layers: int = 3
    num_queries: int = 200
    # training (model_builder's): dropout in the fusion encoder, geometry encoder and decoder
    # layers and the scoring MLP, active in train mode only; DAC's one-to-many query copies
    dropout: float = 0.1
    dac: bool = True
    # the text encoder (VETextEncoder): its own width, heads and layers, then resized to d_model
    text_width: int = TextEncoderConfig.width
    text_heads: int = TextEncoderConfig.heads
    text_layers: int = TextEncoderConfig.layers
    context_length: int = TextEncoderConfig.context_length
    vocab_size: int = TextEncoderConfig.vocab_size

    @property
    def text(self) -> TextEncoderConfig:
        return TextEncoderConfig(
            d_model=self.d_model,
            width=self.text_width,
            heads=self.text_heads,
            layers=self.text_layers,
            context_length=self.context_length,
            vocab_size=self.vocab_size,
        )

    @property
    def encoder(self) -> FusionEncoderConfig:
        return FusionEncoderConfig(
            d_model=self.d_model,
            num_heads=self.num_heads,
            dim_feedforward=self.dim_feedforward,
            num_layers=self.encoder_layers,
            dropout=self.dropout,
        )

    @property
    def decoder(self) -> DecoderConfig:
        return DecoderConfig(
            d_model=self.d_model,
            num_heads=self.num_heads,
            dim_feedforward=self.dim_feedforward,
            num_layers=self.decoder_layers,
            num_queries=self.num_queries,
            dropout=self.dropout,
        )

    @property
    def geometry(self) -> GeometryEncoderConfig:
        return GeometryEncoderConfig(
            d_model=self.d_model,
            num_heads=self.num_heads,
            dim_feedforward=self.dim_feedforward,
            num_layers=self.geometry_layers,
            dropout=self.dropout,
        )

    @property
    def scoring(self) -> DotProductScoringConfig:
        return DotProductScoringConfig(
            d_model=self.d_model,
            d_proj=self.d_model,
            mlp_hidden_dim=self.dim_feedforward,
            dropout=self.dropout,
        )

    @property
    def segmentation(self) -> SegmentationHeadConfig:
        return SegmentationHeadConfig(d_model=self.d_model, num_heads=self.num_heads)
