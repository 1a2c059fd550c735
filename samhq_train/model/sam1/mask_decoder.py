"""SAM mask decoder extended with SAM-HQ's HQ output token and global-local feature fusion.

Parameter names follow the official `segment_anything_hq` MaskDecoderHQ, so its checkpoints load
as they are. The five HQ modules are hf_token, hf_mlp, compress_vit_feat, embedding_encoder and
embedding_maskfeature; everything else is SAM's decoder.
"""

import torch
from torch import nn

from ..common import MLP, LayerNorm2d, apply_hypernetwork, early_to_nchw
from ..two_way_transformer import TwoWayTransformer


class MaskDecoderHQ(nn.Module):
    def __init__(
        self,
        *,
        transformer_dim: int,
        transformer: TwoWayTransformer,
        vit_dim: int,
        num_multimask_outputs: int = 3,
        iou_head_depth: int = 3,
        iou_head_hidden_dim: int = 256,
    ) -> None:
        super().__init__()
        self.transformer_dim = transformer_dim
        self.transformer = transformer
        self.num_sam_mask_tokens = num_multimask_outputs + 1
        self.iou_token = nn.Embedding(1, transformer_dim)
        self.mask_tokens = nn.Embedding(self.num_sam_mask_tokens, transformer_dim)
        self.output_upscaling = nn.Sequential(
            nn.ConvTranspose2d(transformer_dim, transformer_dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(transformer_dim // 4),
            nn.GELU(),
            nn.ConvTranspose2d(transformer_dim // 4, transformer_dim // 8, kernel_size=2, stride=2),
            nn.GELU(),
        )
        self.output_hypernetworks_mlps = nn.ModuleList(
            MLP(transformer_dim, transformer_dim, transformer_dim // 8, 3)
            for _ in range(self.num_sam_mask_tokens)
        )
        self.iou_prediction_head = MLP(
            transformer_dim, iou_head_hidden_dim, self.num_sam_mask_tokens, iou_head_depth
        )

        # HQ parts: the HQ output token, its mask MLP, and the fused HQ feature path
        self.hf_token = nn.Embedding(1, transformer_dim)
        self.hf_mlp = MLP(transformer_dim, transformer_dim, transformer_dim // 8, 3)
        self.compress_vit_feat = nn.Sequential(
            nn.ConvTranspose2d(vit_dim, transformer_dim, kernel_size=2, stride=2),
            LayerNorm2d(transformer_dim),
            nn.GELU(),
            nn.ConvTranspose2d(transformer_dim, transformer_dim // 8, kernel_size=2, stride=2),
        )
        self.embedding_encoder = nn.Sequential(
            nn.ConvTranspose2d(transformer_dim, transformer_dim // 4, kernel_size=2, stride=2),
            LayerNorm2d(transformer_dim // 4),
            nn.GELU(),
            nn.ConvTranspose2d(transformer_dim // 4, transformer_dim // 8, kernel_size=2, stride=2),
        )
        self.embedding_maskfeature = nn.Sequential(
            nn.Conv2d(transformer_dim // 8, transformer_dim // 4, 3, 1, 1),
            LayerNorm2d(transformer_dim // 4),
            nn.GELU(),
            nn.Conv2d(transformer_dim // 4, transformer_dim // 8, 3, 1, 1),
        )

    def forward(
        self,
        *,
        image_embeddings: torch.Tensor,
        early_features: torch.Tensor,
        image_pe: torch.Tensor,
        sparse_prompt_embeddings: torch.Tensor,
        dense_prompt_embeddings: torch.Tensor,
        multimask_output: bool,
        hq_token_only: bool,
        use_hq: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Masks for P prompts on each of B images, in one pass.

        image_embeddings B x C x h x w; early_features B x h x w x C_vit; image_pe 1 x C x h x w;
        sparse (B*P) x K x C and dense (B*P) x C x h x w, prompts of one image contiguous.
        Returns low-res logits (B*P) x M x 4h x 4w and IoU predictions (B*P) x M.

        use_hq=True follows the official MaskDecoderHQ: M == 1, the HQ mask alone if
        hq_token_only, else the chosen SAM mask plus the HQ mask. use_hq=False is plain SAM (the
        HQ token does not take part in attention): M == 3 with multimask_output, else 1.
        """
        num_prompts = sparse_prompt_embeddings.shape[0]
        per_image = num_prompts // image_embeddings.shape[0]
        token_weights = [self.iou_token.weight, self.mask_tokens.weight]
        if use_hq:
            token_weights.append(self.hf_token.weight)
        output_tokens = torch.cat(token_weights).unsqueeze(0).expand(num_prompts, -1, -1)
        tokens = torch.cat(
            [output_tokens.to(sparse_prompt_embeddings.dtype), sparse_prompt_embeddings], 1
        )

        src = _add_per_image(dense_prompt_embeddings, image_embeddings, per_image)
        pos_src = image_pe.expand(num_prompts, -1, -1, -1)
        n, c, h, w = src.shape
        token_out, src = self.transformer(src, pos_src, tokens)
        iou_pred = self.iou_prediction_head(token_out[:, 0])
        upscaled = self.output_upscaling(src.transpose(1, 2).reshape(n, c, h, w))
        hyper_in = torch.stack(
            [mlp(token_out[:, 1 + i]) for i, mlp in enumerate(self.output_hypernetworks_mlps)], 1
        )
        masks = apply_hypernetwork(hyper_in, upscaled)

        if multimask_output:
            masks, iou_pred = masks[:, 1:], iou_pred[:, 1:]
            if use_hq:  # keep SAM's most confident multimask output only, as the official code
                iou_pred, best = iou_pred.max(dim=1, keepdim=True)
                masks = masks[torch.arange(n, device=masks.device), best[:, 0]].unsqueeze(1)
        else:
            masks, iou_pred = masks[:, :1], iou_pred[:, :1]
        if not use_hq:
            return masks, iou_pred

        hq_features = self.hq_features(image_embeddings, early_features)
        hq_embedding = _add_per_image(self.embedding_maskfeature(upscaled), hq_features, per_image)
        hq_hyper_in = self.hf_mlp(token_out[:, 1 + self.num_sam_mask_tokens]).unsqueeze(1)
        hq_masks = apply_hypernetwork(hq_hyper_in, hq_embedding)
        return (hq_masks if hq_token_only else masks + hq_masks), iou_pred

    def hq_features(
        self, image_embeddings: torch.Tensor, early_features: torch.Tensor
    ) -> torch.Tensor:
        """Global-local fusion: B x C/8 x 4h x 4w from the final embedding and the early ViT feature."""
        local = self.compress_vit_feat(early_to_nchw(early_features, self.compress_vit_feat[0]))
        return self.embedding_encoder(image_embeddings) + local


def _add_per_image(per_prompt: torch.Tensor, per_image: torch.Tensor, prompts: int) -> torch.Tensor:
    """(B*P) x ... + B x ... broadcast over each image's P prompts, without copying per_image P times."""
    return (per_prompt.unflatten(0, (-1, prompts)) + per_image.unsqueeze(1)).flatten(0, 1)
