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


def test_default_out_keeps_vit_demo_base_and_names_the_other_families_official_file():
    from pathlib import Path

    from samhq_train.training.demo_base_settings import default_out

    assert default_out("vit_demo_base") == Path("data/demo_base/vit_demo_base.safetensors")
    assert default_out("sam3_hq_demo") == Path("data/demo_base/sam3_hq_demo_base.pt")
    settings, _ = make_demo_base.parse_args(["--variant", "sam2.1_hq_hiera_demo"])
    assert settings.out == Path("data/demo_base/sam2.1_hq_hiera_demo_base.pt")


def test_a_sam3_base_is_an_official_file_that_both_hq_designs_load(tmp_path, capsys):
    """Another family: the base trains with the HQ token off and is written as the family's
    official file (no HQ keys), which the default and the early-fusion design both load."""
    out = tmp_path / "base.pt"
    argv = "--variant sam3_hq_demo --num-images 2 --num-val 2 --batch-size 2 --steps 2"
    argv += " --warmup 1 --eval-every 2 --all-prompts --out"
    assert make_demo_base.main([*argv.split(), str(out)]) == out
    assert "step 2: demo-val SAM mIoU" in capsys.readouterr().out
    is_hq = FAMILIES["sam3"].is_hq_key
    state = torch.load(out, map_location="cpu", weights_only=True)
    start = build_sam_hq("sam3_hq_demo", seed=0).state_dict()
    assert set(state) == {k for k in start if not is_hq(k)}
    assert any(not torch.equal(state[k], start[k]) for k in state)
    for variant in ("sam3_hq_demo", "sam3_hq_ef_demo"):
        loaded = build_sam_hq(variant, out, seed=0).state_dict()
        assert all(torch.equal(loaded[k], state[k]) for k in state)
