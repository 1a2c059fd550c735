"""The benchmark runner (scripts/evaluate.py, conf/eval.yaml) and the COCO runner: outputs on the
demo data, agreement with the training module's validation, bad input."""

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

from samhq_train.config_defaults import CONFIG_DIR
from samhq_train.data import DataError
from samhq_train.evaluation import entry
from samhq_train.evaluation.benchmark import run_benchmark
from samhq_train.evaluation.coco import encode_mask
from samhq_train.evaluation.coco_runner import evaluate_coco_model
from samhq_train.evaluation.device import canonical_precision
from samhq_train.evaluation.entry import evaluate
from samhq_train.evaluation.errors import EvaluationError
from samhq_train.evaluation.loading import load_model
from samhq_train.model import (
    CheckpointError,
    Provenance,
    build_sam_hq,
    hq_state_dict,
    save_checkpoint,
)
from tests.script_modules import load_script

ROOT = Path(__file__).resolve().parents[2]
CONF = CONFIG_DIR  # importing it registers the records' defaults the configs name
NUM_VAL = 2
# small demo data shared by every test here (the demo marker records these parameters)
DEMO = ["data=demo", "data.demo.num_train=2", f"data.demo.num_val={NUM_VAL}",
        "data.demo.height=96", "data.demo.width=128", "data.num_workers=0",
        "data.val_batch_size=2"]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("demo")


