"""The step scripts/benchmark.py times (hq_decoder_step on features from model.encode) computes
what SamHQModule.training_step computes for the same batch and weights: the same loss value and
the same gradient on every trained parameter (one same-call comparison, the point sampling drawn
from the same seed). Otherwise the benchmark would time a step the training does not run."""

import copy

import pytest
import torch

from samhq_train.model import Provenance, build_sam_hq
from samhq_train.training.module import SamHQModule
from tests.reference import randomize_

from .test_benchmark_step import load_benchmark


def recording_loss(bench, record: list):
    """benchmark's loss class, recording each loss value it returns."""

    class Recording(bench.PointSampledMaskLoss):
        def forward(self, *args, **kwargs):
            out = super().forward(*args, **kwargs)
            record.append(out["loss"].detach().clone())
            return out

    return Recording


@pytest.mark.parametrize(
    "variant, policy",
    [("vit_demo", "hq"), ("sam3_hq_ef_demo", "hq"), ("sam2.1_hq_hiera_demo", "hq+decoder")],
)
def test_benchmark_step_is_the_modules_training_step(monkeypatch, variant, policy):
    bench = load_benchmark()
    record = []
    monkeypatch.setattr(bench, "PointSampledMaskLoss", recording_loss(bench, record))
    model = randomize_(build_sam_hq(variant, seed=0, policy=policy), seed=2, scale=0.05)
    twin = copy.deepcopy(model)
    s = model.image_size
    gen = torch.Generator().manual_seed(0)
    pixels = torch.rand(2, 3, s, s, generator=gen) * 255
    boxes = torch.tensor([[0.2, 0.2, 0.7, 0.8], [0.1, 0.3, 0.5, 0.9]])[:, None] * s
    target = bench.box_targets(pixels, boxes)

    step = bench.hq_decoder_step(model, boxes, target, policy)
    with torch.no_grad():
        features = model.encode(pixels)
    torch.manual_seed(7)
    step(features)
    bench_grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}

    module = SamHQModule(
        twin,
        optimizer=lambda params: torch.optim.Adam(params, lr=1e-3),
        provenance=Provenance(variant=variant, policy=policy),
        sam_baseline=False,
    )
    module.train()
    module.log = module.log_dict = lambda *args, **kwargs: None  # no trainer to log to
    batch = {
        "image": pixels,
        "mask": target * 255,
        "boxes": boxes[:, 0],
        "prompt_type": ["box", "box"],
    }
    torch.manual_seed(7)
    loss = module.training_step(batch, 0)
    loss.backward()
    module_grads = {n: p.grad for n, p in twin.named_parameters() if p.grad is not None}

    assert len(record) == 1 and torch.isfinite(loss)
    torch.testing.assert_close(record[0], loss.detach(), rtol=1e-6, atol=0)
    assert set(bench_grads) == set(module_grads) and any("hf_token" in n for n in bench_grads)
    for name, grad in module_grads.items():
        torch.testing.assert_close(bench_grads[name], grad, rtol=1e-4, atol=1e-7, msg=name)


def test_box_targets_are_the_boxes_as_0_1_masks():
    """box_targets is what a training batch's mask / 255 is: 1 inside each image's first box
    (pixel edges, end exclusive), 0 elsewhere."""
    bench = load_benchmark()
    pixels = torch.zeros(2, 3, 40, 50)
    boxes = torch.tensor([[[5.0, 10.0, 20.0, 30.0]], [[0.0, 0.0, 50.0, 7.0]]])
    expected = torch.zeros(2, 1, 40, 50)
    expected[0, 0, 10:30, 5:20] = 1.0
    expected[1, 0, 0:7, 0:50] = 1.0
    assert torch.equal(bench.box_targets(pixels, boxes), expected)
