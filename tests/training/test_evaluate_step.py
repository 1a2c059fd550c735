"""The shared evaluation step (samhq_train/evaluation/evaluate.py) used by validation and the runner."""

import pytest
import torch
import torch.nn.functional as F

from samhq_train.batch_forward import decode_prompts, prompt_arguments
from samhq_train.drawing import GT_EDGE, PALETTE
from samhq_train.evaluation.evaluate import (
    DatasetMetrics,
    logits_at_original_size,
    mean_over_sets,
    overlay,
    predict_batch,
)
from samhq_train.evaluation.metrics import boundary_iou, mask_iou


def make_batch(types, s=256):
    gen = torch.Generator().manual_seed(0)
    b = len(types)
    mask = torch.zeros(b, 1, s, s)
    mask[:, :, 60:180, 50:200] = 255.0
    gt = [torch.zeros(100 + 10 * i, 120, dtype=torch.uint8) for i in range(b)]
    for g in gt:
        g[20:70, 30:90] = 255
    return {
        "image": torch.rand(b, 3, s, s, generator=gen) * 255,
        "mask": mask,
        "prompt_type": list(types),
        "boxes": torch.tensor([[50.0, 60.0, 199.0, 179.0]]).repeat(b, 1) + torch.arange(b)[:, None],
        "points": torch.rand(b, 10, 2, generator=gen) * 100 + 60,
        "point_labels": torch.ones(b, 10),
        "mask_input": (torch.rand(b, 1, s // 4, s // 4, generator=gen) > 0.5).float() * 255,
        "gt_original": gt,
        "original_size": [tuple(g.shape) for g in gt],
        "input_size": [(s, s)] * (b - 1) + [(s, s * 3 // 4)],
        "name": [f"im{i}" for i in range(b)],
        "dataset": ["A", "B", "A", "B"][:b],
    }


def test_mixed_prompt_kinds_are_decoded_per_group_in_batch_order(tiny_model):
    batch = make_batch(["point", "box", "noise_mask", "box"])
    with torch.no_grad():
        features = tiny_model.encode(batch["image"])
        masks, iou = decode_prompts(tiny_model, features, batch)
        for i, kind in enumerate(batch["prompt_type"]):
            index = torch.tensor([i])
            ref, ref_iou = tiny_model.decode(
                features.select(index), **prompt_arguments(batch, kind, index), hq_token_only=True
            )
            torch.testing.assert_close(masks[i], ref[0, 0], atol=1e-5, rtol=0)
            torch.testing.assert_close(iou[i], ref_iou[0, 0], atol=1e-5, rtol=0)
    assert masks.shape == (4, 1, 64, 64) and iou.shape == (4, 1)


def test_unknown_prompt_kind():
    with pytest.raises(ValueError, match="unknown prompt type 'scribble'"):
        prompt_arguments(make_batch(["box"]), "scribble", torch.tensor([0]))


def test_logits_go_straight_to_the_gt_size_when_the_image_fills_the_frame(tiny_model):
    low = torch.randn(64, 64)
    straight = logits_at_original_size(tiny_model, low, (256, 256), (300, 500))
    ref = F.interpolate(low[None, None], (300, 500), mode="bilinear", align_corners=False)[0, 0]
    torch.testing.assert_close(straight, ref)
    padded = logits_at_original_size(tiny_model, low, (192, 256), (300, 400))
    torch.testing.assert_close(
        padded, tiny_model.postprocess_masks(low[None, None], (192, 256), (300, 400))[0, 0]
    )


def test_predict_batch_hq_and_sam_baseline_share_the_embedding(tiny_model):
    batch = make_batch(["noise_mask", "box", "point"])
    out = predict_batch(tiny_model, batch, prompt="box", sam_baseline=True)
    assert [t.shape for t in out["hq"]] == [g.shape for g in batch["gt_original"]]
    with torch.no_grad():
        hq, _ = tiny_model(batch["image"], boxes=batch["boxes"][:, None], hq_token_only=True)
        sam, _ = tiny_model(batch["image"], boxes=batch["boxes"][:, None], use_hq=False)
    for i in range(3):
        args = (batch["input_size"][i], batch["original_size"][i])
        torch.testing.assert_close(
            out["hq"][i], logits_at_original_size(tiny_model, hq[i, 0, 0], *args)
        )
        torch.testing.assert_close(
            out["sam"][i], logits_at_original_size(tiny_model, sam[i, 0, 0], *args)
        )
    assert not torch.equal(out["hq"][0], out["sam"][0])
    # prompt=None: each sample's own kind
    mixed = predict_batch(tiny_model, batch, prompt=None)["hq"]
    torch.testing.assert_close(mixed[1], out["hq"][1])
    assert not torch.allclose(mixed[0], out["hq"][0])


def test_dataset_metrics_are_kept_per_set():
    metrics = DatasetMetrics(["A", "B", "C"])
    gt = torch.zeros(10, 10, dtype=torch.uint8)
    gt[2:6, 2:6] = 255  # 16 px
    exact = torch.where(gt > 128, 5.0, -5.0)
    half = torch.full((10, 10), -5.0)
    half[2:6, 2:4] = 5.0  # 8 of the 16 px
    per_image = metrics.update(["A", "B", "A"], [exact, half, half], [gt, gt, gt])
    result = metrics.compute()
    assert set(result) == {"A", "B"}  # C saw no image
    assert result["A"]["mIoU"] == pytest.approx(0.75) and result["A"]["count"] == 2
    assert result["B"]["mIoU"] == pytest.approx(0.5) and result["B"]["count"] == 1
    b_ref = boundary_iou((half > 0)[None], (gt > 128)[None])[0].item()
    assert result["B"]["mBIoU"] == pytest.approx(b_ref)
    assert per_image[0] == pytest.approx([1.0, 0.5, 0.5])
    assert per_image[1] == pytest.approx([1.0, b_ref, b_ref])
    # what the paper reports over sets: the mean of the per-set means, never the pooled images'
    # mean ((1 + 0.5 + 0.5) / 3 for mIoU here)
    assert mean_over_sets(result) == pytest.approx(
        {"mIoU": (0.75 + 0.5) / 2, "mBIoU": ((1 + b_ref) / 2 + b_ref) / 2, "count": 3}
    )
    assert mask_iou((exact > 0)[None], (gt > 128)[None]).item() == 1.0
    with pytest.raises(KeyError, match="'D'"):
        metrics.update(["D"], [exact], [gt])
    metrics.reset()
    assert metrics.compute() == {}


def test_overlay_marks_the_gt_and_predicted_boundaries():
    gt = torch.zeros(40, 50, dtype=torch.uint8)
    gt[10:30, 10:30] = 255
    pred = torch.full((40, 50), -1.0)
    pred[12:32, 15:35] = 1.0
    picture = overlay(torch.full((3, 20, 25), 100.0), pred, gt)
    assert picture.shape == (3, 40, 50) and picture.dtype == torch.uint8
    assert picture[:, 10, 11].tolist() == list(GT_EDGE)  # GT boundary, outside the prediction
    assert picture[:, 31, 34].tolist() == PALETTE[0].tolist()  # predicted boundary
    assert picture[:, 0, 0].tolist() == [100, 100, 100]
