"""batch_forward.decode_prompts groups a batch's samples by prompt kind and puts the results
back in batch order: each sample's logits equal that sample decoded alone; prompt_arguments
appends correction clicks after a sample's points with their labels as given (-1: padding)."""

import torch

from samhq_train.batch_forward import decode_prompts, prompt_arguments
from samhq_train.model import build_sam_hq
from tests.reference import randomize_


def test_mixed_kinds_come_back_in_batch_order():
    model = randomize_(build_sam_hq("vit_demo", seed=0), seed=1, scale=0.05).eval()
    s = model.image_size
    gen = torch.Generator().manual_seed(0)
    n = 4
    xy0 = torch.rand(n, 2, generator=gen) * s / 2
    batch = {
        "prompt_type": ["box", "point", "point", "box"],  # grouped order 0, 3, 1, 2
        "boxes": torch.cat([xy0, xy0 + s / 4], dim=1),
        "points": torch.rand(n, 3, 2, generator=gen) * s,
        "point_labels": torch.ones(n, 3),
        "mask_input": torch.zeros(n, 1, s // 4, s // 4),
    }
    with torch.no_grad():
        features = model.encode(torch.rand(n, 3, s, s, generator=gen) * 255)
        logits, ious = decode_prompts(model, features, batch)
        for i in range(n):
            one = {k: v[i : i + 1] for k, v in batch.items() if k != "prompt_type"}
            one["prompt_type"] = [batch["prompt_type"][i]]
            alone, alone_iou = decode_prompts(model, features.select(torch.tensor([i])), one)
            torch.testing.assert_close(logits[i], alone[0], atol=1e-5, rtol=0)
            torch.testing.assert_close(ious[i], alone_iou[0], atol=1e-6, rtol=0)
    assert (logits[0] - logits[1]).abs().max() > 1e-3


def test_clicks_follow_the_points_with_their_labels():
    batch = {
        "points": torch.tensor([[[1.0, 2.0]], [[3.0, 4.0]]]),
        "point_labels": torch.ones(2, 1),
    }
    clicks = (torch.tensor([[[5.0, 6.0]], [[7.0, 8.0]]]), torch.tensor([[-1.0], [0.0]]))
    args = prompt_arguments(batch, "point", torch.tensor([0, 1]), clicks)
    coords, labels = args["points"]
    assert coords.tolist() == [[[[1.0, 2.0], [5.0, 6.0]]], [[[3.0, 4.0], [7.0, 8.0]]]]
    assert labels.tolist() == [[[1.0, -1.0]], [[1.0, 0.0]]]
