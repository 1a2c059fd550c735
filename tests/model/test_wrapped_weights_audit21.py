"""Audit 21: which torch files are a training checkpoint refused as weights (torch_files'
is_training_checkpoint) and which a script's wrapped weights; tiny stand-in tensors, no model."""

import pytest
import torch

from samhq_train.model import CheckpointError, load_checkpoint

W = torch.zeros(2)


def refusal(tmp_path, content, name="w.pth"):
    path = tmp_path / name
    torch.save(content, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    return path, str(err.value)


def test_our_layout_alone_is_a_training_checkpoint_without_lightnings_marks(tmp_path):
    """Every key under "model." (our LightningModule's) is a training checkpoint even with no
    version stamp, record or loop state beside it. Mutant: only the marks count (it was read
    as weights wrapped under "state_dict" and refused as holding no SAM weights)."""
    _, said = refusal(tmp_path, {"state_dict": {"model.image_encoder.pos_embed": W}})
    assert "is a training checkpoint" in said
    assert "format=lightning" in said


def test_an_empty_state_dict_is_no_training_checkpoint(tmp_path):
    """Mutant: all() of no keys counted as our layout."""
    path, said = refusal(tmp_path, {"state_dict": {}})
    assert said == (f"{path} is not a state dict of tensors (official SAM / SAM-HQ layout "
                    "expected)")


@pytest.mark.parametrize("mark", ["pytorch-lightning_version", "samhq", "loops"])
def test_a_mark_of_lightning_makes_a_training_checkpoint_whatever_its_keys(tmp_path, mark):
    """Official key names under "state_dict" with Lightning's stamp, our record or the loop
    state beside them: another program's Lightning checkpoint, not weights a script wrapped.
    Mutant: only our "model." layout counts."""
    _, said = refusal(tmp_path, {"state_dict": {"image_encoder.pos_embed": W}, mark: {}})
    assert "is a training checkpoint" in said


def test_a_prefix_only_some_keys_have_is_kept():
    """A wrapper's prefix is stripped only when every key has it (a model with a submodule
    named `module` keeps its names). Mutant: any key with it enough."""
    from samhq_train.model.formats.base import without_wrapper_prefixes

    mixed = {"module.a": 1, "b.c": 2}
    assert without_wrapper_prefixes(mixed) == mixed
    assert without_wrapper_prefixes({"module._orig_mod.a": 1, "module._orig_mod.b": 2}) == {
        "a": 1, "b": 2}
    assert without_wrapper_prefixes({}) == {}


def test_a_ddp_safetensors_file_of_sam2_is_inspected_as_sam2(tmp_path):
    """The header's names unwrapped before the family is told from them. Mutant: the wrapped
    names judged (no family known: SAM 1 assumed)."""
    from safetensors.torch import save_file

    from samhq_train.model import build_sam_hq, inspect

    state = build_sam_hq("sam2.1_hq_hiera_demo", seed=3).state_dict()
    path = tmp_path / "ddp.safetensors"
    save_file({"module." + k: v.contiguous() for k, v in state.items()}, str(path))
    assert inspect(path).family == "sam2"
