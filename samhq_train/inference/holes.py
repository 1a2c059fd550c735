"""The official hole filling of mask logits: background (<= 0) regions of at most max_area pixels,
8-connected, turned foreground. SAM 2's video predictor (fill_holes_in_mask_scores) sets them to
0.1; SAM 3's interactive image predictor (SAM2Transforms.postprocess_masks, max_hole_area 256 by
default, on its low-res masks before they are upsampled) to 10."""

import cv2
import numpy as np
import torch

SAM2_VIDEO_FILL = 0.1
SAM3_IMAGE_FILL = 10.0


def fill_holes(logits: torch.Tensor, max_area: int, value: float = SAM2_VIDEO_FILL) -> torch.Tensor:
    """B x 1 x H x W logits with their small background regions set to `value`."""
    background = (logits <= 0).cpu().numpy().astype(np.uint8)
    holes = np.zeros(background.shape, dtype=bool)
    for i, mask in enumerate(background[:, 0]):
        _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        small = stats[:, cv2.CC_STAT_AREA] <= max_area
        small[0] = False  # label 0: the foreground
        holes[i, 0] = small[labels]
    return torch.where(torch.from_numpy(holes).to(logits.device), value, logits)
