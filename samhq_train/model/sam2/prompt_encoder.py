"""SAM 2's prompt encoder: points (boxes arrive as two corner points, labels 2 and 3) and dense
mask prompts -> sparse and dense embeddings."""

import torch
from torch import nn

from ..common import LayerNorm2d
from ..sam1.prompt_encoder import PositionEmbeddingRandom  # the same random-Fourier encoding


class PromptEncoder(nn.Module):
    """Labels: 1 positive, 0 negative, 2 / 3 top-left / bottom-right box corner, -1 padding."""

    def __init__(
        self,
        *,
        embed_dim: int,
        image_embedding_size: tuple[int, int],
        input_image_size: tuple[int, int],
        mask_in_chans: int = 16,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.image_embedding_size = image_embedding_size
        self.input_image_size = input_image_size
        self.pe_layer = PositionEmbeddingRandom(embed_dim // 2)
        self.point_embeddings = nn.ModuleList(nn.Embedding(1, embed_dim) for _ in range(4))
        self.not_a_point_embed = nn.Embedding(1, embed_dim)
        self.mask_input_size = (4 * image_embedding_size[0], 4 * image_embedding_size[1])
        self.mask_downscaling = nn.Sequential(
            nn.Conv2d(1, mask_in_chans // 4, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans // 4),
            nn.GELU(),
            nn.Conv2d(mask_in_chans // 4, mask_in_chans, kernel_size=2, stride=2),
            LayerNorm2d(mask_in_chans),
            nn.GELU(),
            nn.Conv2d(mask_in_chans, embed_dim, kernel_size=1),
        )
        self.no_mask_embed = nn.Embedding(1, embed_dim)

    def get_dense_pe(self) -> torch.Tensor:
        """1 x C x h x w position encoding of the image embedding grid."""
        return self.pe_layer(self.image_embedding_size).unsqueeze(0)

    def embed_points(self, coords: torch.Tensor, labels: torch.Tensor, *, pad: bool) -> torch.Tensor:
        """coords B x N x 2 in input pixels, labels B x N -> B x N(+1) x C; `pad` appends one
        padding point (as SAM 2 does whenever no separate box is given)."""
        coords = coords + 0.5  # pixel centres
        if pad:
            coords = torch.cat([coords, coords.new_zeros(coords.shape[0], 1, 2)], dim=1)
            labels = torch.cat([labels, -labels.new_ones(labels.shape[0], 1)], dim=1)
        emb = self.pe_layer.forward_with_coords(coords, self.input_image_size)
        labels = labels.unsqueeze(-1)
        emb = torch.where(labels == -1, torch.zeros_like(emb) + self.not_a_point_embed.weight, emb)
        for value, table in enumerate(self.point_embeddings):
            emb = torch.where(labels == value, emb + table.weight, emb)
        return emb

    def forward(
        self,
        *,
        points: tuple[torch.Tensor, torch.Tensor] | None,
        masks: torch.Tensor | None,
        batch_size: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """points (coords B x N x 2, labels B x N) with boxes already merged in as corner points,
        masks B x 1 x 4h x 4w -> sparse B x N+1 x C (B x 0 x C without points), dense B x C x h x w."""
        device = self.no_mask_embed.weight.device
        if points is None:
            sparse = torch.empty(batch_size, 0, self.embed_dim, device=device)
        else:
            sparse = self.embed_points(points[0], points[1], pad=True)
        if masks is None:
            h, w = self.image_embedding_size
            dense = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(batch_size, -1, h, w)
        else:
            dense = self.mask_downscaling(masks)
        return sparse, dense
