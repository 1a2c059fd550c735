"""samhq-make-demo-base (samhq_train/training/demo_base.py): the policy's freeze rule, and a few
steps end to end on the tiny model."""

import torch

from samhq_train.cli import make_demo_base
from samhq_train.model import FAMILIES, build_sam_hq, load_checkpoint
from samhq_train.training.demo_base import base_parameters


def test_the_base_trains_every_sam_parameter_but_the_hq_parts():
    model = build_sam_hq("vit_demo", seed=0, policy="full")
    is_hq = FAMILIES[model.family].is_hq_key
    trained = base_parameters(model)
    expected = [p for n, p in model.named_parameters() if not is_hq(n)]
    assert [id(p) for p in trained] == [id(p) for p in expected]  # same order: same optimizer
    assert all(p.requires_grad != is_hq(n) for n, p in model.named_parameters())


def test_a_few_steps_write_a_base_that_loads(tmp_path, capsys):
    out = tmp_path / "base.safetensors"
    argv = [
        "--variant",
        "vit_demo",
        "--num-images",
        "4",
        "--num-val",
        "2",
        "--batch-size",
        "2",
        "--steps",
        "2",
        "--warmup",
        "1",
        "--eval-every",
        "2",
        "--out",
        str(out),
    ]
    assert make_demo_base.main(argv) == out
    text = capsys.readouterr().out
    assert "step 2: demo-val SAM mIoU" in text and "sha256" in text
    trained = load_checkpoint(out).state_dict()
    start = build_sam_hq("vit_demo", seed=0).state_dict()
    is_hq = FAMILIES["sam1"].is_hq_key
    assert all(torch.equal(trained[k], start[k]) for k in start if is_hq(k))  # HQ parts untouched
    assert any(not torch.equal(trained[k], start[k]) for k in start if not is_hq(k))
