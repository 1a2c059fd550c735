"""SAM 2's image encoder: the Hiera trunk, the FPN neck (1 x 1 lateral convs, top-down fusion on
some levels) and the sine position encoding of each level."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..common import TrunkSwitches
from ..inference_constants import ConstantCache, keeps_constants
from .hiera import Hiera


def sine_position_encoding(
    x: torch.Tensor, num_pos_feats: int, *, temperature: float = 10000.0, scale: float = 2 * math.pi
) -> torch.Tensor:
    """The normalised sine encoding (PositionEmbeddingSine) of a B x C x H x W map's grid:
    B x num_pos_feats x H x W, y features first."""
    b, _, h, w = x.shape
    half = num_pos_feats // 2
    eps = 1e-6
    y = torch.arange(1, h + 1, dtype=torch.float32, device=x.device).view(1, -1, 1).expand(b, h, w)
    xs = torch.arange(1, w + 1, dtype=torch.float32, device=x.device).view(1, 1, -1).expand(b, h, w)
    y = y / (h + eps) * scale
    xs = xs / (w + eps) * scale
    dim_t = torch.arange(half, dtype=torch.float32, device=x.device)
    dim_t = temperature ** (2 * (dim_t // 2) / half)

    def encode(v: torch.Tensor) -> torch.Tensor:
        v = v[..., None] / dim_t
        return torch.stack((v[..., 0::2].sin(), v[..., 1::2].cos()), dim=4).flatten(3)

    return torch.cat((encode(y), encode(xs)), dim=3).permute(0, 3, 1, 2)


class FpnNeck(nn.Module):
    """Lateral 1 x 1 convs to d_model; levels in fpn_top_down_levels add the 2x-upsampled
    coarser level. convs[0] reads the coarsest trunk level (backbone_channel_list order)."""

    def __init__(
        self,
        *,
        d_model: int,
        backbone_channel_list: tuple[int, ...],
        fpn_top_down_levels: tuple[int, ...],
        fpn_interp_model: str = "nearest",
        num_pos_feats: int | None = None,
    ) -> None:
        super().__init__()
        self.convs = nn.ModuleList()
        for dim in backbone_channel_list:
            lateral = nn.Sequential()
            lateral.add_module("conv", nn.Conv2d(dim, d_model, kernel_size=1))
            self.convs.append(lateral)
        self.fpn_top_down_levels = tuple(fpn_top_down_levels)
        self.fpn_interp_model = fpn_interp_model
        self.num_pos_feats = d_model if num_pos_feats is None else num_pos_feats
        self._constants = ConstantCache()  # the sine encodings between inference calls

    def forward(self, xs: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Trunk maps (highest resolution first) -> (features, position encodings), same order."""
        n = len(self.convs) - 1
        out: list[torch.Tensor] = [None] * (n + 1)  # type: ignore[list-item]
        prev = None
        for i in range(n, -1, -1):
            lateral = self.convs[n - i](xs[i])
            if i in self.fpn_top_down_levels and prev is not None:
                top_down = F.interpolate(
                    prev.float(),
                    scale_factor=2.0,
                    mode=self.fpn_interp_model,
                    align_corners=None if self.fpn_interp_model == "nearest" else False,
                )
                prev = lateral + top_down
            else:
                prev = lateral
            out[i] = prev
        return out, [self._position_encoding(level, f) for level, f in enumerate(out)]

    def _position_encoding(self, level: int, f: torch.Tensor) -> torch.Tensor:
        """sine_position_encoding of `f` in its dtype; between inference calls one image's
        encoding is kept and expanded over the batch (the same values: the grid is per image)."""

        def make() -> torch.Tensor:
            return sine_position_encoding(f[:1], self.num_pos_feats).to(f.dtype)

        if not keeps_constants():
            return sine_position_encoding(f, self.num_pos_feats).to(f.dtype)
        key = (tuple(f.shape[2:]), f.dtype, f.device)
        one = self._constants.get(f"sine{level}", key, f.device, make)
        return one.expand(f.shape[0], -1, -1, -1)


class ImageEncoder(TrunkSwitches, nn.Module):
    """Trunk + neck, dropping the `scalp` coarsest levels."""

    def __init__(self, *, trunk: Hiera, neck: FpnNeck, scalp: int = 1) -> None:
        super().__init__()
        self.trunk = trunk
        self.neck = neck
        self.scalp = scalp

    def forward(self, images: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """B x 3 x S x S normalised -> (FPN maps, their position encodings), highest resolution
        first; with the SAM 2.1 settings: d_model wide at S/4, S/8, S/16."""
        features, pos = self.neck(self.trunk(images))
        if self.scalp > 0:
            features, pos = features[: -self.scalp], pos[: -self.scalp]
        return features, pos
