"""The benchmark runner (scripts/evaluate.py, conf/eval.yaml) on the demo data: the script's table,
json and overlays, and the runner's figures equal the training module's validation (also from
the run's embedding cache)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from samhq_train.evaluation.checks import REPORT_FILES, check_inputs
from samhq_train.evaluation.coco_runner import write_coco_outputs
from samhq_train.evaluation.entry import evaluate
from samhq_train.model import Provenance, build_sam_hq, hq_state_dict, save_checkpoint
from samhq_train.output_check import OutputError
from tests.evaluation.eval_configs import CONF, DEMO, NUM_VAL, demo_cfg
from tests.script_modules import load_script

ROOT = Path(__file__).resolve().parents[2]


def run_script(*args, cwd=ROOT):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "evaluate.py"), *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=180)


# ---- the script on the demo data -------------------------------------------------------------

@pytest.fixture(scope="module")
def script_run(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("script")
    done = run_script(*DEMO, f"data.root={data_root}", f"hydra.run.dir={out}", "n_worst=1",
                      "progress=false")
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done


def test_script_writes_table_json_and_overlays(script_run):
    out, done = script_run
    table = (out / "results.md").read_text()
    assert "### demo-val" in table and "| SAM | " in table and "| SAM-HQ | " in table
    assert "| SAM-HQ |" in done.stdout  # the table is printed too
    scores = json.loads((out / "scores.json").read_text())
    assert len(scores["images"]) == NUM_VAL
    assert scores["settings"]["prompt"] == "box" and scores["settings"]["hq_token_only"] is True
    pngs = sorted((out / "overlays" / "demo-val").glob("*.png"))
    assert len(pngs) == 1
    picture = cv2.imread(str(pngs[0]))
    assert picture is not None and picture.shape[1] > 2 * 128  # SAM and SAM-HQ side by side


def test_an_output_dir_with_an_earlier_evaluation_is_refused(script_run, data_root):
    """A second evaluation into the first one's output_dir is refused in the check stage (it
    replaced results.md and scores.json in silence); every report the first wrote at the top of
    the folder is one the check knows."""
    out, _ = script_run
    written = {p.name for p in out.iterdir() if p.suffix in (".md", ".json")}
    assert written and written <= set(REPORT_FILES)
    before = (out / "results.md").read_text()
    with pytest.raises(OutputError, match="holds an earlier evaluation's results.md, scores"):
        check_inputs(demo_cfg(out, data_root))
    assert (out / "results.md").read_text() == before


@pytest.mark.parametrize("task", ["coco", "lvis", "saco"])
def test_the_coco_reports_are_ones_the_earlier_reports_check_knows(tmp_path, task):
    """The table and metrics a COCO / LVIS / SA-Co evaluation writes are in REPORT_FILES (a
    renamed report would leave check_no_earlier_reports blind to it)."""
    paths = write_coco_outputs(tmp_path, {}, {"hq": {}}, "table", name=task)
    assert {p.name for p in paths.values()} <= set(REPORT_FILES)


def test_table_json_and_worst_images_agree(script_run):
    out, _ = script_run
    scores = json.loads((out / "scores.json").read_text())
    for model in ("sam", "hq"):
        per_set = scores["results"][model]["sets"]["demo-val"]
        ious = [im[model]["iou"] for im in scores["images"]]
        bious = [im[model]["biou"] for im in scores["images"]]
        assert per_set["count"] == NUM_VAL
        assert per_set["mIoU"] == pytest.approx(np.mean(ious), abs=1e-6)
        assert per_set["mBIoU"] == pytest.approx(np.mean(bious), abs=1e-6)
        label = "SAM-HQ" if model == "hq" else "SAM"
        row = f"| {label} | {100 * per_set['mIoU']:.2f} | {100 * per_set['mBIoU']:.2f} | {NUM_VAL} |"
        assert row in (out / "results.md").read_text()
    by_iou = sorted(scores["images"], key=lambda im: im["hq"]["iou"])
    pngs = sorted(p.name for p in (out / "overlays" / "demo-val").glob("*.png"))
    assert pngs == [f"00_{by_iou[0]['name']}.png"]


def test_script_reports_a_checkpoint_that_does_not_load(tmp_path, data_root, monkeypatch, capsys):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"not a checkpoint")
    script = load_script("evaluate")
    monkeypatch.setattr(sys, "argv", ["evaluate.py", *DEMO, f"data.root={data_root}",
                                      f"hydra.run.dir={tmp_path / 'out'}", f"model.checkpoint={bad}"])
    with pytest.raises(SystemExit) as exit_info:
        script.main()
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    assert stderr.startswith(
        f"error: model.checkpoint={bad} cannot be read as a PyTorch checkpoint: it is not a "
    )
    assert stderr.count("\n") == 1


# ---- runner == validation of the training module ---------------------------------------------

def one_step_training_cfg(out, data_root, *overrides):
    """train.yaml for one training step of the tiny model on the shared demo data."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=[
            f"paths.output_dir={out}", f"data.root={data_root}", *DEMO[1:],
            "data.batch_size=2", "loss.num_points=256", "++trainer.max_epochs=1",
            "++trainer.limit_train_batches=1", "++trainer.accelerator=cpu",
            "++trainer.enable_progress_bar=false", "++trainer.enable_model_summary=false",
            "validate_before_training=false", "export=false", "logger=csv", "model=vit_demo",
            *overrides,
        ])


