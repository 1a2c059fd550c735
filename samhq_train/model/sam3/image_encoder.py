"""SAM 3's vision backbone as the interactive path uses it: the ViT trunk and the second
("sam2") simple-FPN neck, which turns the trunk's one stride-14 map into maps at 4x, 2x, 1x (and
0.5x, dropped: scalp 1) its resolution, d_model wide.

The module sits at the official path detector.backbone.vision_backbone; the detector's own neck
(`convs`, same shapes) is carried, not computed."""

import torch
from torch import nn

from ..common import TrunkSwitches
from .vit import ViT


def simple_fpn_level(dim: int, d_model: int, scale: float) -> nn.Sequential:
    """One level of the neck: up (transposed convs) or down (max pool) to `scale`, then 1 x 1 and
    3 x 3 convs to d_model (official child names)."""
    level = nn.Sequential()
    if scale == 4.0:
        level.add_module("dconv_2x2_0", nn.ConvTranspose2d(dim, dim // 2, kernel_size=2, stride=2))
        level.add_module("gelu", nn.GELU())
        level.add_module(
            "dconv_2x2_1", nn.ConvTranspose2d(dim // 2, dim // 4, kernel_size=2, stride=2)
        )
        dim //= 4
    elif scale == 2.0:
        level.add_module("dconv_2x2", nn.ConvTranspose2d(dim, dim // 2, kernel_size=2, stride=2))
        dim //= 2
    elif scale == 0.5:
        level.add_module("maxpool_2x2", nn.MaxPool2d(kernel_size=2, stride=2))
    elif scale != 1.0:
        raise ValueError(f"neck scale factor {scale} is not one of 4, 2, 1, 0.5")
    level.add_module("conv_1x1", nn.Conv2d(dim, d_model, kernel_size=1))
    level.add_module("conv_3x3", nn.Conv2d(d_model, d_model, kernel_size=3, padding=1))
    return level


class VisionBackbone(TrunkSwitches, nn.Module):
    """Trunk + sam2 neck: B x 3 x S x S normalised -> [B x d x 4g x 4g, B x d x 2g x 2g,
    B x d x g x g] (g = S / patch), highest resolution first."""

    def __init__(
        self, *, trunk: ViT, d_model: int, scale_factors: tuple[float, ...], scalp: int = 1
    ) -> None:
        super().__init__()
        self.trunk = trunk
        dim = trunk.pos_embed.shape[-1]
        self.sam2_convs = nn.ModuleList(simple_fpn_level(dim, d_model, s) for s in scale_factors)
        self.scale_factors = tuple(scale_factors)
        self.levels = len(scale_factors) - scalp

    def forward(self, images: torch.Tensor, early_block: int | None = None):
        """The neck's maps; with early_block, also that trunk block's output (see ViT.forward)."""
        x = self.trunk(images, early_block)
        x, early = x if early_block is not None else (x, None)
        levels = self.neck(x)
        return levels if early_block is None else (levels, early)

    def neck(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The sam2 neck's maps of the trunk's B x C x g x g output."""
        return [level(x) for level in self.sam2_convs[: self.levels]]
