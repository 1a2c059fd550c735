"""The SAM 2.1 mask decoder with HQ-SAM 2's HQ output token (MaskDecoderHQ of sam-hq2).

SAM 2.1 part: output tokens [obj_score, iou, 4 mask tokens] + prompt tokens go through the
two-way transformer; the image side is upscaled 4x while the FPN's stride-8 and stride-4 maps
(already projected by conv_s1 / conv_s0, see Sam2HQ.encode) are added in; each mask token's
hypernetwork MLP turns it into a per-pixel filter. IoU predictions go through a sigmoid and the
object-score token gives one "is there an object" logit per prompt set.

HQ part (use_hq=True): the HQ token `hf_token` joins the output tokens (so it takes part in
attention and changes the SAM masks too), `hf_mlp` is its hypernetwork and
`embedding_maskfeature` refines the upscaled image feature it reads its mask from.
"""

from typing import NamedTuple

import torch
from torch import nn

from ..common import LayerNorm2d, apply_hypernetwork
from ..two_way_transformer import TwoWayTransformer
from .layers import MLP


class DecoderOutput(NamedTuple):
    masks: torch.Tensor  # N x M x 4h x 4w low-res logits (M: see MaskDecoderHQ.forward)
    iou_pred: torch.Tensor  # N x M_iou
    sam_tokens: torch.Tensor  # N x 1 (or 3) x C, the mask tokens the object pointer reads
    object_score_logits: torch.Tensor  # N x 1