def eval_cfg(out, *overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("eval", overrides=[f"output_dir={out}", "progress=false", *overrides])


def demo_cfg(out, data_root, *overrides):
    return eval_cfg(out, *DEMO, f"data.root={data_root}", *overrides)


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


@pytest.mark.parametrize("kind", ["training_ckpt", "official_pth_with_base"])
def test_the_cache_gets_the_checkpoints_record_from_the_one_read(tmp_path, data_root, monkeypatch, kind):
    """With the embedding cache on, the checkpoint file is read once (loading the model), and
    the cache key gets the record that file holds."""
    from samhq_train.evaluation import entry

    model = build_sam_hq("vit_demo", seed=0)
    if kind == "training_ckpt":  # a random base: the record's seed identifies the encoder
        path, record, extra = tmp_path / "last.ckpt", Provenance(variant="vit_demo", seed=0), []
        torch.save({"state_dict": {f"model.{k}": v for k, v in hq_state_dict(model).items()},
                    "samhq": record.to_dict()}, path)
    else:  # a whole model; the format decides that base_checkpoint= is not used
        path, record = save_checkpoint(model, tmp_path / "m.pth", "sam_hq"), Provenance(variant="vit_demo")
        extra = [f"base_checkpoint={save_checkpoint(model, tmp_path / 'base.pth', 'sam_hq')}"]
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


# ---- bad input ---------------------------------------------------------------------------------

def test_size_mismatch_error_names_the_file(tmp_path, data_root):
    state = build_sam_hq("vit_demo", seed=0).state_dict()
    key = "mask_decoder.hf_token.weight"
    state[key] = torch.zeros(2, state[key].shape[1] + 1)
    path = tmp_path / "wrong_shape.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as err:
        evaluate(demo_cfg(tmp_path / "out", data_root, f"model.checkpoint={path}"))
    assert str(path) in str(err.value) and "wrong shape" in str(err.value) and key in str(err.value)


def test_load_model_reads_every_format(tmp_path, tiny_model):
    files = {fmt: save_checkpoint(tiny_model, tmp_path / name, fmt) for fmt, name in
             [("sam_hq", "m.pth"), ("transformers", "transformers"), ("safetensors", "m.safetensors"),
              ("hq_only", "hq.safetensors")]}
    expected = tiny_model.state_dict()
    for fmt, path in files.items():
        base = files["safetensors"] if fmt == "hq_only" else None
        loaded = load_model(str(path), base_checkpoint=base).state_dict()
        assert all(torch.equal(loaded[k], v) for k, v in expected.items()), fmt
    with pytest.raises(CheckpointError, match="base_checkpoint"):
        load_model(str(files["hq_only"]))


def test_missing_checkpoint_and_missing_weights(tmp_path, data_root):
    missing = tmp_path / "nope.pth"
    with pytest.raises(CheckpointError, match=f"^model.checkpoint={missing} not found: model.ch"):
        evaluate(demo_cfg(tmp_path, data_root, f"model.checkpoint={missing}"))
    # a problem with the base is not worded as model.checkpoint's
    hq_only = save_checkpoint(build_sam_hq("vit_demo", seed=0), tmp_path / "hq.safetensors",
                              "hq_only")
    with pytest.raises(CheckpointError, match=f"^checkpoint not found: {missing}"):
        evaluate(demo_cfg(tmp_path, data_root, f"model.checkpoint={hq_only}",
                          f"+base_checkpoint={missing}"))
    with pytest.raises(CheckpointError, match="no weights to evaluate"):
        evaluate(demo_cfg(tmp_path, data_root, "model=vit_b"))
    with pytest.raises(EvaluationError, match=r"\['nope'\] are not configured.*demo-val"):
        evaluate(demo_cfg(tmp_path, data_root, "sets=[nope]"))


def test_nothing_to_evaluate_and_coco_without_its_files_are_refused_before_the_model(
    tmp_path, data_root, monkeypatch
):
    def no_model(*args, **kwargs):
        raise AssertionError("the model was read before the settings were checked")

    monkeypatch.setattr(entry, "build_model_from_config", no_model)
    with pytest.raises(EvaluationError, match="nothing to evaluate"):
        evaluate(demo_cfg(tmp_path, data_root, "benchmark=false"))
    detections = f"coco.detections={tmp_path / 'det.json'}"
    with pytest.raises(EvaluationError, match="coco.annotation_file is not"):
        evaluate(demo_cfg(tmp_path, data_root, detections))


def test_coco_files_are_read_and_checked_before_the_model(tmp_path, data_root, monkeypatch):
    """A missing or broken GT / detections json is one line naming it, before the model is read
    and the benchmark runs (not a traceback after them)."""

    def no_model(*args, **kwargs):
        raise AssertionError("the model was read before the COCO files were checked")

    monkeypatch.setattr(entry, "build_model_from_config", no_model)
    gt, dets = tmp_path / "gt.json", tmp_path / "dets.json"
    coco = [f"coco.detections={dets}", f"coco.annotation_file={gt}", f"coco.image_dir={tmp_path}"]

    def refused() -> str:
        with pytest.raises(EvaluationError) as info:
            evaluate(demo_cfg(tmp_path, data_root, *coco))
        return str(info.value)

    assert refused() == (
        f"cannot read the COCO GT json {gt}: No such file or directory; give the annotation "
        "file (e.g. annotations/instances_val2017.json)"
    )
    gt.write_text("{not json")
    assert refused().startswith(f"cannot read the COCO GT json {gt}: Expecting property name")
    gt.write_text(json.dumps({"images": [{"id": 1, "file_name": "1.png", "height": 8,
                                          "width": 8}], "annotations": [],
                              "categories": [{"id": 1, "name": "x"}]}))
    assert refused().startswith(f"cannot read the detections json {dets}: No such file")
    dets.write_text("[]")
    assert refused() == f"{dets}: no detections, nothing to prompt the model with"
    dets.write_text(json.dumps([{"image_id": 7, "category_id": 1, "bbox": [1, 1, 2, 2],
                                 "score": 0.5}]))
    assert refused().startswith(f"{dets}: 1 image id(s) are not in the GT json, e.g. [7]")
    dets.write_text(json.dumps([{"image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2]}]))
    assert refused() == f"{dets}: detection 0 lacks ['score']"


def write_pair(folder, stem, image, mask):
    (folder / "im").mkdir(parents=True, exist_ok=True)
    (folder / "gt").mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / "im" / f"{stem}.png"), image)
    cv2.imwrite(str(folder / "gt" / f"{stem}.png"), mask)


def folder_cfg(out, root, *overrides):
    return eval_cfg(out, "data=folder", f"data.root={root}", "data.num_workers=0",
                    "data.val_sets=[{name: bad, image_dir: im, mask_dir: gt}]", "n_worst=0",
                    *overrides)


def test_mask_of_another_size_and_empty_mask_name_the_file(tmp_path):
    image = np.full((40, 50, 3), 100, np.uint8)
    mask = np.zeros((40, 50), np.uint8)
    mask[10:30, 10:40] = 255
    write_pair(tmp_path / "a", "small", image, mask[:-2])
    with pytest.raises(DataError, match=r"small\.png.*a mask must have its image's size"):
        evaluate(folder_cfg(tmp_path / "out", tmp_path / "a"))
    write_pair(tmp_path / "b", "blank", image, np.zeros_like(mask))
    with pytest.raises(DataError, match=r"blank\.png: empty mask"):
        evaluate(folder_cfg(tmp_path / "out", tmp_path / "b"))
    # lenient evaluation skips it; a set left without images is an error, not a zero
    with pytest.raises(EvaluationError, match="no image could be evaluated"):
        evaluate(folder_cfg(tmp_path / "out", tmp_path / "b", "data.strict_eval=false"))


def synthetic_batch(model, size=(30, 40)):
    s = model.image_size
    gt = torch.zeros(size, dtype=torch.uint8)
    gt[5:25, 8:30] = 255
    return {
        "image": torch.rand(1, 3, s, s) * 255,
        "boxes": torch.tensor([[8.0, 5.0, 29.0, 24.0]]) * s / torch.tensor([40, 30, 40, 30]),
        "points": torch.full((1, 10, 2), s / 2), "point_labels": torch.ones(1, 10),
        "mask_input": torch.zeros(1, 1, s // 4, s // 4), "prompt_type": ["box"],
        "gt_original": [gt], "original_size": [size], "input_size": [(s, s)],
        "name": ["synthetic"], "dataset": ["set"],
    }


def test_prediction_and_gt_of_different_sizes_name_the_image(tiny_model):
    batch = synthetic_batch(tiny_model)
    batch["original_size"] = [(31, 40)]
    with pytest.raises(EvaluationError, match=r"set/synthetic: prediction of size \(31, 40\)"):
        run_benchmark(tiny_model, [("set", [batch])], sam_baseline=False, progress=False)
    with pytest.raises(EvaluationError, match="precision must be one of"):
        run_benchmark(tiny_model, [("set", [])], precision="64", progress=False)


def test_precision_takes_the_trainers_names_and_the_old_ones():
    assert [canonical_precision(p) for p in (32, "32", "bf16-mixed", "bf16", "16-mixed", "16")] == [
        "32", "32", "bf16-mixed", "bf16-mixed", "16-mixed", "16-mixed"]


def test_point_prompts_from_the_batch_in_bf16(tiny_model):
    batch = {**synthetic_batch(tiny_model), "prompt_type": ["point"]}
    result = run_benchmark(tiny_model, [("set", [batch])], precision="bf16-mixed", n_worst=1,
                           progress=False)
    assert result["results"]["hq"]["set"]["count"] == result["results"]["sam"]["set"]["count"] == 1
    assert result["prompts"] == {"set": "point"}
    worst = result["worst"]["set"][0]
    assert set(worst["masks"]) == {"sam", "hq"} and worst["masks"]["hq"].shape == (30, 40)


def test_eval_prompt_and_dilation_ratio_are_the_training_keys(tmp_path, data_root):
    out = tmp_path / "out"
    result = evaluate(demo_cfg(out, data_root, "data.prompts.eval_prompt=point",
                               "metrics.dilation_ratio=0.05", "n_worst=0", "sam_baseline=false"))
    assert result["benchmark"]["prompts"] == {"demo-val": "point"}
    scores = json.loads((out / "scores.json").read_text())
    assert scores["settings"]["prompt"] == "point" and scores["settings"]["dilation_ratio"] == 0.05
    assert f"{NUM_VAL} images, prompt: point" in (out / "results.md").read_text()


def test_a_checkpoint_of_another_variant_is_one_line(tmp_path, data_root, tiny_model):
    path = save_checkpoint(tiny_model, tmp_path / "demo.pth", "sam_hq")
    with pytest.raises(CheckpointError) as err:
        evaluate(demo_cfg(tmp_path / "out", data_root, f"model.checkpoint={path}",
                          "model.variant=vit_tiny"))
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    # model.variant=null: the variant is read from the file
    result = evaluate(demo_cfg(tmp_path / "out", data_root, f"model.checkpoint={path}",
                               "model.variant=null", "n_worst=0"))
    assert result["model"].image_size == tiny_model.image_size


# ---- COCO -------------------------------------------------------------------------------------

# two 96 x 128 (H x W) images; GT rectangles on even pixels, so that with the tiny model
# (S = 256, long side x2) every box edge lies on a cell edge of the S/4 logits
RECTS = {1: [(8, 10, 40, 30), (60, 50, 50, 40)], 2: [(20, 16, 70, 60)]}  # x, y, w, h


def write_coco(root):
    (root / "images").mkdir(parents=True)
    images, anns = [], []
    for image_id, rects in RECTS.items():
        image = np.random.default_rng(image_id).integers(0, 255, (96, 128, 3), dtype=np.uint8)
        cv2.imwrite(str(root / "images" / f"{image_id}.png"), image)
        images.append({"id": image_id, "file_name": f"{image_id}.png", "height": 96, "width": 128})
        for x, y, w, h in rects:
            mask = np.zeros((96, 128), bool)
            mask[y : y + h, x : x + w] = True
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": 1,
                         "segmentation": encode_mask(mask), "area": w * h, "bbox": [x, y, w, h],
                         "iscrowd": 0})
    gt = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "box"}]}
    (root / "gt.json").write_text(json.dumps(gt))
    return gt


