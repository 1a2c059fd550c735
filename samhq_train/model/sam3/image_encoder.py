"""SAM 3's vision backbone as the interactive path uses it: the ViT trunk and the second
("sam2") simple-FPN neck, which turns the trunk's one stride-14 map into maps at 4x, 2x, 1x (and
0.5x, dropped: scalp 1) its resolution, d_model wide.

The module sits at the official path detector.backbone.vision_backbone. The detector's own neck
(`convs`, same shapes, its own weights) is built only with detector_neck=True (the concept
detector); otherwise a file's convs tensors are carried, not computed."""

from typing import NamedTuple

import torch
from torch import nn

from ..common import TrunkSwitches
from ..sam2.image_encoder import sine_position_encoding
from .vit import ViT


class DualNeckFeatures(NamedTuple):
    """One trunk pass through both necks (Meta's Sam3DualViTDetNeck.forward after SAM3VLBackbone's
    scalp), levels highest resolution first: N x d x 4g x 4g, N x d x 2g x 2g, N x d x g x g."""

    fpn: list[torch.Tensor]  # the detector neck (convs): Meta's backbone_fpn
    pos: list[torch.Tensor]  # their sine position encodings: Meta's vision_pos_enc
    sam2_fpn: list[torch.Tensor]  # the sam2 neck: what VisionBackbone.forward returns
    early: torch.Tensor | None  # the early_block's output when asked (see ViT.forward)


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
    B x d x g x g] (g = S / patch), highest resolution first. With detector_neck, also the
    detector's neck `convs` (forward_dual)."""

    def __init__(
        self,
        *,
        trunk: ViT,
        d_model: int,
        scale_factors: tuple[float, ...],
        scalp: int = 1,
        detector_neck: bool = False,
    ) -> None:
        super().__init__()
        self.trunk = trunk
        dim = trunk.pos_embed.shape[-1]
        if detector_neck:  # registered before sam2_convs: Meta's state_dict order
            self.convs = nn.ModuleList(simple_fpn_level(dim, d_model, s) for s in scale_factors)
        self.sam2_convs = nn.ModuleList(simple_fpn_level(dim, d_model, s) for s in scale_factors)
        self.levels = len(scale_factors) - scalp
        self.d_model = d_model

    @property
    def has_detector_neck(self) -> bool:
        return "convs" in self._modules

    def forward(self, images: torch.Tensor, early_block: int | None = None):
        """The neck's maps; with early_block, also that trunk block's output (see ViT.forward)."""
        x, early = self._trunk_pass(images, early_block)
        levels = [level(x) for level in self.sam2_convs[: self.levels]]
        return levels if early_block is None else (levels, early)

    def forward_dual(
        self, images: torch.Tensor, early_block: int | None = None
    ) -> DualNeckFeatures:
        """One trunk pass through the detector neck (with its sine position encodings, in the
        maps' dtype, as Meta's neck casts them) and the sam2 neck; needs detector_neck=True."""
        if not self.has_detector_neck:
            raise RuntimeError("forward_dual needs a VisionBackbone built with detector_neck=True")
        x, early = self._trunk_pass(images, early_block)
        fpn = [level(x) for level in self.convs[: self.levels]]
        pos = [sine_position_encoding(f, self.d_model).to(f.dtype) for f in fpn]
        sam2_fpn = [level(x) for level in self.sam2_convs[: self.levels]]
        return DualNeckFeatures(fpn, pos, sam2_fpn, early)

    def _trunk_pass(self, images: torch.Tensor, early_block: int | None):
        """(the trunk's last map, the early block's output or None)."""
        x = self.trunk(images, early_block)
        return x if early_block is not None else (x, None)
