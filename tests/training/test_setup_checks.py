"""Every check before the work, in every entry point alike (issue 19 item 4): Hydra's own errors
and the run folder before @hydra.main, evaluation's output_dir before the model, every validation
file before validation, a resumed run's settings from its record before anything is built, a
data root that is a file, and advice for an HQ-only ckpt_path that works when followed."""

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

import samhq_train.evaluation.entry as entry
import samhq_train.train as train_module
from samhq_train.cli import export as export_command
from samhq_train.cli import make_demo_data as make_demo_data_command
from samhq_train.cli import train as train_command
from samhq_train.cli.hydra_command import check_command_line
from samhq_train.config_check import (
    ConfigError,
    SetupError,
    check_resume_matches,
    check_validation_sets,
)
from samhq_train.data.datamodule import build_datamodule
from samhq_train.data.image_files import DataError
from samhq_train.evaluation.entry import evaluate
from samhq_train.model import (
    FAMILIES,
    CheckpointError,
    Provenance,
    TrainablePolicy,
    build_sam_hq,
    save_checkpoint,
)
from samhq_train.model_from_config import build_model_from_config
from samhq_train.output_check import OutputError
from samhq_train.run.checks import check_model_checkpoint, check_resume_checkpoint
from samhq_train.train import train
from tests.data.data_helpers import blob, write_pair
from tests.training.helpers import CONF, ROOT, SMALL, TINY, compose_cfg


def not_reached(*args, **kwargs):
    raise AssertionError("heavy work started before the check")


# ---- Hydra's own errors and the run folder, before @hydra.main -------------------------------
@pytest.mark.parametrize(
    ("config", "override", "message"),
    [
        ("train", "model=vit_bb", "In 'train': Could not find 'model/vit_bb'; Available options "
         "in 'model': sam2.1_hq_hiera_b+, "),
        # a key close to one of its node's: named first (Hydra's "+key" would add the typo)
        ("train", "optimizer.lrr=1", "optimizer.lrr: no such key; did you mean optimizer.lr? "
         "(+optimizer.lrr=1 would add it as a new key)"),
        ("eval", "metrics.dilaton_ratio=2", "metrics.dilaton_ratio: no such key; did you mean "
         "metrics.dilation_ratio? (+metrics.dilaton_ratio=2 would add it as a new key)"),
        # none close: Hydra's message
        ("train", "optimizer.zzzz=1", "Could not override 'optimizer.zzzz'. To append to your "
         "config use +optimizer.zzzz=1 (Key 'zzzz' is not in struct)"),
        ("train", "model.policy=[", "the override 'model.policy=[' is not valid Hydra syntax: "
         "no viable alternative at input '['"),
        ("eval", "data=demoo", "In 'eval': Could not find 'data/demoo'; Available options in "
         "'data': coco, coco_concept, concept_demo, demo, folder, hqseg44k"),
    ],
)
def test_hydra_errors_are_one_config_error_line(config, override, message):
    with pytest.raises(ConfigError) as err:
        check_command_line(config, [override], ())
    assert str(err.value).startswith(message), str(err.value)
    assert "\n" not in str(err.value) and "Config search path" not in str(err.value)


