"""Mutation audit (round 11): the automatic mask generator's COCO RLE output (rle_to_coco, now
through coco_masks) is pycocotools' whole compressed RLE, size included, on non-square frames."""

import json

import numpy as np
import torch
from pycocotools import mask as coco_mask

from samhq_train.inference.amg import masks as amg_masks


def test_coco_rle_equals_pycocotools_including_its_size():
    rng = np.random.default_rng(11)
    for frame_h, frame_w in ((30, 40), (41, 17)):
        masks = torch.from_numpy(rng.random((3, frame_h, frame_w)) < 0.4)
        for mask, rle in zip(masks.numpy(), amg_masks.masks_to_rle(masks, (frame_h, frame_w),
                                                                   (0, 0))):
            reference = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
            got = amg_masks.rle_to_coco(rle)
            assert got == {"size": [frame_h, frame_w], "counts": reference["counts"].decode()}
            assert json.loads(json.dumps(got)) == got
