"""train(cfg) composed from the real conf/train.yaml: fast_dev_run, a short run and what it leaves
behind (frozen weights, optimiser, checkpoints, exports, a wandb history), the checkpoints it
refuses as input."""


import pytest
import torch

from samhq_train.errors import UserError
from samhq_train.model import FAMILIES, Provenance, build_sam_hq, load_checkpoint, save_checkpoint
from samhq_train.train import train
from tests.reference import build_official
from tests.training.helpers import SHORT, compose_cfg

is_hq_key = FAMILIES["sam1"].is_hq_key


@pytest.fixture(scope="module")
def short_run(tmp_path_factory, data_root):
    """2 epochs x 2 steps, validation before and after, checkpoints and exports."""
    out = tmp_path_factory.mktemp("short_run")
    metrics, objects = train(compose_cfg(out, data_root, *SHORT))
    return out, metrics, objects


def test_fast_dev_run(tmp_path, data_root):
    metrics, objects = train(compose_cfg(tmp_path, data_root, "debug=fdr"))
    assert objects["trainer"].global_step == 1
    assert "train/loss" in metrics


def test_short_run_validates_before_and_after(short_run):
    _, metrics, objects = short_run
    assert objects["trainer"].global_step == 4
    for when in ("before", "after"):
        assert set(metrics[when]) == {"demo-val"}
        assert 0.0 <= metrics[when]["demo-val"]["mIoU"] <= 1.0
        assert metrics[when]["demo-val"]["count"] == 2
    assert {"val/demo-val/mIoU", "val/demo-val/mBIoU", "val/mIoU", "val/mBIoU"} <= set(metrics)


def test_frozen_parameters_bitwise_unchanged_and_hq_trained(short_run):
    _, _, objects = short_run
    trained, base = objects["model"].state_dict(), build_sam_hq("vit_demo", seed=0).state_dict()
    assert set(trained) == set(base)
    frozen = [k for k in base if not is_hq_key(k)]
    assert frozen and all(torch.equal(trained[k], base[k]) for k in frozen)
    assert any(not torch.equal(trained[k], base[k]) for k in base if is_hq_key(k))


def test_optimizer_holds_only_hq_parameters(short_run):
    _, _, objects = short_run
    model, optimizer = objects["model"], objects["trainer"].optimizers[0]
    in_optimizer = {id(p) for g in optimizer.param_groups for p in g["params"]}
    hq = {id(p) for n, p in model.named_parameters() if is_hq_key(n)}
    assert in_optimizer == hq
    assert all(not p.requires_grad for n, p in model.named_parameters() if not is_hq_key(n))
    assert isinstance(optimizer, torch.optim.Adam)


def test_frozen_modules_stay_in_eval_mode(short_run):
    _, _, objects = short_run
    module = objects["module"]
    module.train()
    modes = {n: m.training for n, m in module.model.named_modules() if n}
    assert all(mode == is_hq_key(n) for n, mode in modes.items())
    assert (
        modes["mask_decoder.hf_mlp"]
        and not modes["image_encoder"]
        and not modes["mask_decoder.transformer"]
    )


def test_checkpoint_holds_hq_parameters_and_rebuild_info(short_run):
    out, _, objects = short_run
    ckpts = sorted((out / "checkpoints").glob("*.ckpt"))
    assert [p.name for p in ckpts] in (
        ["best_epoch_000.ckpt", "last.ckpt"],
        ["best_epoch_001.ckpt", "last.ckpt"],
    )
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    expected = {f"model.{n}" for n, _ in objects["model"].named_parameters() if is_hq_key(n)}
    assert set(ckpt["state_dict"]) == expected
    assert {k: v for k, v in ckpt["samhq"].items() if k != "policy_settings"} == {
        "variant": "vit_demo",
        "base_checkpoint": None,
        "base_sha256": None,
        "seed": 0,
        "policy": "hq",
    }
    assert ckpt["config"]["model"]["variant"] == "vit_demo"
    assert len(ckpt["optimizer_states"]) == 1 and len(ckpt["lr_schedulers"]) == 1
    assert len(ckpt["rng_states"]) == 1
    for name, value in ckpt["state_dict"].items():
        assert torch.equal(value, objects["model"].state_dict()[name.removeprefix("model.")])