class MaskDecoderHQ(nn.Module):
    def __init__(
        self,
        *,
        transformer_dim: int,
        transformer: TwoWayTransformer,
        num_multimask_outputs: int = 3,
        iou_head_depth: int = 3,
        iou_head_hidden_dim: int = 256,
        use_high_res_features: bool = True,
        iou_prediction_use_sigmoid: bool = True,
        dynamic_multimask_via_stability: bool = False,
        dynamic_multimask_stability_delta: float = 0.05,
        dynamic_multimask_stability_thresh: float = 0.98,
        pred_obj_scores: bool = True,
        pred_obj_scores_mlp: bool = True,
        use_multimask_token_for_obj_ptr: bool = True,
    ) -> None:
        super().__init__()
        c = transformer_dim
        self.transformer = transformer
        self.num_multimask_outputs = num_multimask_outputs
        self.num_mask_tokens = num_multimask_outputs + 1  # SAM tokens, without the HQ token
        self.iou_token = nn.Embedding(1, c)
        self.mask_tokens = nn.Embedding(self.num_mask_tokens, c)
        self.pred_obj_scores = pred_obj_scores
        if pred_obj_scores:
            self.obj_score_token = nn.Embedding(1, c)
        self.use_multimask_token_for_obj_ptr = use_multimask_token_for_obj_ptr
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(c, c // 4, kernel_size=2, stride=2),
            LayerNorm2d(c // 4),
            nn.GELU(),
            nn.ConvTranspose2d(c // 4, c // 8, kernel_size=2, stride=2),
            nn.GELU(),
        )
        self.use_high_res_features = use_high_res_features
        if use_high_res_features:
            self.conv_s0 = nn.Conv2d(c, c // 8, kernel_size=1)
            self.conv_s1 = nn.Conv2d(c, c // 4, kernel_size=1)
        self.output_hypernetworks_mlps = nn.ModuleList(
            MLP(c, c, c // 8, 3) for _ in range(self.num_mask_tokens)
        )
        self.iou_prediction_head = MLP(
            c,
            iou_head_hidden_dim,
            self.num_mask_tokens,
            iou_head_depth,
            sigmoid_output=iou_prediction_use_sigmoid,
        )
        if pred_obj_scores:
            self.pred_obj_score_head = MLP(c, c, 1, 3) if pred_obj_scores_mlp else nn.Linear(c, 1)
        self.dynamic_multimask_via_stability = dynamic_multimask_via_stability
        self.dynamic_multimask_stability_delta = dynamic_multimask_stability_delta
        self.dynamic_multimask_stability_thresh = dynamic_multimask_stability_thresh
        # HQ-SAM 2
        self.hf_token = nn.Embedding(1, c)
        self.hf_mlp = MLP(c, c, c // 8, 3)
        self.embedding_maskfeature = nn.Sequential(
            nn.Conv2d(c // 8, c // 4, kernel_size=3, padding=1),
            LayerNorm2d(c // 4),
            nn.GELU(),
            nn.Conv2d(c // 4, c // 8, kernel_size=3, padding=1),
        )

    def forward(
        self,
        *,
        image_embeddings: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        high_res_features: tuple[torch.Tensor, torch.Tensor] | None,
        multimask_output: bool,
        hq_token_only: bool = False,
        use_hq: bool = True,
        hq_features: torch.Tensor | None = None,
    ) -> DecoderOutput:
        """N prompt sets, each with its own image: image_embeddings N x C x h x w, image_pe
        1 x C x h x w, sparse N x T x C, dense N x C x h x w, high_res_features (N x C/8 x 4h x 4w,
        N x C/4 x 2h x 2w) after conv_s0 / conv_s1. hq_features (N x C/8 x 4h x 4w, optional) is
        added to the HQ mask feature (SAM 3's option of HQ-SAM 1's early-feature fusion).

        M of the masks, M_iou of the IoU predictions:
        - use_hq=False (plain SAM 2.1): multimask 3 (tokens 1-3), else 1 (token 0, or with
          dynamic_multimask_via_stability the best multimask token when token 0 is unstable)
        - use_hq, not hq_token_only: the SAM masks above + the HQ mask (broadcast): 3 or 1
        - use_hq and hq_token_only: the HQ mask alone, M = 1, while M_iou stays 3 or 1 (the SAM
          tokens' scores; the HQ token has none), as official HQ-SAM 2 returns them
        """
        n = sparse_prompt_embeddings.shape[0]
        weights = [self.iou_token.weight, self.mask_tokens.weight]
        if self.pred_obj_scores:
            weights.insert(0, self.obj_score_token.weight)
        if use_hq:
            weights.append(self.hf_token.weight)
        first = 1 if self.pred_obj_scores else 0  # index of the IoU token
        output_tokens = torch.cat(weights).unsqueeze(0).expand(n, -1, -1)
        tokens = torch.cat([output_tokens, sparse_prompt_embeddings], dim=1)

        src = image_embeddings + dense_prompt_embeddings
        b, c, h, w = src.shape
        hs, src = self.transformer(src, image_pe.expand(b, -1, -1, -1), tokens)
        iou_token_out = hs[:, first]
        mask_tokens_out = hs[:, first + 1 : first + 1 + self.num_mask_tokens + int(use_hq)]

        upscaled = self._upscale(src.transpose(1, 2).reshape(b, c, h, w), high_res_features)

        hyper = torch.stack(
            [mlp(mask_tokens_out[:, i]) for i, mlp in enumerate(self.output_hypernetworks_mlps)],
            dim=1,
        )
        masks = apply_hypernetwork(hyper, upscaled)
        iou_pred = self.iou_prediction_head(iou_token_out)
        if self.pred_obj_scores:
            object_score_logits = self.pred_obj_score_head(hs[:, 0])
        else:  # "object present": sigmoid(10) ~ 1
            object_score_logits = 10.0 * iou_pred.new_ones(b, 1)

        if multimask_output:
            sam_masks, iou_pred = masks[:, 1:], iou_pred[:, 1:]
        elif self.dynamic_multimask_via_stability and not self.training:
            sam_masks, iou_pred = self._dynamic_single_mask(masks, iou_pred)
        else:
            sam_masks, iou_pred = masks[:, :1], iou_pred[:, :1]
        if multimask_output and self.use_multimask_token_for_obj_ptr:
            sam_tokens = mask_tokens_out[:, 1 : self.num_mask_tokens]
        else:
            sam_tokens = mask_tokens_out[:, :1]

        if not use_hq:
            return DecoderOutput(sam_masks, iou_pred, sam_tokens, object_score_logits)
        hq_feature = self.embedding_maskfeature(upscaled)
        if hq_features is not None:
            hq_feature = hq_feature + hq_features
        hq_filter = self.hf_mlp(mask_tokens_out[:, -1]).unsqueeze(1)
        hq_mask = apply_hypernetwork(hq_filter, hq_feature)
        out_masks = hq_mask if hq_token_only else sam_masks + hq_mask
        return DecoderOutput(out_masks, iou_pred, sam_tokens, object_score_logits)

    def _upscale(self, src: torch.Tensor, high_res_features) -> torch.Tensor:
        """The mask features: the transformer's image tokens upscaled 4x (with the high-res
        features added at 2x and 4x when the decoder uses them)."""
        if not self.use_high_res_features:
            return self.output_upscaling(src)
        if high_res_features is None:
            raise ValueError("this decoder uses high-res features: pass (high_res_0, high_res_1)")
        up1, norm1, act1, up2, act2 = self.output_upscaling
        feat_s0, feat_s1 = high_res_features
        upscaled = act1(norm1(up1(src) + feat_s1))
        return act2(up2(upscaled) + feat_s0)

    def _stability(self, logits: torch.Tensor) -> torch.Tensor:
        """N x M x H x W -> N x M: area above +delta over area above -delta."""
        logits = logits.flatten(-2)
        delta = self.dynamic_multimask_stability_delta
        inner = (logits > delta).sum(-1).float()
        outer = (logits > -delta).sum(-1).float()
        return torch.where(outer > 0, inner / outer, 1.0)

    def _dynamic_single_mask(
        self, masks: torch.Tensor, iou_pred: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Token 0's mask where it is stable, otherwise the multimask token with the best IoU."""
        multi_masks, multi_iou = masks[:, 1:], iou_pred[:, 1:]
        best = multi_iou.argmax(dim=-1)
        rows = torch.arange(masks.shape[0], device=masks.device)
        best_masks = multi_masks[rows, best].unsqueeze(1)
        best_iou = multi_iou[rows, best].unsqueeze(1)
        single_masks, single_iou = masks[:, :1], iou_pred[:, :1]
        stable = self._stability(single_masks) >= self.dynamic_multimask_stability_thresh
        return (
            torch.where(stable[..., None, None], single_masks, best_masks),
            torch.where(stable, single_iou, best_iou),
        )