def test_runner_equals_training_validation(tmp_path, data_root):
    from samhq_train.train import train

    metrics, objects = train(one_step_training_cfg(tmp_path / "train", data_root, "data.cache.enabled=false"))
    validation = metrics["after"]["demo-val"]
    ckpt = tmp_path / "train" / "checkpoints" / "last.ckpt"
    result = evaluate(demo_cfg(tmp_path / "eval", data_root, f"model.checkpoint={ckpt}", "n_worst=0"))
    for kind, during_training in (("hq", validation), ("sam", metrics["sam"]["demo-val"])):
        runner = result["benchmark"]["results"][kind]["demo-val"]
        assert runner["count"] == during_training["count"] == NUM_VAL
        assert runner["mIoU"] == pytest.approx(during_training["mIoU"], abs=1e-7)
        assert runner["mBIoU"] == pytest.approx(during_training["mBIoU"], abs=1e-7)
    trained, loaded = objects["model"].state_dict(), result["model"].state_dict()
    assert set(trained) == set(loaded) and all(torch.equal(trained[k], loaded[k]) for k in trained)


def test_runner_from_the_embedding_cache_reuses_the_runs_entries(tmp_path, data_root, monkeypatch):
    from samhq_train.model.sam1.model import SamHQ
    from samhq_train.train import train

    cache = [f"data.cache.dir={tmp_path / 'cache'}"]
    train(one_step_training_cfg(tmp_path / "train", data_root, "data.cache.enabled=true", *cache))
    entries = sorted((tmp_path / "cache").rglob("*.safetensors"))
    ckpt = tmp_path / "train" / "checkpoints" / "last.ckpt"
    runs = {}
    for enabled in (True, False):
        with monkeypatch.context() as patch:
            if enabled:  # every feature comes from the run's entries: the encoder never runs
                patch.setattr(SamHQ, "encode", lambda *a, **k: pytest.fail("the encoder ran"))
            runs[enabled] = evaluate(demo_cfg(tmp_path / f"eval{enabled}", data_root, f"model.checkpoint={ckpt}",
                                              "n_worst=1", f"data.cache.enabled={enabled}", *cache))["benchmark"]
    assert sorted((tmp_path / "cache").rglob("*.safetensors")) == entries  # the run's entries served it
    for kind in ("hq", "sam"):
        cached, uncached = runs[True]["results"][kind]["demo-val"], runs[False]["results"][kind]["demo-val"]
        assert cached["count"] == uncached["count"] == NUM_VAL
        assert cached["mIoU"] == pytest.approx(uncached["mIoU"], abs=1e-7)
        assert cached["mBIoU"] == pytest.approx(uncached["mBIoU"], abs=1e-7)


@pytest.mark.parametrize("kind", ["training_ckpt", "official_pth"])
def test_the_cache_gets_the_checkpoints_record_from_the_one_read(tmp_path, data_root, monkeypatch, kind):
    """With the embedding cache on, the checkpoint file is read once (loading the model), and
    the cache key gets the record that file holds."""
    from samhq_train.evaluation import entry

    model = build_sam_hq("vit_demo", seed=0)
    if kind == "training_ckpt":  # a random base: the record's seed identifies the encoder
        path, record, extra = tmp_path / "last.ckpt", Provenance(variant="vit_demo", seed=0), []
        torch.save({"state_dict": {f"model.{k}": v for k, v in hq_state_dict(model).items()},
                    "samhq": record.to_dict()}, path)
    else:  # a whole model
        path, record = save_checkpoint(model, tmp_path / "m.pth", "sam_hq"), Provenance(variant="vit_demo")
        extra = []
    reads, keyed = [], []
    real_load, real_cache = torch.load, entry.cache_from_config

    def counting_load(f, *args, **kwargs):
        if isinstance(f, (str, os.PathLike)) and Path(f).resolve() == path.resolve():
            reads.append(f)
        return real_load(f, *args, **kwargs)

    def recording_cache(cfg, model, provenance, **kwargs):
        keyed.append(provenance)
        return real_cache(cfg, model, provenance, **kwargs)

    monkeypatch.setattr(torch, "load", counting_load)
    monkeypatch.setattr(entry, "cache_from_config", recording_cache)
    evaluate(demo_cfg(tmp_path / "eval", data_root, f"model.checkpoint={path}", *extra, "n_worst=0",
                      "data.cache.enabled=true", f"data.cache.dir={tmp_path / 'cache'}"))
    assert len(reads) == 1, reads
    assert keyed == [record]
