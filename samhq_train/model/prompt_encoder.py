"""The prompt encoder, shared by both families: sparse embeddings for points and boxes, a dense
one for mask prompts (segment_anything's PromptEncoder; sam2's has the same parameters and math).

Point labels: 1 positive, 0 negative, 2 / 3 top-left / bottom-right box corner, -1 "not a point"
(padding). What differs between the families is how the caller hands over a box:
- SAM 1 (sam1/sam_hq.py) passes `boxes` (N x 4), embedded after the points by embed_boxes;
- SAM 2 (sam2/model.py) merges a box into the points as two corner points with labels 2 / 3,
  ahead of the clicks, and passes no `boxes` (calling by keyword, with batch_size).
Either way one padding point is appended to the points whenever no `boxes` are given, as both
official encoders do, so SAM 2 always pads. The ONNX decoders (inference/export.py) call
embed_points directly: SAM 1's without padding, SAM 2's with.
"""

import math

import torch
from torch import nn

from .common import LayerNorm2d

NOT_A_POINT = -1


class PromptEncoder(nn.Module):
    def __init__(
        self,
        *,
        embed_dim: int,
        image_embedding_size: tuple[int, int],
        input_image_size: tuple[int, int],
        mask_in_chans: int,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.input_image_size = input_image_size
        self.image_embedding_size = image_embedding_size
        self.pe_layer = PositionEmbeddingRandom(embed_dim // 2)
        # negative point, positive point, box top-left corner, box bottom-right corner
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
        """Positional encoding of the image embedding grid: 1 x C x h x w."""
        return self.pe_layer(self.image_embedding_size).unsqueeze(0)

    def embed_points(self, coords: torch.Tensor, labels: torch.Tensor, *, pad: bool) -> torch.Tensor:
        """coords N x K x 2 (x, y) in input pixels, labels N x K -> N x K(+1) x C; `pad` appends
        one "not a point" token."""
        coords = coords + 0.5  # centre of the pixel
        if pad:
            coords = torch.cat([coords, coords.new_zeros(coords.shape[0], 1, 2)], dim=1)
            labels = torch.cat([labels, labels.new_full((labels.shape[0], 1), NOT_A_POINT)], dim=1)
        embedding = self.pe_layer.forward_with_coords(coords, self.input_image_size)
        labels = labels[..., None]
        embedding = torch.where(labels == NOT_A_POINT, self.not_a_point_embed.weight, embedding)
        # the same values as the official masked `+=` (SAM 1) and torch.where (SAM 2): x + 0 * w
        # is x exactly
        for label, type_embedding in enumerate(self.point_embeddings):
            embedding = embedding + (labels == label) * type_embedding.weight
        return embedding

    def embed_boxes(self, boxes: torch.Tensor) -> torch.Tensor:
        """boxes N x 4 (x0, y0, x1, y1) in input pixels -> N x 2 x C."""
        corners = (boxes + 0.5).reshape(-1, 2, 2)
        embedding = self.pe_layer.forward_with_coords(corners, self.input_image_size)
        corner_type = torch.cat([self.point_embeddings[2].weight, self.point_embeddings[3].weight])
        return embedding + corner_type

    def forward(
        self,
        points: tuple[torch.Tensor, torch.Tensor] | None = None,
        boxes: torch.Tensor | None = None,
        masks: torch.Tensor | None = None,
        batch_size: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Prompts for N masks -> sparse N x K x C (N x 0 x C without points or boxes) and dense
        N x C x h x w embeddings.

        points: (N x K x 2, N x K); boxes: N x 4; masks: N x 1 x 4h x 4w; batch_size: N when no
        prompt tensor is given (1 if None).
        """
        n = _prompt_count(points, boxes, masks, batch_size)
        sparse = []
        if points is not None:
            sparse.append(self.embed_points(points[0], points[1], pad=boxes is None))
        if boxes is not None:
            sparse.append(self.embed_boxes(boxes))
        if sparse:
            sparse = torch.cat(sparse, dim=1)
        else:
            sparse = torch.empty(n, 0, self.embed_dim, device=self.no_mask_embed.weight.device)
        if masks is not None:
            dense = self.mask_downscaling(masks)
        else:
            h, w = self.image_embedding_size
            dense = self.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(n, -1, h, w)
        return sparse, dense


def _prompt_count(points, boxes, masks, batch_size: int | None) -> int:
    for tensor in (points[0] if points is not None else None, boxes, masks):
        if tensor is not None:
            return tensor.shape[0]
    return 1 if batch_size is None else batch_size


class PositionEmbeddingRandom(nn.Module):
    """Fourier features of normalised coordinates with a fixed random Gaussian matrix."""

    def __init__(self, num_pos_feats: int) -> None:
        super().__init__()
        self.register_buffer("positional_encoding_gaussian_matrix", torch.randn(2, num_pos_feats))

    def _encode(self, coords: torch.Tensor) -> torch.Tensor:
        """coords ... x 2 in [0, 1] -> ... x C."""
        coords = (2 * coords - 1) @ self.positional_encoding_gaussian_matrix
        coords = 2 * math.pi * coords
        return torch.cat([torch.sin(coords), torch.cos(coords)], dim=-1)

    def forward(self, size: tuple[int, int]) -> torch.Tensor:
        h, w = size
        device = self.positional_encoding_gaussian_matrix.device
        ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) / h
        xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) / w
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)  # h x w x (x, y)
        return self._encode(grid).permute(2, 0, 1)

    def forward_with_coords(self, coords: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
        scale = coords.new_tensor([image_size[1], image_size[0]])
        return self._encode((coords / scale).float())
