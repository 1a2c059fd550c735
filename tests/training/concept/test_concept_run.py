"""Concept fine-tuning end to end through train(cfg) (experiment=concept_demo on a drawn SAM 3
miniature file with its detector): it trains what the policy trains and nothing else, validates
(loss, COCO box AP), writes last / best checkpoints, and exports a file whose detector is the
trained one and loads where text prompts load models."""

import logging
import math

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from samhq_train.concept_settings import TEXT, TRUNK
from samhq_train.data.demo_concepts import DEMO_MERGES_FILE
from samhq_train.inference.concept import ConceptPredictor
from samhq_train.model import inspect, load_checkpoint
from samhq_train.model.formats import holds_trained_hq, inspection
from samhq_train.model.sam3.concept.detector import concept_detector
from samhq_train.train import train
from samhq_train.training.concept import run as concept_run
from tests.training.helpers import CONF

from .concept_run import SHORT, concept_cfg, concept_files  # noqa: F401 (fixture)

DECODER = "detector.transformer.decoder."


@pytest.fixture(scope="module")
def detector_run(tmp_path_factory, concept_files):  # noqa: F811
    out = tmp_path_factory.mktemp("concept_run")
    start = torch.load(concept_files["checkpoint"], weights_only=True)
    # every file whose header was looked at (inspect), and how many looks the model's build ended at
    looks, built = [], []
    look, build = inspection._inspect, concept_run.build_concept_model

    def looking(path, *rest):
        looks.append(path)
        return look(path, *rest)

    def building(cfg):
        loaded = build(cfg)
        built.append(len(looks))
        return loaded

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inspection, "_inspect", looking)
        patch.setattr(concept_run, "build_concept_model", building)
        metrics, objects = train(concept_cfg(out, concept_files, "concept.policy=detector"))
    checkpoint = concept_files["checkpoint"]
    objects["start_file_looks"] = {
        "by the build": [p for p in looks[: built[0]] if p == checkpoint],
        "after the build": [p for p in looks[built[0] :] if p == checkpoint],
    }
    return out, metrics, objects, start


def test_run_trains_validates_and_writes_checkpoints(detector_run):
    out, metrics, objects, _ = detector_run
    assert objects["trainer"].global_step == 2  # two training images, batch 1
    for when in ("before", "after"):
        assert math.isfinite(metrics[when]["core_loss"]) and metrics[when]["core_loss"] > 0
        assert 0.0 <= metrics[when]["box_AP"] <= 1.0
    assert metrics["before"]["core_loss"] != metrics["after"]["core_loss"]
    assert (out / "checkpoints" / "last.ckpt").is_file()
    assert (out / "checkpoints" / "best.ckpt").is_file()


def test_export_holds_the_trained_detector(detector_run):
    out, _, objects, start = detector_run
    path = objects["exports"]["model"]
    assert path == out / "export" / "sam3_hq_demo_concept.pt"
    exported = torch.load(path, weights_only=True)
    trained = objects["module"].model.state_dict()
    detector_keys = [k for k in start if k.startswith("detector.")]
    assert detector_keys and all(k in exported for k in detector_keys)
    assert all(torch.equal(exported[k], trained[k]) for k in detector_keys)
    moved = [k for k in detector_keys if not torch.equal(exported[k], start[k])]
    assert any(k.startswith(DECODER) for k in moved)
    # the module's ConceptDetector runs the model's tensors (not copies)
    module = objects["module"]
    ours = dict(module.detector.named_parameters())
    assert ours["transformer.decoder.bbox_embed.layers.0.weight"] is dict(
        module.model.named_parameters())[DECODER + "bbox_embed.layers.0.weight"]
    # what samhq-video --text / samhq-concept load: the detector of the exported file; the
    # HQ parts, never trained (the start file had none), are left out, so the file reads as
    # plain SAM 3 (load_checkpoint's untrained_hq) and not as trained HQ-SAM 3
    assert not any(k in exported for k in trained if "hf_token" in k or "hf_mlp" in k)
    loaded = load_checkpoint(path)
    assert loaded.untrained_hq is not None
    detector = concept_detector(loaded)
    for name, tensor in detector.state_dict().items():
        assert torch.equal(tensor, trained["detector." + name])


def test_checkpoints_record_the_hq_parts_were_never_trained(detector_run):
    # the start file (Meta's layout) had no HQ parts and no concept policy trains them: the
    # run's checkpoints load as plain SAM 3 (untrained_hq), not as trained HQ-SAM 3
    out = detector_run[0]
    for name in ("last.ckpt", "best.ckpt"):
        info = inspect(out / "checkpoints" / name)
        assert (info.format, info.provenance.trained_hq) == ("lightning_full", False)
        assert not holds_trained_hq(info.format, info.provenance)
        untrained = load_checkpoint(info.path).untrained_hq
        assert untrained is not None and untrained.plain == "SAM 3"


def test_the_export_does_not_read_the_start_file_again(detector_run):
    # whether the start file held HQ parts is the format the build read, not a second inspect
    _, _, objects, _ = detector_run
    looks = objects["start_file_looks"]
    assert looks["by the build"] and looks["after the build"] == []
    assert objects["exports"]["model"].is_file()


def test_frozen_parts_of_the_policy_stay(detector_run):
    _, _, objects, start = detector_run
    trained = objects["module"].model.state_dict()
    frozen = [k for k in start if k.startswith((TRUNK, TEXT))]
    assert frozen and all(torch.equal(trained[k], start[k]) for k in frozen)
    tracker = [k for k in start if k.startswith("tracker.")]
    assert all(torch.equal(trained[k], start[k]) for k in tracker)


def test_demo_config_as_shipped_starts_a_fresh_detector(tmp_path, caplog):
    """experiment=concept_demo unchanged but for sizes: the miniature's random backbone gets a
    fresh detector (said in the log), the demo's merges file comes with its data, and the
    export holds the detector where text prompts find it."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[
            "experiment=concept_demo", f"paths.output_dir={tmp_path / 'run'}",
            f"data.root={tmp_path / 'data'}", *SHORT, "validate_before_training=false",
            "trainer.limit_train_batches=1", "trainer.limit_val_batches=1"])
    with caplog.at_level(logging.INFO, logger="samhq_train.training.concept.run"):
        metrics, objects = train(cfg)
    assert "has no concept detector; a fresh one starts" in caplog.text
    assert objects["trainer"].global_step == 1 and "box_AP" in metrics["after"]
    predictor = ConceptPredictor(load_checkpoint(objects["exports"]["model"]),
                                 tmp_path / "data" / DEMO_MERGES_FILE, threshold=0.0)
    predictor.set_image(np.zeros((64, 64, 3), np.uint8))
    assert len(predictor.predict("ring", refine=False)) > 0


@pytest.mark.parametrize("read_as, trained", [(None, False), ("sam", False), ("sam_hq", True)])
def test_trained_hq_is_the_format_the_build_read(read_as, trained):
    # None: no file (the random miniature); "sam": Meta's sam3.pt, its HQ parts fresh
    assert holds_trained_hq(read_as) is trained
