"""Two synthetic COCO images with rectangle GT objects, and a decode that returns each box prompt
as its mask: COCO AP known in advance."""

import json

import cv2
import numpy as np
import torch

from samhq_train.evaluation.coco import encode_mask

# two 96 x 128 (H x W) images; GT rectangles on even pixels, so that with the tiny model
# (S = 256, long side x2) every box edge lies on a cell edge of the S/4 logits
RECTS = {1: [(8, 10, 40, 30), (60, 50, 50, 40)], 2: [(20, 16, 70, 60)]}  # x, y, w, h


def write_coco(root):
    (root / "images").mkdir(parents=True)
    images, anns = [], []
    for image_id, rects in RECTS.items():
        image = np.random.default_rng(image_id).integers(0, 255, (96, 128, 3), dtype=np.uint8)
        cv2.imwrite(str(root / "images" / f"{image_id}.png"), image)
        images.append({"id": image_id, "file_name": f"{image_id}.png", "height": 96, "width": 128})
        for x, y, w, h in rects:
            mask = np.zeros((96, 128), bool)
            mask[y : y + h, x : x + w] = True
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": 1,
                         "segmentation": encode_mask(mask), "area": w * h, "bbox": [x, y, w, h],
                         "iscrowd": 0})
    gt = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "box"}]}
    (root / "gt.json").write_text(json.dumps(gt))
    return gt


def box_decoder(model):
    """A decode that returns each box as a mask (+10 inside its S/4 cells, -10 outside)."""
    n = model.mask_input_size

    def decode(features, *, boxes, multimask_output, hq_token_only, use_hq):
        cells = torch.arange(n, dtype=torch.float32) * 4
        x0, y0, x1, y1 = (boxes[..., k, None] for k in range(4))
        inside_x = (cells >= x0 - 1e-3) & (cells + 4 <= x1 + 1e-3)  # B x P x n
        inside_y = (cells >= y0 - 1e-3) & (cells + 4 <= y1 + 1e-3)
        inside = inside_y[..., :, None] & inside_x[..., None, :]
        logits = torch.where(inside, 10.0, -10.0)[:, :, None]
        return logits, torch.ones(logits.shape[:3])

    return decode