def test_a_hydra_error_exits_2_with_one_line_from_train_py(tmp_path):
    result = subprocess.run(
        [sys.executable, "train.py", "model=vit_bb", f"hydra.run.dir={tmp_path}/run"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "config error: In 'train': Could not find 'model/vit_bb'; Available options in 'model'"
    ), result.stderr
    assert not (tmp_path / "run").exists()


def test_make_demo_data_reports_a_hydra_error_in_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        make_demo_data_command.main(["data.demo.num_trainn=3"])
    assert info.value.code == 2 and capsys.readouterr().err.strip().splitlines() == [
        "config error: data.demo.num_trainn: no such key; did you mean data.demo.num_train? "
        "(+data.demo.num_trainn=3 would add it as a new key)"
    ]


def test_an_unwritable_run_dir_is_one_line_before_hydra_logs_there(tmp_path, monkeypatch, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if Path(p) == run_dir else real(p, m))
    # were the folder not checked first, the bad max_epochs would be the error reported
    argv = ["train.py", f"hydra.run.dir={run_dir}", *SMALL, *TINY, "trainer.max_epochs=-2"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as info:
        train_command.main()
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.strip().splitlines() == [
        f"error: hydra.run.dir={run_dir} is not writable: permission denied; give a writable "
        "folder"
    ]
    assert list(run_dir.iterdir()) == []  # no train.log, no .hydra/


def test_a_run_dir_that_is_a_file_is_one_line(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match=f"hydra.run.dir={tmp_path / 'f'} is a file"):
        check_command_line("train", [f"hydra.run.dir={tmp_path / 'f'}"], ("hydra.run.dir",))
    with pytest.raises(OutputError, match=f"paths.output_dir={tmp_path / 'f'} is a file"):
        check_command_line(
            "train", [f"paths.output_dir={tmp_path / 'f'}"], ("hydra.run.dir", "paths.output_dir")
        )


# ---- evaluation: its config, output_dir and run folder ---------------------------------------
def eval_cfg(*overrides):
    data = [] if any(o.startswith("data=") for o in overrides) else ["data=demo"]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("eval", overrides=[*data, *overrides])


def test_evaluate_checks_output_dir_before_the_model(tmp_path, monkeypatch):
    monkeypatch.setattr(entry, "build_model_from_config", not_reached)
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match=f"^output_dir={tmp_path / 'f'} is a file"):
        evaluate(eval_cfg(f"output_dir={tmp_path / 'f'}"))
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, m: False if Path(p) == tmp_path else real(p, m))
    with pytest.raises(OutputError, match=f"^output_dir={tmp_path / 'out'} is not writable"):
        evaluate(eval_cfg(f"output_dir={tmp_path / 'out'}"))
    with pytest.raises(ConfigError, match="^data.prompts.eval_prompt=scribble: expected one of"):
        evaluate(eval_cfg(f"output_dir={tmp_path}", "data.prompts.eval_prompt=scribble"))


def test_evaluation_run_folder_follows_output_dir(tmp_path):
    follows = ("hydra.run.dir", "output_dir")
    added = check_command_line("eval", [f"output_dir={tmp_path}"], follows, "output_dir")
    assert added == [f"hydra.run.dir={tmp_path}"]
    given = [f"output_dir={tmp_path}", f"hydra.run.dir={tmp_path / 'run'}"]
    assert check_command_line("eval", given, follows, "output_dir") == []
    assert check_command_line("eval", [], follows, "output_dir") == []
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match=f"^output_dir={tmp_path / 'f'} is a file"):
        check_command_line("eval", [f"output_dir={tmp_path / 'f'}"], follows, "output_dir")


def test_evaluate_writes_nothing_in_the_current_folder_when_output_dir_is_given(tmp_path):
    """A config error inside the run: Hydra has made its run folder, which is output_dir."""
    (tmp_path / "cwd").mkdir()
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "evaluate.py"), "data=demo",
         f"output_dir={tmp_path / 'out'}", "data.prompts.eval_prompt=scribble"],
        cwd=tmp_path / "cwd", env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].startswith(
        "config error: data.prompts.eval_prompt=scribble"
    )
    assert list((tmp_path / "cwd").iterdir()) == []
    assert (tmp_path / "out" / ".hydra").is_dir()


# ---- the data root and every validation file, before the model --------------------------------
def test_a_data_root_that_is_a_file_says_so(tmp_path):
    (tmp_path / "f").write_text("x")
    for demo in (None, {"num_train": 2, "num_val": 1}):
        datamodule = build_datamodule(
            {"root": str(tmp_path / "f"), "val_sets": [], "demo": demo}, image_size=64
        )
        with pytest.raises(DataError) as err:
            datamodule.setup("fit")
        assert str(err.value) == (
            f"data.root={tmp_path / 'f'} is a file, not a folder: data.root takes the folder "
            "that holds the sets (data/README.md shows the layout)"
        )


