"""scripts/benchmark.py's hq_decoder_step (the timed training step from the features on) is the
training step it says: the HQ-token mask's point-sampled loss against the target, backward, and
one Adam step on the policy's parameters (nothing else moves). Checked against an independent
gradient: Adam's first step moves every parameter with a clear gradient by lr * -sign(gradient).
(The table test only runs the step: a missing optimizer step or the wrong output token survived
it.)"""


import pytest
import torch

from samhq_train.model import build_sam_hq, trained_parameter_names
from samhq_train.training.losses import PointSampledMaskLoss
from tests.script_modules import load_script

LR = 1e-3  # hq_decoder_step's Adam lr


def load_benchmark():
    return load_script("benchmark")


@pytest.mark.parametrize("policy", ["hq", "hq+decoder"])
def test_one_step_is_adam_on_the_policy_parameters_of_the_hq_loss(policy):
    bench = load_benchmark()
    model = build_sam_hq("vit_demo", seed=0, policy=policy)
    s = model.image_size
    gen = torch.Generator().manual_seed(0)
    pixels = torch.rand(2, 3, s, s, generator=gen) * 255
    boxes = torch.tensor([[0.2, 0.2, 0.7, 0.8], [0.1, 0.3, 0.5, 0.9]])[:, None] * s
    target = bench.box_targets(pixels, boxes)
    with torch.no_grad():
        features = model.encode(pixels)

    # the independent gradient: HQ-token masks, the recipe's loss, the same sampled points
    trained = set(trained_parameter_names(model, policy))
    torch.manual_seed(1)
    low_res, _ = model.decode(features, boxes=boxes, hq_token_only=True)
    PointSampledMaskLoss()(low_res[:, :, 0], target)["loss"].backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    # hq: every trained tensor; hq+decoder: not the heads of the other output tokens
    assert set(grads) <= trained and any("hf_token" in n for n in grads)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}

    step = bench.hq_decoder_step(model, boxes, target, policy)
    torch.manual_seed(1)
    step(features)
    after = dict(model.named_parameters())
    assert all(torch.equal(after[n], before[n]) for n in before if n not in grads)
    clear = 0
    for name, grad in grads.items():
        big = grad.abs() > 1e-4  # Adam's eps 1e-8 is negligible against these
        moved = after[name].detach() - before[name]
        torch.testing.assert_close(moved[big], -LR * grad[big].sign(), rtol=1e-3, atol=1e-6)
        clear += int(big.sum())
    assert clear > 0.5 * sum(g.numel() for g in grads.values())