def box_decoder(model):
    """A decode that returns each box as a mask (+10 inside its S/4 cells, -10 outside)."""
    n = model.mask_input_size

    def decode(features, *, boxes, multimask_output, hq_token_only, use_hq):
        cells = torch.arange(n, dtype=torch.float32) * 4
        x0, y0, x1, y1 = (boxes[..., k, None] for k in range(4))
        inside_x = (cells >= x0 - 1e-3) & (cells + 4 <= x1 + 1e-3)  # B x P x n
        inside_y = (cells >= y0 - 1e-3) & (cells + 4 <= y1 + 1e-3)
        inside = inside_y[..., :, None] & inside_x[..., None, :]
        logits = torch.where(inside, 10.0, -10.0)[:, :, None]
        return logits, torch.ones(logits.shape[:3])

    return decode


def test_coco_box_masks_give_known_ap(tmp_path, tiny_model):
    gt = write_coco(tmp_path)
    dets = [{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 0.9}
            for a in gt["annotations"]]
    tiny_model.decode = box_decoder(tiny_model)
    embedding = (torch.zeros(1, 1, 1, 1), torch.zeros(1, 1, 1, 1))  # unused by box_decoder
    tiny_model.encode = lambda images, content_sizes=None: embedding
    kwargs = {"annotation_file": tmp_path / "gt.json", "image_dir": tmp_path / "images",
              "progress": False}
    full = evaluate_coco_model(tiny_model, detections=dets, out_dir=tmp_path / "out", **kwargs)
    for model in ("sam", "hq"):  # every mask equals its GT: AP 1
        assert full["metrics"][model]["mask_AP"] == pytest.approx(1.0)
        assert full["metrics"][model]["boundary_AP"] == pytest.approx(1.0)
    written = json.loads((tmp_path / "out" / "coco_results_hq.json").read_text())
    assert len(written) == 3 and all(r["segmentation"]["size"] == [96, 128] for r in written)
    assert "| SAM-HQ | 100.0 | 100.0 |" in (tmp_path / "out" / "coco.md").read_text()
    # one of the two objects of category 1 in image 1 missed, a false box scored lower:
    # precision 1 up to recall 2/3, so AP = 67 of COCO's 101 recall points
    half = [dets[0], dets[2], {**dets[0], "bbox": [100, 4, 20, 20], "score": 0.1}]
    part = evaluate_coco_model(tiny_model, detections=half, **kwargs)
    assert part["metrics"]["hq"]["mask_AP"] == pytest.approx(67 / 101)
    assert part["metrics"]["hq"]["boundary_AP"] == pytest.approx(67 / 101)