def folder_data(root: Path, n_val: int = 6) -> Path:
    for split, count in (("train", 4), ("val", n_val)):
        for i in range(count):
            write_pair(root / split / "images", root / split / "masks", f"{i:02d}", *blob(seed=i))
    return root


def val_datamodule(root: Path, strict: bool = True):
    datamodule = build_datamodule(
        {
            "root": str(root),
            "train_sets": [{"image_dir": "train/images", "mask_dir": "train/masks"}],
            "val_sets": [{"name": "val", "image_dir": "val/images", "mask_dir": "val/masks"}],
            "strict_eval": strict,
        },
        image_size=64,
    )
    datamodule.setup("fit")
    return datamodule


def test_every_validation_file_is_checked_before_validation(tmp_path):
    root = folder_data(tmp_path)
    check_validation_sets(val_datamodule(root))  # a good set passes
    masks, images = root / "val" / "masks", root / "val" / "images"
    write_pair(images, masks, "03", blob()[0], blob(h=20, w=30)[1])  # the middle of the set
    write_pair(images, masks, "04", *blob(seed=4))
    write_pair(images, masks, "05", blob()[0], 0 * blob()[1])  # empty
    with pytest.raises(DataError) as err:
        check_validation_sets(val_datamodule(root))
    assert str(err.value) == (
        f"{masks / '03.png'} is 30x20 but its image 03.jpg is 64x48 (WxH); a mask must have its "
        "image's size (and 1 more in validation set val); or set data.strict_eval=false to skip "
        "bad files"
    )
    write_pair(images, masks, "03", *blob(seed=3))
    with pytest.raises(DataError, match=f"^{masks / '05.png'}: empty mask"):
        check_validation_sets(val_datamodule(root))
    (images / "05.jpg").write_bytes(b"not an image")
    with pytest.raises(DataError, match="05.jpg is not a readable image"):
        check_validation_sets(val_datamodule(root))


def test_a_lenient_set_warns_and_is_refused_only_without_a_usable_sample(tmp_path, caplog):
    root = folder_data(tmp_path, n_val=2)
    masks, images = root / "val" / "masks", root / "val" / "images"
    write_pair(images, masks, "01", blob()[0], 0 * blob()[1])
    with caplog.at_level(logging.WARNING):
        check_validation_sets(val_datamodule(root, strict=False))
    assert "validation set val: 1 of 2 samples are unusable and skipped" in caplog.text
    write_pair(images, masks, "00", blob()[0], 0 * blob()[1])
    with pytest.raises(SetupError, match="validation found no usable sample in val"):
        check_validation_sets(val_datamodule(root, strict=False))


def test_train_finds_a_bad_validation_file_before_the_model(tmp_path, monkeypatch):
    root = folder_data(tmp_path / "data")
    write_pair(root / "val" / "images", root / "val" / "masks", "02", blob()[0], 0 * blob()[1])
    monkeypatch.setattr(train_module, "build_model_from_config", not_reached)
    cfg = compose_cfg(tmp_path / "run", root, "data=folder", "data.num_workers=0", small=False)
    with pytest.raises(DataError, match="02.png: empty mask"):
        train(cfg)


def test_evaluate_finds_a_bad_file_before_evaluating(tmp_path, monkeypatch):
    root = folder_data(tmp_path / "data")
    write_pair(root / "val" / "images", root / "val" / "masks", "02", blob()[0], 0 * blob()[1])
    monkeypatch.setattr(entry, "run_benchmark", not_reached)
    with pytest.raises(DataError, match="02.png: empty mask"):
        evaluate(eval_cfg(f"output_dir={tmp_path / 'out'}", "data=folder", f"data.root={root}"))


