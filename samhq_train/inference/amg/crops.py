"""Where automatic mask generation looks: the crop boxes of each crop layer and the point grid
prompted in each crop (SAM's layout: layer i has 2^i x 2^i overlapping crops, its grid
points_per_side / downscale^i points a side)."""

from __future__ import annotations

import math
from itertools import product

import numpy as np
import torch


def point_grid(points_per_side: int) -> np.ndarray:
    """points_per_side^2 x 2 (x, y) in [0, 1], cell centres, x running fastest."""
    half_cell = 1 / (2 * points_per_side)
    side = np.linspace(half_cell, 1 - half_cell, points_per_side)
    xs, ys = np.meshgrid(side, side)
    return np.stack([xs, ys], axis=-1).reshape(-1, 2)


def layer_point_grids(points_per_side: int, n_layers: int, downscale: int) -> list[np.ndarray]:
    """The grid of crop layer 0 .. n_layers: points_per_side / downscale^layer points a side."""
    return [point_grid(int(points_per_side / (downscale**layer))) for layer in range(n_layers + 1)]


def crop_boxes(
    image_hw: tuple[int, int], n_layers: int, overlap_ratio: float
) -> tuple[list[list[int]], list[int]]:
    """Crop boxes [x0, y0, x1, y1] and their layer: the whole image (layer 0), then for layer
    i = 1..n_layers 2^i x 2^i crops that overlap by overlap_ratio * short side * 2 / 2^i pixels
    (column by column: x outer, y inner)."""
    height, width = image_hw
    boxes, layers = [[0, 0, width, height]], [0]
    short_side = min(height, width)
    for layer in range(1, n_layers + 1):
        per_side = 2**layer
        overlap = int(overlap_ratio * short_side * (2 / per_side))
        crop_w = math.ceil((overlap * (per_side - 1) + width) / per_side)
        crop_h = math.ceil((overlap * (per_side - 1) + height) / per_side)
        x_starts = [int((crop_w - overlap) * i) for i in range(per_side)]
        y_starts = [int((crop_h - overlap) * i) for i in range(per_side)]
        for x0, y0 in product(x_starts, y_starts):
            boxes.append([x0, y0, min(x0 + crop_w, width), min(y0 + crop_h, height)])
            layers.append(layer)
    return boxes, layers


def near_crop_edge(
    boxes: torch.Tensor, crop_box: list[int], image_hw: tuple[int, int], tolerance: float = 20.0
) -> torch.Tensor:
    """n bool: which boxes (n x 4 xyxy, image frame) come within tolerance pixels of an edge of
    their crop that is not an edge of the image, i.e. masks the crop may have cut off."""
    boxes = boxes.float()
    crop = torch.tensor(crop_box, dtype=torch.float32, device=boxes.device)
    image = torch.tensor([0, 0, image_hw[1], image_hw[0]], dtype=torch.float32, device=boxes.device)
    at_crop = torch.isclose(boxes, crop[None], atol=tolerance, rtol=0)
    at_image = torch.isclose(boxes, image[None], atol=tolerance, rtol=0)
    return (at_crop & ~at_image).any(dim=1)
