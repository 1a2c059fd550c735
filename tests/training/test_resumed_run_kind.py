"""A concept or video run's ckpt_path of another kind of run (an image run's checkpoint) or of
another model family is refused at the check stage as what it is: it reached Lightning's
load_state_dict after the data and the model were built, a traceback listing every key."""

import pytest
import torch
from hydra import compose, initialize_config_dir

from samhq_train.config_defaults import CONFIG_DIR
from samhq_train.model import CheckpointError, Use, build_sam_hq, hq_state_dict, inspect
from samhq_train.model.formats import lightning as lightning_format
from samhq_train.run.checks import check_inputs, check_resumed_run_kind


def _concept_run(tmp_path, ckpt):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("train", overrides=[
            "experiment=concept_demo", f"paths.output_dir={tmp_path / 'run'}",
            f"ckpt_path={ckpt}",
        ])


def _checkpoint(path, state, record=None):
    content = {
        lightning_format.STATE_KEY: {lightning_format.MODEL_PREFIX + k: v
                                     for k, v in state.items()},
        lightning_format.LOOP_STATE_KEY: {"fit_loop": {}},
    }
    if record is not None:
        content[lightning_format.PROVENANCE_KEY] = record
    torch.save(content, path)
    return path


def test_an_image_runs_checkpoint_is_refused_by_a_concept_run(tmp_path):
    model = build_sam_hq("vit_demo", seed=0)
    ckpt = _checkpoint(tmp_path / "last.ckpt", hq_state_dict(model),
                       {"variant": "vit_demo", "seed": 0})
    with pytest.raises(CheckpointError) as err:
        check_inputs(_concept_run(tmp_path, ckpt))
    assert str(err.value) == (
        f"ckpt_path={ckpt} is an image training run's checkpoint (model=vit_demo): a concept "
        "fine-tuning run resumes its own run's outputs/<run>/checkpoints/last.ckpt; to start "
        f"from what it trained, export it (samhq-export --checkpoint {ckpt} --to sam_hq --out "
        "<folder>) and pass the exported file as model.checkpoint"
    )


def test_a_checkpoint_of_another_family_is_refused_by_a_concept_run(tmp_path):
    model = build_sam_hq("sam2.1_hq_hiera_demo", seed=0)  # a video run's: the whole model
    ckpt = _checkpoint(tmp_path / "last.ckpt", model.state_dict())
    with pytest.raises(CheckpointError) as err:
        check_inputs(_concept_run(tmp_path, ckpt))
    assert str(err.value) == (
        f"ckpt_path={ckpt} holds a sam2 model but model=sam3_hq_demo is of the sam3 family: "
        "resume with the model= of the run that wrote it, or start a new run without ckpt_path"
    )


def test_a_concept_runs_checkpoint_is_refused_by_an_image_run(tmp_path):
    model = build_sam_hq("sam3_hq_demo", seed=0)  # a concept run's: the whole model, no record
    ckpt = _checkpoint(tmp_path / "last.ckpt", model.state_dict())
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=[
            "experiment=demo", f"paths.output_dir={tmp_path / 'run'}", f"ckpt_path={ckpt}"])
    with pytest.raises(CheckpointError) as err:
        check_inputs(cfg)
    assert str(err.value) == (
        f"ckpt_path={ckpt} holds a sam3 model but model=vit_demo_base is of the sam1 family: "
        "resume with the model= of the run that wrote it, or start a new run without ckpt_path"
    )


@pytest.mark.parametrize("record", [{"whole_model": True, "variant": "sam3_hq_demo"},
                                    {"whole_model": True, "trained_hq": False}, None])
def test_a_concept_runs_checkpoint_resumes_whatever_its_record_names(tmp_path, record):
    """A concept or video run's checkpoint (the whole model: format lightning_full) is its own
    kind of run's, whether or not its record names a variant (the new records leave it out; an
    older or another writer's may hold one). Mutant: the image run's told by a recorded variant
    (the first case refused as an image run's checkpoint)."""
    model = build_sam_hq("sam3_hq_demo", seed=0)
    ckpt = _checkpoint(tmp_path / "last.ckpt", model.state_dict(), record)
    check_resumed_run_kind(_concept_run(tmp_path, ckpt), inspect(ckpt, use=Use.RESUME))


def test_an_image_runs_checkpoint_without_a_variant_is_refused_by_a_concept_run(tmp_path):
    """An image run's record without its variant (format lightning: tensors over a base) is
    still an image run's checkpoint. Mutant: told by a recorded variant (let through)."""
    model = build_sam_hq("vit_demo", seed=0)
    ckpt = _checkpoint(tmp_path / "last.ckpt", hq_state_dict(model), {"seed": 0})
    with pytest.raises(CheckpointError) as err:
        check_resumed_run_kind(_concept_run(tmp_path, ckpt), inspect(ckpt, use=Use.RESUME))
    assert str(err.value).startswith(
        f"ckpt_path={ckpt} is an image training run's checkpoint: a concept fine-tuning run "
        "resumes its own run's outputs/<run>/checkpoints/last.ckpt")