def test_coco_images_are_encoded_as_the_official_predictor_encodes_them(tmp_path, tiny_model):
    """Long side to S, then zero padding after normalising (not the mean in uint8 before)."""
    from samhq_train.imaging import read_image
    from samhq_train.inference import SamHQPredictor

    gt = write_coco(tmp_path)
    dets = [{"image_id": 1, "category_id": 1, "bbox": gt["annotations"][0]["bbox"], "score": 0.9}]
    seen = []
    encode = tiny_model.encode
    tiny_model.encode = lambda images, sizes=None: seen.append(encode(images, sizes)) or seen[-1]
    evaluate_coco_model(tiny_model, detections=dets, annotation_file=tmp_path / "gt.json",
                        image_dir=tmp_path / "images", progress=False)
    predictor = SamHQPredictor(tiny_model)
    predictor.set_image(read_image(tmp_path / "images" / "1.png"))
    torch.testing.assert_close(seen[0].embedding, predictor.features.embedding, atol=1e-6, rtol=0)
    torch.testing.assert_close(seen[0].early, predictor.features.early, atol=1e-6, rtol=0)


def test_coco_from_config_with_the_tiny_model(tmp_path):
    gt = write_coco(tmp_path)
    dets = [{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 0.5}
            for a in gt["annotations"]]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    coco = [f"coco.detections={tmp_path / 'dets.json'}", f"coco.image_dir={tmp_path / 'images'}",
            f"coco.annotation_file={tmp_path / 'gt.json'}", "coco.num_workers=0", "benchmark=false",
            "sam_baseline=false"]
    result = evaluate(eval_cfg(tmp_path / "out", *coco))
    metrics = result["coco"]["metrics"]
    assert set(metrics) == {"hq"} and 0.0 <= metrics["hq"]["mask_AP"] <= 1.0
    assert (tmp_path / "out" / "coco.md").is_file()
    # detections of an image the GT json does not have
    (tmp_path / "dets.json").write_text(json.dumps([{**dets[0], "image_id": 7}]))
    with pytest.raises(EvaluationError, match=r"not in the GT json, e\.g\. \[7\]"):
        evaluate(eval_cfg(tmp_path / "out", *coco))
    # an image file that is not there is named
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    (tmp_path / "images" / "1.png").unlink()
    with pytest.raises(EvaluationError, match=r"1\.png"):
        evaluate(eval_cfg(tmp_path / "out", *coco))


