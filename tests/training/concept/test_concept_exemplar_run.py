"""A concept fine-tune with exemplar-box prompts (data.exemplar_probability=1.0) end to end through
train(cfg) on the drawn SAM 3 miniature: every training query with instances is asked with a box
(phrase "visual"), validation (data.val_exemplars=true) asks its text queries and then those with
instances with a box, logging both figures, the loss is finite and the geometry encoder's box
projections, which text-only queries never reach, train."""

import math

import pytest
import torch

from samhq_train.errors import UserError
from samhq_train.model.sam3.concept.detector import ConceptDetector
from samhq_train.train import train
from samhq_train.training.concept.module import ConceptTrainModule

from .concept_run import concept_cfg, concept_files  # noqa: F401 (fixture)

BOX_PROJECTIONS = ("detector.geometry_encoder.boxes_direct_project.weight",
                   "detector.geometry_encoder.boxes_pos_enc_project.weight")


def test_exemplar_run_trains_the_box_path_and_validates_both_prompts(
        tmp_path, concept_files, monkeypatch):  # noqa: F811
    seen = []  # per forward: (train mode?, phrases, the boxes the detector got per query)
    outputs, forward_train = ConceptTrainModule.outputs, ConceptDetector.forward_train

    def record_outputs(module, batch, *args, **kwargs):
        seen.append([module.model.training, batch.phrases, None])
        return outputs(module, batch, *args, **kwargs)

    def record_forward(detector, maps, image_index, token_ids, exemplars=None, **options):
        seen[-1][2] = (~exemplars.box_padding).sum(1).tolist()
        return forward_train(detector, maps, image_index, token_ids, exemplars, **options)

    monkeypatch.setattr(ConceptTrainModule, "outputs", record_outputs)
    monkeypatch.setattr(ConceptDetector, "forward_train", record_forward)
    start = torch.load(concept_files["checkpoint"], weights_only=True)
    metrics, objects = train(concept_cfg(tmp_path, concept_files, "concept.policy=detector",
                                         "data.exemplar_probability=1.0",
                                         "data.val_exemplars=true",
                                         "validate_before_training=false"))
    assert objects["trainer"].global_step == 2
    assert math.isfinite(metrics["after"]["core_loss"]) and "box_AP" in metrics["after"]
    train_steps = [s for s in seen if s[0]]
    val_steps = [s for s in seen if not s[0]]
    assert len(train_steps) == 2 and val_steps
    for _, phrases, boxes in train_steps:
        assert sum(boxes) > 0 and all((p == "visual") == bool(n) for p, n in zip(phrases, boxes))
    # each validation batch: its text queries, then those with instances (if any) with a box
    asked = [sum(boxes) > 0 for _, _, boxes in val_steps]
    assert any(asked) and not asked[0] and not any(a and b for a, b in zip(asked, asked[1:]))
    for (_, phrases, boxes), with_box in zip(val_steps, asked):
        assert boxes == ([1] * len(phrases) if with_box else [0] * len(phrases))
        assert ("visual" in phrases) == with_box and (set(phrases) == {"visual"}) == with_box
    after = metrics["after"]
    assert all(math.isfinite(after[f"exemplar_{k}"])
               for k in ("core_loss", "box_AP", "box_AP50", "box_AP75"))
    trained = objects["module"].model.state_dict()
    assert all(not torch.equal(trained[k], start[k]) for k in BOX_PROJECTIONS)


@pytest.mark.parametrize("override, message", [
    ("data.exemplar_probability=2", "data.exemplar_probability=2: expected a number from 0 to 1"),
    ("data.exemplar_box_noise_max=-1", "data.exemplar_box_noise_max=-1: expected a number"),
    ("data.val_exemplars=2", "data.val_exemplars=2: expected true or false"),
])
def test_bad_exemplar_settings_are_one_line(tmp_path, concept_files, override,  # noqa: F811
                                            message):
    with pytest.raises(UserError, match=message) as err:
        train(concept_cfg(tmp_path, concept_files, override))
    assert "\n" not in str(err.value) and not (tmp_path / "checkpoints").exists()
