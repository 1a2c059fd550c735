"""What the AMG parity tests compare: the official SAM-HQ generator and Meta's SAM 2.1 generator
on our weights, their records side by side with ours, and the stored SAM 2.1 reference
(tests/fixtures/amg_sam2_meta_mini.pt) for runs without Meta's package.

    python -m tests.inference.amg_reference      # rewrites the fixture (needs sam2 1.1.0)
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SAM2_AMG_FIXTURE = FIXTURES / "amg_sam2_meta_mini.pt"
META_FIXTURE = FIXTURES / "sam2_meta_mini.pt"
SAM2_VARIANT = "sam2.1_hq_hiera_demo"
BASE = {"points_per_side": 6, "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}
# SAM 2.1 cases stored for CI: many masks with NMS off (every candidate compared), then the
# default NMS with single-mask output (SAM 2's dynamic multimask) and a point batch of 10
SAM2_CASES = {
    "multimask_no_nms": dict(BASE, box_nms_thresh=1.0, output_mode="coco_rle"),
    "single_mask_nms": dict(
        BASE, multimask_output=False, points_per_batch=10, output_mode="coco_rle"
    ),
    "crops_no_nms": dict(
        BASE,
        points_per_side=4,
        crop_n_layers=1,
        box_nms_thresh=1.0,
        crop_nms_thresh=1.0,
        output_mode="coco_rle",
    ),
}


def disc_image(height: int = 192, width: int = 256, seed: int = 0) -> np.ndarray:
    """Flat grey with 8 solid discs of random colour: objects a point prompt can pick out."""
    rng = np.random.default_rng(seed)
    image = np.full((height, width, 3), 128, np.uint8)
    for _ in range(8):
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        centre = (int(rng.integers(20, width - 20)), int(rng.integers(20, height - 20)))
        cv2.circle(image, centre, int(rng.integers(8, 30)), colour, -1)
    return image


def segmentation_key(segmentation):
    """Comparable form of a record's segmentation in any output mode."""
    if isinstance(segmentation, np.ndarray):
        return segmentation.tobytes()
    if isinstance(segmentation, dict):
        return (
            segmentation["counts"]
            if isinstance(segmentation["counts"], str)
            else tuple(segmentation["counts"])
        )
    return repr(segmentation)


def to_mask(segmentation) -> np.ndarray:
    from pycocotools import mask as coco_mask

    if isinstance(segmentation, np.ndarray):
        return segmentation
    h, w = segmentation["size"]
    if isinstance(segmentation["counts"], list):
        segmentation = coco_mask.frPyObjects(segmentation, h, w)
    return coco_mask.decode(segmentation).astype(bool)


def compare_records(ours: list[dict], theirs: list[dict]) -> dict:
    """Counts, equal RLEs, pixels that differ in the others, max score and point differences."""
    assert len(ours) == len(theirs), f"{len(ours)} masks, the reference {len(theirs)}"
    differing = []
    for a, b in zip(ours, theirs):
        if segmentation_key(a["segmentation"]) != segmentation_key(b["segmentation"]):
            differing.append(int((to_mask(a["segmentation"]) != to_mask(b["segmentation"])).sum()))

    def max_diff(key):
        return max(
            [float(np.abs(np.subtract(a[key], b[key])).max()) for a, b in zip(ours, theirs)] + [0.0]
        )

    return {
        "masks": len(ours),
        "equal_rle": len(ours) - len(differing),
        "pixels_differing": differing,
        "same_boxes": sum(a["bbox"] == b["bbox"] for a, b in zip(ours, theirs)),
        "same_crop_boxes": sum(a["crop_box"] == b["crop_box"] for a, b in zip(ours, theirs)),
        "same_areas": sum(a["area"] == b["area"] for a, b in zip(ours, theirs)),
        "max_iou_diff": max_diff("predicted_iou"),
        "max_stability_diff": max_diff("stability_score"),
        "max_point_diff": max_diff("point_coords"),
    }


def connected_components_on_cpu(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Stand-in for sam2's CUDA get_connected_components (8-connectivity): N x 1 x H x W masks ->
    (labels, area of each pixel's component; 0 on background)."""
    labels, areas = (
        torch.zeros(mask.shape, dtype=torch.int32),
        torch.zeros(mask.shape, dtype=torch.int32),
    )
    for i, m in enumerate(mask[:, 0].cpu().numpy().astype(np.uint8)):
        _, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
        labels[i, 0] = torch.from_numpy(lab)
        areas[i, 0] = torch.from_numpy(np.where(lab > 0, stats[lab, cv2.CC_STAT_AREA], 0))
    return labels.to(mask.device), areas.to(mask.device)


def meta_sam2_generator(meta_model, **options):
    """Meta's SAM2AutomaticMaskGenerator on its miniature (the predictor's feature sizes, written
    for 1024 px, set for the miniature's input)."""
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

    generator = SAM2AutomaticMaskGenerator(meta_model, **options)
    s = meta_model.image_size
    generator.predictor._bb_feat_sizes = [(s // 4, s // 4), (s // 8, s // 8), (s // 16, s // 16)]
    return generator


def meta_miniature():
    """Meta's SAM 2.1 miniature (its build_sam2) with the weights of
    tests/fixtures/sam2_meta_mini.pt."""
    from tests.model.sam2.test_meta_load import build_meta_miniature

    meta = build_meta_miniature()
    meta.load_state_dict(torch.load(META_FIXTURE, weights_only=True)["state_dict"], strict=True)
    return meta.eval()


def write_sam2_fixture() -> None:
    image = torch.load(META_FIXTURE, weights_only=True)["image"].numpy()
    meta = meta_miniature()
    results = {}
    for name, options in SAM2_CASES.items():
        with torch.no_grad():
            results[name] = meta_sam2_generator(meta, **options).generate(image)
    torch.save({"cases": SAM2_CASES, "records": results, "sam2_version": "1.1.0"}, SAM2_AMG_FIXTURE)
    print({k: len(v) for k, v in results.items()}, "->", SAM2_AMG_FIXTURE)


if __name__ == "__main__":
    write_sam2_fixture()
