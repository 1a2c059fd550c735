"""Correction-click training (data.prompts.correction_clicks): off is the official step exactly;
on, the rounds re-run only the decoder, place their clicks by the evaluation's rule, and the
gradient flows only through each round's decoder output (clicks and fed-back logits detached)."""

import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from samhq_train.batch_forward import decode_prompts, image_features
from samhq_train.data import PromptConfig, next_click
from samhq_train.model import FAMILIES, Provenance, build_sam_hq
from samhq_train.training.correction import error_clicks
from samhq_train.training.losses import PointSampledMaskLoss
from samhq_train.training.module import SamHQModule

pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log()`")


def make_batch(size: int, kinds=("box", "point")) -> dict:
    """Two samples in the S x S frame: an off-centre square and a ring, each with its prompts."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    masks = torch.zeros(2, 1, size, size)
    masks[0, 0, size // 8 : size // 2, size // 4 : 3 * size // 4] = 255
    r = ((xx - size / 2) ** 2 + (yy - size / 2) ** 2).sqrt()
    masks[1, 0][(r > size / 8) & (r < size / 3)] = 255
    boxes, points = [], []
    for m in masks[:, 0] > 128:
        ys, xs = torch.nonzero(m, as_tuple=True)
        boxes.append(torch.stack([xs.min(), ys.min(), xs.max(), ys.max()]).float())
        points.append(torch.stack([xs[::97][:3], ys[::97][:3]], dim=1).float())
    low = size // 4
    return {
        "image": torch.randint(
            0,
            256,
            (2, 3, size, size),
            dtype=torch.uint8,
            generator=torch.Generator().manual_seed(1),
        ),
        "mask": masks,
        "prompt_type": list(kinds),
        "boxes": torch.stack(boxes),
        "points": torch.stack(points),
        "point_labels": torch.ones(2, 3),
        "mask_input": F.interpolate(masks, (low, low)),
        "input_size": [(size, size), (size, 3 * size // 4)],
        "name": ["a", "b"],
        "dataset": ["d", "d"],
    }


def bce(logits, target):
    """A deterministic loss (the official one samples points at random)."""
    target = F.interpolate(target, logits.shape[-2:], mode="bilinear", align_corners=False)
    return {"loss": F.binary_cross_entropy_with_logits(logits, target)}


def module_for(model, policy="hq", loss=None, **prompts):
    return SamHQModule(
        model,
        optimizer=functools.partial(torch.optim.Adam, lr=1e-3),
        loss=loss,
        provenance=Provenance(variant="vit_demo", seed=0, policy=policy),
        prompts=PromptConfig(**prompts),
    )


def test_off_is_the_official_step_exactly():
    model = build_sam_hq("vit_demo", seed=0)
    batch = make_batch(model.image_size, kinds=("box", "noise_mask"))
    config = {"data": {"prompts": {"correction_clicks": 0}}}
    module = SamHQModule(
        model,
        optimizer=functools.partial(torch.optim.Adam, lr=1e-3),
        provenance=Provenance(variant="vit_demo", seed=0),
        config=config,
    )
    assert module.prompts == PromptConfig()
    torch.manual_seed(3)  # the official loss samples points
    loss = module.training_step(batch, 0)
    torch.manual_seed(3)
    features = image_features(model, batch)
    low_res, _ = decode_prompts(model, features, batch, hq_token_only=True)
    official = PointSampledMaskLoss()(low_res, batch["mask"] / 255.0)["loss"]
    assert torch.equal(loss, official)


def test_clicks_follow_the_evaluation_rule_within_the_resized_image():
    batch = make_batch(64)
    logits = torch.full((2, 1, 16, 16), -5.0)  # nothing predicted: the first clicks
    logits[1, 0, :, 12:] = 5.0  # sample 1 predicts the padding right of its 48 px wide image
    coords, labels = error_clicks(logits, batch)
    gt = (batch["mask"][:, 0] > 128).numpy()
    first = next_click(gt[0], np.zeros_like(gt[0]))
    assert coords[0, 0].tolist() == [first.x, first.y] and labels[0, 0] == 1
    assert coords[1, 0, 0] < 48  # never a click in the padding outside input_size
    labels_in_image = next_click(gt[1, :, :48], np.zeros_like(gt[1, :, :48]))
    assert labels[1, 0] == float(labels_in_image.positive)


def counting_encoder(model) -> list:
    calls, real = [], model.encode

    def encode(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    model.encode = encode
    return calls


def test_rounds_rerun_the_decoder_and_grads_flow_only_through_its_outputs():
    model = build_sam_hq("vit_demo", seed=0)
    batch = make_batch(model.image_size)
    with torch.no_grad():  # the embedding cache's batch: features, no image
        batch["features"] = model.encode(batch.pop("image")).tensors()
    decodes = []
    real_encode, real_decode = model.encode, model.decode

    def decode(features, **kwargs):
        decodes.append(kwargs)
        return real_decode(features, **kwargs)

    encodes = counting_encoder(model)
    model.decode = decode
    module = module_for(model, loss=bce, correction_clicks=2, mask_feedback_prob=1.0)
    module.zero_grad()
    module.training_step(batch, 0).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    assert not encodes
    assert len(decodes) == 2 * 3  # two prompt kinds x (first prompt + 2 rounds)
    for kwargs in decodes[2:]:  # the rounds: clicks appended, the previous logits fed back
        points, labels = kwargs["points"]
        assert not points.requires_grad and not labels.requires_grad
        assert kwargs["mask_inputs"] is not None and not kwargs["mask_inputs"].requires_grad
    assert decodes[2]["points"][0].shape[-2] == 1 and decodes[4]["points"][0].shape[-2] == 2
    assert decodes[3]["points"][0].shape[-2] == 3 + 1  # the point kind: its 3 points + a click

    # the same decodes replayed from the recorded (detached) inputs: the mean of their losses
    # has the same gradient, so nothing flows through the clicks or the fed-back logits
    model.zero_grad()
    model.encode, model.decode = real_encode, real_decode
    features = image_features(model, batch)
    total = 0.0
    for r in range(3):
        parts = [
            real_decode(features.select(torch.tensor([i])), **decodes[2 * r + i])[0]
            for i in range(2)
        ]
        total = total + bce(torch.cat(parts)[:, 0], batch["mask"] / 255.0)["loss"] / 3
    total.backward()
    assert grads and all(n.split(".")[0] == "mask_decoder" for n in grads)
    for name, p in model.named_parameters():
        if name in grads:
            torch.testing.assert_close(grads[name], p.grad, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize(
    "variant,policy", [("vit_demo", "hq+lora"), ("sam2.1_hq_hiera_demo", "hq")]
)
def test_rounds_train_every_policy_and_family(variant, policy):
    """The rounds only call model.decode, which every family has; a policy that trains the
    encoder gets its gradient through the shared features of every round."""
    model = build_sam_hq(variant, seed=0, policy=policy)
    encodes = counting_encoder(model)
    batch = make_batch(model.image_size, kinds=("noise_mask", "point"))
    module = SamHQModule(
        model,
        optimizer=functools.partial(torch.optim.Adam, lr=1e-3),
        provenance=Provenance(variant=variant, seed=0, policy=policy),
        prompts=PromptConfig(correction_clicks=1, mask_feedback_prob=0.0),
    )
    loss = module.training_step(batch, 0)
    loss.backward()
    assert torch.isfinite(loss) and len(encodes) == 1  # the encoder once, the rounds decode only
    grads = {
        n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0
    }
    family = FAMILIES[model.family]
    assert {n for n, _ in model.named_parameters() if family.is_hq_key(n)} <= grads
    if policy == "hq+lora":
        assert any("lora_" in n for n in grads)


def test_clicks_are_placed_against_the_bilinearly_upsampled_logits():
    """The previous round's S/4 logits are upsampled to S bilinearly (as the predictor upsamples
    them, align_corners=False) before the click rule runs: on rough logits each click equals the
    rule's on that mask (a nearest-neighbour upsampling moves them)."""
    batch = make_batch(64)
    batch["input_size"] = [(64, 64), (64, 64)]
    gt = (batch["mask"][:, 0] > 128).numpy()
    for seed in range(4):
        logits = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(seed)) * 3
        coords, labels = error_clicks(logits, batch)
        pred = (F.interpolate(logits, (64, 64), mode="bilinear", align_corners=False) > 0)[:, 0]
        for i in range(2):
            click = next_click(gt[i], pred[i].numpy())
            assert coords[i, 0].tolist() == [click.x, click.y]
            assert labels[i, 0] == float(click.positive)
