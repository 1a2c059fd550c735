"""SAM 3 with HQ-SAM 1's early-feature fusion (sam3_hq_ef_demo): B images x P prompts decoded in
one call equal each image's prompts decoded alone (each prompt gets its own image's fused early
feature)."""

import torch

from samhq_train.model import build_sam_hq
from tests.reference import randomize_


def test_batched_decode_equals_one_image_at_a_time():
    model = randomize_(build_sam_hq("sam3_hq_ef_demo", seed=0), seed=4, scale=0.05).eval()
    s = model.image_size
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(2, 3, s, s, generator=gen) * 255
    xy0 = torch.rand(2, 3, 2, generator=gen) * s / 2
    boxes = torch.cat([xy0, xy0 + 20 + torch.rand(2, 3, 2, generator=gen) * s / 3], dim=-1)
    with torch.no_grad():
        features = model.encode(images)
        assert (features.early[0] - features.early[1]).abs().max() > 1e-3
        masks, iou = model.decode(features, boxes=boxes, hq_token_only=True)
        for i in range(2):
            alone, alone_iou = model.decode(
                features.select(i), boxes=boxes[i : i + 1], hq_token_only=True
            )
            torch.testing.assert_close(alone[0], masks[i], atol=1e-4, rtol=0)
            torch.testing.assert_close(alone_iou[0], iou[i], atol=1e-5, rtol=0)