def test_exports_load_into_official_package_and_reapply_onto_base(short_run, tmp_path):
    out, _, objects = short_run
    model = objects["model"]
    pth = out / "export" / "sam_hq_vit_demo.pth"
    hq_only = out / "export" / "sam_hq_vit_demo_hq.safetensors"
    official = build_official("vit_demo")
    official.load_state_dict(torch.load(pth, map_location="cpu", weights_only=True), strict=True)
    image = torch.rand(3, 256, 256, generator=torch.Generator().manual_seed(0)) * 255
    box = torch.tensor([[40.0, 50.0, 200.0, 180.0]])
    with torch.no_grad():
        ref = official(
            [{"image": image, "original_size": (256, 256), "boxes": box}],
            multimask_output=False,
            hq_token_only=True,
        )[0]["low_res_logits"]
        ours, _ = model(image[None], boxes=box[None], hq_token_only=True)
    torch.testing.assert_close(ours[0], ref, atol=1e-5, rtol=0)

    base = tmp_path / "base.pth"  # the untrained model: the same frozen backbone, fresh HQ parts
    save_checkpoint(build_sam_hq("vit_demo", seed=0), base, "sam_hq")
    rebuilt = load_checkpoint(hq_only, "vit_demo", base_checkpoint=base)
    trained = model.state_dict()
    assert all(torch.equal(v, trained[k]) for k, v in rebuilt.state_dict().items())


def test_resume_with_another_variant_is_refused(short_run, tmp_path, data_root):
    out, _, _ = short_run
    from samhq_train.training.module import SamHQModule

    module = SamHQModule(
        build_sam_hq("vit_demo", seed=1),
        optimizer=torch.optim.Adam,
        provenance=Provenance(variant="vit_demo", seed=1),
    )
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    with pytest.raises(Exception, match="model.seed=0"):
        module.on_load_checkpoint(ckpt)
    module.provenance = Provenance(variant="vit_b", seed=0)
    with pytest.raises(Exception, match="use model=vit_demo"):
        module.on_load_checkpoint(ckpt)
    module.provenance = Provenance(variant="vit_demo", seed=0, policy="full")
    with pytest.raises(Exception, match="resume with model.policy=hq"):
        module.on_load_checkpoint(ckpt)


@pytest.mark.parametrize(
    ("key", "make", "message"),
    [
        (
            "ckpt_path",
            lambda d: d / "nope.ckpt",
            r"ckpt_path=.*nope\.ckpt not found: ckpt_path resumes",
        ),
        ("ckpt_path", lambda d: d, r"ckpt_path=.* is a folder"),
        (
            "ckpt_path",
            "truncated",
            r"ckpt_path=.*truncated\.ckpt cannot be read as a training checkpoint: the file is "
            r"truncated",
        ),
        (
            "ckpt_path",
            "weights",
            r"ckpt_path=.*sam_hq_vit_demo\.pth is plain model weights .*pass model\.checkpoint=",
        ),
        (
            "model.checkpoint",
            "training",
            r"model\.checkpoint=.*last\.ckpt is a training checkpoint: to continue that run "
            r"pass ckpt_path=",
        ),
        (
            "model.checkpoint",
            "hq_only",
            r"model\.checkpoint=.*hq\.safetensors holds only the HQ parameters",
        ),
        (
            "model.checkpoint",
            "damaged",
            r"model\.checkpoint=.*damaged\.pth cannot be read as a PyTorch checkpoint: it is not "
            r"a PyTorch file.*; model\.checkpoint takes the official SAM",
        ),
    ],
)
def test_wrong_checkpoints_are_refused_before_anything_is_read(
    short_run, tmp_path, key, make, message
):
    """The data root is missing: a checkpoint error proves the checkpoint was checked first."""
    out, _, objects = short_run
    files = {
        "training": out / "checkpoints" / "last.ckpt",
        "weights": out / "export" / "sam_hq_vit_demo.pth",
        "hq_only": save_checkpoint(objects["model"], tmp_path / "hq.safetensors", "hq_only"),
    }
    truncated = tmp_path / "truncated.ckpt"
    data = files["training"].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    files["truncated"] = truncated
    files["damaged"] = tmp_path / "damaged.pth"
    files["damaged"].write_bytes(b"not a checkpoint")
    path = files[make] if isinstance(make, str) else make(tmp_path)
    extra = ["model=vit_b"] if key == "model.checkpoint" else []
    with pytest.raises(UserError, match=message) as info:
        train(compose_cfg(tmp_path / "run", tmp_path / "no_data", *extra, f"{key}={path}"))
    assert "\n" not in str(info.value) and "weights_only" not in str(info.value)


def test_wandb_logger_runs_offline(tmp_path, data_root, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "run"
    train(compose_cfg(out, data_root, *SHORT, "logger=wandb", "export=false", "num_overlays=1"))
    runs = list(out.rglob("offline-run-*"))
    assert runs, sorted(p.name for p in out.rglob("*"))
    assert list(runs[0].rglob("*.wandb")), "no run history written"
    assert list(runs[0].rglob("*.png")), "no validation overlay logged"


def test_float32_matmul_precision_comes_from_config(tmp_path, data_root):
    try:
        train(compose_cfg(tmp_path, data_root, "debug=fdr", "float32_matmul_precision=high"))
        assert torch.get_float32_matmul_precision() == "high"
    finally:
        torch.set_float32_matmul_precision("highest")
