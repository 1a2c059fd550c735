"""What the benchmark runner takes and refuses: checkpoint formats and variants, precision names,
the training's prompt and metric keys; bad checkpoints, data, settings and COCO files named in
one line before the model is read."""

import json

import cv2
import numpy as np
import pytest
import torch

from samhq_train.data import DataError
from samhq_train.evaluation import entry
from samhq_train.evaluation.benchmark import run_benchmark
from samhq_train.evaluation.device import canonical_precision
from samhq_train.evaluation.entry import evaluate
from samhq_train.evaluation.errors import EvaluationError
from samhq_train.evaluation.loading import load_model
from samhq_train.model import CheckpointError, build_sam_hq, save_checkpoint
from tests.evaluation.eval_configs import NUM_VAL, demo_cfg, eval_cfg


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
