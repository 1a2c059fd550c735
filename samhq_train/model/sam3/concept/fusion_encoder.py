"""SAM 3's fusion encoder (detector.transformer.encoder: Meta's TransformerEncoderFusion as
model_builder's _create_transformer_encoder builds it): six pre-norm layers in which the last
feature level's image tokens attend to themselves (image position on queries and keys) and then to
the prompt tokens (text + geometry) under the prompt's padding mask.

That builder turns pooled-text addition off (no text_pooling_proj), uses one feature level (no
level_embed) and Sam3Image passes no image padding mask, so the encoder is the layer stack alone;
the prompt leaves it unchanged (Meta's "memory_text" is the prompt it was given). Dropout as
encoder_layer.py says; grad_checkpointing recomputes each layer in backward (recompute.py)."""

import dataclasses
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from .encoder_layer import FUSION_LAYER, EncoderLayer, EncoderLayerConfig
from .recompute import run_part


@dataclass(frozen=True)
class FusionEncoderConfig:
    """Meta's full size by default."""

    d_model: int = 256
    num_heads: int = 8
    dim_feedforward: int = 2048
    num_layers: int = 6
    dropout: float = 0.1  # each layer's (train mode only)

    @property
    def layer(self) -> EncoderLayerConfig:
        return dataclasses.replace(
            FUSION_LAYER,
            d_model=self.d_model,
            num_heads=self.num_heads,
            dim_feedforward=self.dim_feedforward,
            dropout=self.dropout,
        )


class FusionEncoderOutput(NamedTuple):
    """memory: the encoded image tokens, B x HW x d (row-major over H x W; Meta's
    "encoder_hidden_states" / "memory", sequence-first there); pos_embed: their position, B x HW x d
    (the image position flattened, Meta's "pos_embed"); prompt: the prompt after encoding, B x N x d
    (the input itself, Meta's "memory_text" / "prompt_after_enc"); spatial_shape: (H, W), Meta's
    spatial_shapes[0] (one level: level_start_index is [0], valid_ratios are ones, padding_mask is
    None)."""

    memory: torch.Tensor
    pos_embed: torch.Tensor
    prompt: torch.Tensor
    spatial_shape: tuple[int, int]


class FusionEncoder(nn.Module):
    """Keys layers.N.* as Meta's detector.transformer.encoder."""

    def __init__(self, cfg: FusionEncoderConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg or FusionEncoderConfig()
        self.grad_checkpointing = False  # train mode: recompute each layer in backward
        self.layers = nn.ModuleList(
            EncoderLayer(self.cfg.layer) for _ in range(self.cfg.num_layers)
        )

    def forward(
        self,
        image: torch.Tensor,
        image_pos: torch.Tensor,
        prompt: torch.Tensor,
        prompt_padding_mask: torch.Tensor | None,
    ) -> FusionEncoderOutput:
        """image B x d x H x W (the neck's last level), image_pos B x d x H x W (its sine position
        encoding), prompt B x N x d, prompt_padding_mask B x N (True = padding) or None.

        Meta's call (Sam3Image._run_encoder): transformer.encoder(src=[image tokens HW x B x d],
        src_pos=[...], prompt=prompt N x B x d, prompt_key_padding_mask=, feat_sizes=[(H, W)])."""
        height, width = image.shape[-2:]
        tokens = image.flatten(2).transpose(1, 2)
        pos = image_pos.flatten(2).transpose(1, 2)
        for layer in self.layers:
            tokens = run_part(
                self, layer, tokens, prompt, query_pos=pos,
                memory_key_padding_mask=prompt_padding_mask,
            )
        return FusionEncoderOutput(tokens, pos, prompt, (int(height), int(width)))
