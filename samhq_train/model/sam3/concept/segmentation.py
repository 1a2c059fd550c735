"""SAM 3's segmentation head (detector.segmentation_head.*, Meta's UniversalSegmentationHead as
model_builder builds it): the fusion encoder's image tokens attend to the prompt, replace the
coarsest level of the detector's FPN, a top-down pixel decoder merges the levels at the finest
resolution, and each decoder query's embedding dotted with the per-pixel embedding gives its mask
logits; a 1 x 1 conv gives the semantic (one-channel) map. No presence head, no auxiliary masks.

The attention has no dropout (Meta builds 0). grad_checkpointing (train mode) recomputes the head
in backward and, inside that, the pixel decoder once more, as Meta's use_act_checkpoint_seg_head
and act_ckpt (recompute.py).
Tensors are batch-first; a prompt padding mask is True where the token is padding."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ...sam2.layers import MLP
from .recompute import run_part


@dataclass(frozen=True)
class SegmentationHeadConfig:
    """model_builder._create_segmentation_head's sizes (the full-size defaults)."""

    d_model: int = 256
    num_heads: int = 8  # cross_attend_prompt
    upsampling_stages: int = 3  # conv + norm pairs in the pixel decoder
    norm_groups: int = 8  # the pixel decoder's GroupNorm
    mask_mlp_layers: int = 3  # mask_predictor.mask_embed


class SegmentationOutput(NamedTuple):
    masks: torch.Tensor  # B x Q x H x W instance mask logits (Meta's pred_masks)
    semantic: torch.Tensor  # B x 1 x H x W semantic logits (Meta's semantic_seg)


class PixelDecoder(nn.Module):
    """Top-down merge of FPN levels (highest resolution first, all d_model wide): from the
    coarsest, each finer level adds the running map upsampled to it (nearest), then a 3 x 3 conv,
    GroupNorm and ReLU. Merge i uses conv_layers.i / norms.i; Meta builds 3 stages while its 3
    levels need only 2 merges, so the last stage's weights are loaded but unused."""

    def __init__(self, d_model: int, stages: int, norm_groups: int) -> None:
        super().__init__()
        self.conv_layers = nn.ModuleList(
            nn.Conv2d(d_model, d_model, kernel_size=3, padding=1) for _ in range(stages)
        )
        self.norms = nn.ModuleList(nn.GroupNorm(norm_groups, d_model) for _ in range(stages))

    def forward(self, levels: Sequence[torch.Tensor]) -> torch.Tensor:
        """levels: [N x d x H_0 x W_0, ..., N x d x H_L x W_L], finest first (batch sizes may
        broadcast: 1 or N) -> N x d x H_0 x W_0."""
        if len(levels) - 1 > len(self.conv_layers):
            raise ValueError(
                f"{len(levels)} FPN levels need {len(levels) - 1} decoder stages, "
                f"the pixel decoder has {len(self.conv_layers)}"
            )
        running = levels[-1]
        for stage, finer in enumerate(reversed(levels[:-1])):
            running = finer + F.interpolate(running, size=finer.shape[-2:], mode="nearest")
            running = F.relu(self.norms[stage](self.conv_layers[stage](running)))
        return running


class MaskPredictor(nn.Module):
    """Query embeddings (an MLP of the decoder's queries) dotted with a per-pixel embedding."""

    def __init__(self, d_model: int, num_layers: int) -> None:
        super().__init__()
        self.mask_embed = MLP(d_model, d_model, d_model, num_layers)

    def forward(self, queries: torch.Tensor, pixel_embed: torch.Tensor) -> torch.Tensor:
        """queries B x Q x d, pixel_embed B x d x H x W -> B x Q x H x W."""
        return torch.einsum("bqc,bchw->bqhw", self.mask_embed(queries), pixel_embed)


class SegmentationHead(nn.Module):
    """detector.segmentation_head: instance masks and the semantic map of each prompt."""

    def __init__(self, config: SegmentationHeadConfig = SegmentationHeadConfig()) -> None:
        super().__init__()
        d = config.d_model
        self.pixel_decoder = PixelDecoder(d, config.upsampling_stages, config.norm_groups)
        self.mask_predictor = MaskPredictor(d, config.mask_mlp_layers)
        self.cross_attend_prompt = nn.MultiheadAttention(
            d, config.num_heads, dropout=0.0, batch_first=True
        )
        self.cross_attn_norm = nn.LayerNorm(d)
        self.semantic_seg_head = nn.Conv2d(d, 1, kernel_size=1)
        self.instance_seg_head = nn.Conv2d(d, d, kernel_size=1)
        self.grad_checkpointing = False  # train mode: recompute in backward

    def forward(
        self,
        fpn: Sequence[torch.Tensor],
        encoder_tokens: torch.Tensor,
        queries: torch.Tensor,
        prompt: torch.Tensor,
        prompt_padding: torch.Tensor,
        image_ids: torch.Tensor,
    ) -> SegmentationOutput:
        """Meta's UniversalSegmentationHead.forward (as Sam3Image._run_segmentation_heads calls
        it) for B prompts over N images.

        fpn: the detector neck's levels, N x d x 4g x 4g, N x d x 2g x 2g, N x d x g x g
            (highest resolution first; Meta's backbone_fpn).
        encoder_tokens: B x T x d, the fusion encoder's output; its first g * g tokens are the
            image grid (row-major) that replaces the coarsest FPN level.
        queries: B x Q x d, the decoder's last layer (Meta passes all layers and takes [-1]).
        prompt: B x P x d prompt tokens; prompt_padding: B x P bool, True = padding.
        image_ids: B long, the image (index into fpn's N) of each prompt; with N = 1 the one
            image is broadcast, as Meta does.
        Returns masks B x Q x 4g x 4g and semantic B x 1 x 4g x 4g (logits)."""
        return run_part(
            self, self._segment, fpn, encoder_tokens, queries, prompt, prompt_padding, image_ids
        )

    def _segment(
        self,
        fpn: Sequence[torch.Tensor],
        encoder_tokens: torch.Tensor,
        queries: torch.Tensor,
        prompt: torch.Tensor,
        prompt_padding: torch.Tensor,
        image_ids: torch.Tensor,
    ) -> SegmentationOutput:
        normed = self.cross_attn_norm(encoder_tokens)
        # the value a distinct tensor: PyTorch's packed key-value projection (key is value)
        # traces to ONNX with the prompt length fixed; the separate one gives the same numbers
        attended = self.cross_attend_prompt(
            normed, prompt, prompt.view_as(prompt), key_padding_mask=prompt_padding,
            need_weights=False,
        )[0]
        encoder_tokens = encoder_tokens + attended

        coarsest = fpn[-1]
        grid_tokens = encoder_tokens[:, : coarsest.shape[-2] * coarsest.shape[-1]]
        grid = grid_tokens.transpose(1, 2).reshape(-1, *coarsest.shape[1:])
        finer = list(fpn[:-1]) if fpn[0].shape[0] == 1 else [level[image_ids] for level in fpn[:-1]]
        pixel_embed = run_part(self, self.pixel_decoder, [*finer, grid])

        masks = self.mask_predictor(queries, self.instance_seg_head(pixel_embed))
        return SegmentationOutput(masks, self.semantic_seg_head(pixel_embed))