# ---- a resumed run's settings, from the checkpoint's record -----------------------------------
@pytest.fixture
def lora_ckpt(tmp_path) -> Path:
    """A training checkpoint's record (no weights needed): vit_demo, seed 0, hq+lora rank 8."""
    policy = TrainablePolicy.from_config("hq+lora", lora={"rank": 8})
    record = Provenance(variant="vit_demo", seed=0, policy=policy.name,
                        policy_settings=policy.to_dict())
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": {}, "loops": {}, "samhq": record.to_dict()}, path)
    return path


@pytest.mark.parametrize(
    ("overrides", "was", "now"),
    [
        (["model.policy=hq+lora", "model.lora.rank=4"], "model.lora.rank=8", "model.lora.rank=4"),
        (["model.policy=hq+decoder"], "model.policy=hq+lora", "model.policy=hq+decoder"),
        (["model.policy=hq+lora", "model.lora.targets=attn+mlp", "model.lora.alpha=8"],
         "model.lora.alpha=16.0, model.lora.targets=attn",
         "model.lora.alpha=8, model.lora.targets=attn+mlp"),
        (["model=sam2.1_hq_hiera_demo", "model.policy=hq+lora"], "model.variant=vit_demo",
         "model.variant=sam2.1_hq_hiera_demo"),
        (["model.policy=hq+lora", "model.seed=3"], "model.seed=0", "model.seed=3"),
    ],
)
def test_resume_with_other_settings_names_both_values(tmp_path, lora_ckpt, overrides, was, now):
    cfg = compose_cfg(tmp_path, tmp_path, *overrides)
    with pytest.raises(ConfigError) as err:
        check_resume_matches(check_resume_checkpoint(lora_ckpt), cfg.model)
    fix = " ".join(was.split(", "))
    assert str(err.value) == (
        f"ckpt_path={lora_ckpt} was trained with {was} but this run sets {now}: resume with "
        f"{fix}, or start a new run without ckpt_path"
    )


def test_resume_with_the_same_settings_passes_and_a_mismatch_stops_train_first(
    tmp_path, lora_ckpt, monkeypatch
):
    same = compose_cfg(tmp_path, tmp_path, "model.policy=hq+lora").model
    check_resume_matches(check_resume_checkpoint(lora_ckpt), same)
    monkeypatch.setattr(train_module, "build_data", not_reached)
    cfg = compose_cfg(tmp_path / "run", tmp_path / "no_data", "model.policy=hq+lora",
                      "model.lora.rank=4", f"ckpt_path={lora_ckpt}")
    with pytest.raises(ConfigError, match="was trained with model.lora.rank=8"):
        train(cfg)


# ---- an HQ-only file given as ckpt_path: advice that works -----------------------------------
def test_hq_only_ckpt_path_advice_merges_into_weights_training_starts_from(tmp_path):
    trained = build_sam_hq("vit_demo", seed=0)
    is_hq = FAMILIES["sam1"].is_hq_key
    with torch.no_grad():
        for name, p in trained.named_parameters():
            if is_hq(name):
                p.normal_()
    base = tmp_path / "sam_base.pth"
    torch.save({k: v for k, v in trained.state_dict().items() if not is_hq(k)}, base)
    hq = save_checkpoint(trained, tmp_path / "run_hq.safetensors", "hq_only")
    with pytest.raises(CheckpointError) as err:
        check_resume_checkpoint(hq)
    command = (
        f"samhq-export --checkpoint {hq} --base <that base file> --to sam_hq --out {tmp_path} "
        "--name run_hq_merged"
    )
    merged = tmp_path / "run_hq_merged.pth"
    assert f"({command}) and pass model.checkpoint={merged};" in str(err.value)
    argv = command.replace("<that base file>", str(base)).split()[1:]
    export_command.main(argv)  # the advised command, with the base filled in
    check_model_checkpoint(merged)  # training may start from it
    cfg = OmegaConf.create({"variant": "vit_demo", "checkpoint": str(merged)})
    model = build_model_from_config(cfg).model
    for name, value in trained.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name