def test_coco_transform_auto_follows_the_family_input_rule():
    from samhq_train.evaluation.entry import coco_transform
    from samhq_train.model import build_sam_hq

    sam1 = build_sam_hq("vit_demo", seed=0)
    sam2 = build_sam_hq("sam2.1_hq_hiera_demo", seed=0)
    assert coco_transform("auto", sam1) == "longest_side"
    assert coco_transform("auto", sam2) == "resize"
    assert coco_transform("resize", sam1) == "resize"


@pytest.mark.parametrize("transform", ["resize", "longest_side"])
def test_coco_boxes_are_scaled_per_axis_into_the_model_frame(tmp_path, transform):
    """A 128 x 96 image squashed to S x S ("resize") scales x and y apart; the best
    max_detections boxes of an image are kept."""
    from samhq_train.evaluation.coco import load_coco, load_detections
    from samhq_train.evaluation.coco_runner import CocoPromptImages

    gt = write_coco(tmp_path)
    boxes = [[10, 20, 30, 40], [50, 5, 20, 60], [0, 0, 128, 96]]
    dets = [
        {"image_id": 1, "category_id": 1, "bbox": box, "score": score}
        for box, score in zip(boxes, (0.5, 0.9, 0.1))
    ]
    coco = load_coco(gt)
    images = CocoPromptImages(coco, tmp_path / "images", load_detections(dets, coco), 64,
                              transform=transform, max_detections=2)
    item = images[0]
    sx, sy = (64 / 128, 64 / 96) if transform == "resize" else (64 / 128, 64 / 128)
    expected = [[x * sx, y * sy, (x + w) * sx, (y + h) * sy] for x, y, w, h in boxes[1::-1]]
    torch.testing.assert_close(item["boxes"], torch.tensor(expected), atol=1e-4, rtol=0)
    assert [d["score"] for d in item["detections"]] == [0.9, 0.5]
