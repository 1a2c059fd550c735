"""Batches carry uint8 images (a quarter of float32's bytes to the device); the model converts
them, so every path gives exactly what the float batch of the same values gives."""

import pytest
import torch
from lightning.pytorch.plugins.precision import HalfPrecision, MixedPrecision

from samhq_train.batch_forward import decode_prompts, image_features
from samhq_train.data import ensure_demo_data
from samhq_train.data.datamodule import build_datamodule
from samhq_train.evaluation.evaluate import predict_batch
from samhq_train.model import build_sam_hq
from samhq_train.training.losses import PointSampledMaskLoss

FAMILY_VARIANTS = ["vit_demo", "sam2.1_hq_hiera_demo"]


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("uint8") / "demo"
    return ensure_demo_data(root, num_train=4, num_val=2, height=60, width=80, seed=0)


def datamodule(root, size, **overrides):
    cfg = {
        "root": str(root),
        "train_sets": [{"name": "t", "image_dir": "train/images", "mask_dir": "train/masks"}],
        "val_sets": [{"name": "v", "image_dir": "val/images", "mask_dir": "val/masks"}],
        "batch_size": 2,
        "val_batch_size": 2,
        **overrides,
    }
    dm = build_datamodule(cfg, image_size=size)
    dm.setup()
    return dm


def as_float(batch: dict) -> dict:
    """The batch as it was collated before: float32 images of the same values."""
    return {**batch, "image": batch["image"].float()}


@pytest.mark.parametrize("variant", FAMILY_VARIANTS)
def test_a_uint8_training_batch_gives_the_float_batch_loss_and_gradients(demo_root, variant):
    model = build_sam_hq(variant, seed=0)
    torch.manual_seed(0)
    batch = next(iter(datamodule(demo_root, model.image_size).train_dataloader()))
    assert batch["image"].dtype == torch.uint8 and batch["image"].shape[1:] == (
        3,
        model.image_size,
        model.image_size,
    )
    results = []
    for images in (batch, as_float(batch)):
        model.zero_grad()
        low_res, _ = decode_prompts(
            model, image_features(model, images), images, hq_token_only=True
        )
        loss = PointSampledMaskLoss(num_points=512)(
            low_res, images["mask"] / 255.0, generator=torch.Generator().manual_seed(0)
        )["loss"]
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        results.append((low_res.detach(), loss.detach(), grads))
    (a, loss_a, grads_a), (b, loss_b, grads_b) = results
    assert torch.equal(a, b) and torch.equal(loss_a, loss_b)
    assert grads_a and grads_a.keys() == grads_b.keys()
    assert all(torch.equal(grads_a[n], grads_b[n]) for n in grads_a)


@pytest.mark.parametrize("mode", ["resize", "longest_side"])
def test_a_uint8_evaluation_batch_gives_the_float_batch_masks(demo_root, mode):
    """longest_side pads the uint8 image with the pixel mean (zeroed after normalising): integral too."""
    model = build_sam_hq("vit_demo", seed=0).eval()
    batch = next(
        iter(
            datamodule(demo_root, model.image_size, eval_transform={"mode": mode}).val_dataloader()[
                0
            ]
        )
    )
    assert batch["image"].dtype == torch.uint8
    with torch.no_grad():
        ours = predict_batch(model, batch, sam_baseline=True)
        before = predict_batch(model, as_float(batch), sam_baseline=True)
    for output in ("hq", "sam"):
        assert all(torch.equal(x, y) for x, y in zip(ours[output], before[output]))


@pytest.mark.parametrize(
    "plugin",
    [MixedPrecision("bf16-mixed", "cpu"), HalfPrecision("bf16-true"), HalfPrecision("16-true")],
)
def test_lightning_precision_plugins_leave_uint8_images_alone(plugin):
    """Lightning casts a batch's floating tensors for *-true precision; integer images stay."""
    batch = {"image": torch.zeros(1, 3, 4, 4, dtype=torch.uint8), "mask": torch.zeros(1, 1, 4, 4)}
    converted = plugin.convert_input(batch)
    assert converted["image"].dtype == torch.uint8


def test_a_bf16_true_model_normalises_uint8_images_as_the_float_batch(demo_root):
    """Under bf16-true Lightning casts a float batch to bf16 (0-255 integers are exact in bf16);
    uint8 - a bf16 mean is computed in bf16 as well: the same input to the encoder."""
    model = build_sam_hq("vit_demo", seed=0).to(torch.bfloat16)
    images = torch.randint(0, 256, (1, 3, model.image_size, model.image_size), dtype=torch.uint8)
    assert torch.equal(model.preprocess(images), model.preprocess(images.to(torch.bfloat16)))
