"""A weights file that reads but holds damaged values is refused on loading, in one line naming the
file and the tensor: a NaN or an inf, integers where the model has floats (another float width
is cast, as a half-precision copy needs), a tensor record cut short inside a whole archive; a
pipe given as the file, before anything reads it."""

import os
import zipfile

import pytest
import torch

from samhq_train.model import CheckpointError, load_checkpoint, save_checkpoint
from samhq_train.model.formats.torch_files import load_torch

NAME = "mask_decoder.hf_token.weight"


def _damaged(tiny_model, how: str) -> dict:
    state = dict(tiny_model.state_dict())
    tensor = state[NAME]
    state[NAME] = {
        "nan": lambda: tensor.clone().view(-1).index_fill_(0, torch.tensor([3]), float("nan"))
        .view(tensor.shape),
        "inf": lambda: torch.full_like(tensor, float("-inf")),
        "int64": lambda: tensor.to(torch.int64),
        "float16": lambda: tensor.half(),
    }[how]()
    return state


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("nan", f"holds weights that are not finite: {NAME} holds nan; the file is damaged"),
        ("inf", f"holds weights that are not finite: {NAME} holds -inf; the file is damaged"),
        ("int64", f"1 tensors of the wrong dtype, first: ['{NAME}: file torch.int64 vs model "
                  "torch.float32']"),
    ],
)
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_damaged_values_are_refused_naming_the_file_and_tensor(
    tmp_path, tiny_model, how, message, suffix
):
    path = tmp_path / f"damaged{suffix}"
    state = _damaged(tiny_model, how)
    if suffix == ".pth":
        torch.save(state, path)
    else:
        from safetensors.torch import save_file

        save_file(state, str(path))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, "vit_demo")
    text = str(info.value)
    assert str(path) in text and message in text and "\n" not in text, text


def test_a_half_precision_copy_still_loads(tmp_path, tiny_model):
    path = tmp_path / "half.pth"
    torch.save(_damaged(tiny_model, "float16"), path)
    loaded = load_checkpoint(path, "vit_demo").state_dict()[NAME]
    assert loaded.dtype == torch.float32
    assert torch.equal(loaded, tiny_model.state_dict()[NAME].half().float())


def test_a_finite_checkpoint_loads_unchanged(tmp_path, tiny_model):
    path = save_checkpoint(tiny_model, tmp_path / "good.pth", "sam_hq")
    assert torch.equal(load_checkpoint(path).state_dict()[NAME], tiny_model.state_dict()[NAME])


@pytest.mark.parametrize("name", ["weights.safetensors", "weights.pth", "weights"])
def test_a_pipe_given_as_a_checkpoint_is_refused_without_reading_it(tmp_path, name):
    """Mutant: inspect opening it (safetensors' header read waits for a writer forever)."""
    path = tmp_path / name
    os.mkfifo(path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, "vit_demo")
    assert str(info.value) == f"{path} is not a file (a pipe or a device): give a checkpoint file"


def test_a_tensor_record_cut_short_inside_a_whole_archive_is_refused(tmp_path, tiny_model):
    """A memory-mapped torch.load does not compare a tensor's size with its record (it read the
    bytes after it: NaN weights, or none found). Mutant: no comparison in load_torch."""
    good = save_checkpoint(tiny_model, tmp_path / "good.pth", "sam_hq")
    path = tmp_path / "short.pth"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(path, "w") as damaged:
        for info in source.infolist():
            data = source.read(info.filename)
            if "/data/" in info.filename and len(data) > 64:
                data = data[: len(data) // 2]
            damaged.writestr(info, data)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, "vit_demo")
    assert str(info.value) == (
        f"could not read {path} as a PyTorch checkpoint: the archive is damaged (a tensor's data "
        "does not fill its record: copy or download it again)"
    )


def test_nested_and_shared_tensors_of_a_whole_archive_still_load(tmp_path):
    weight = torch.arange(12.0)
    content = {"state_dict": {"a": weight, "b": weight[:4]}, "optimizer_states": [
        {"state": {0: {"exp_avg": torch.ones(3)}}, "param_groups": [{"lr": 0.1}]}],
        "empty": torch.zeros(0), "loops": {}}
    path = tmp_path / "nested.ckpt"
    torch.save(content, path)
    loaded = load_torch(path)
    assert torch.equal(loaded["state_dict"]["b"], weight[:4])
