"""The folder targets of samhq-export (transformers, onnx_concept) appear whole or not at all:
written as a temporary sibling folder and renamed into place, so Ctrl-C or a full disk while one
is written leaves the earlier export as it was (the user's own files in it kept) and no
temporary beside it."""

import os

import pytest
import torch
from safetensors import SafetensorError

from samhq_train.files import DiskFullError, atomic_write_bytes
from samhq_train.inference import export as export_module
from samhq_train.inference import export_model
from samhq_train.model import load_checkpoint
from samhq_train.model.formats import transformers_dir
from tests.reference import random_tiny_model
from tests.signal_mid_write import check_signal_keeps_earlier_folder, folder_content

TRANSFORMERS = "sam_hq_vit_demo_transformers"


@pytest.fixture(scope="module")
def models():
    return random_tiny_model(seed=4), random_tiny_model(seed=5)


def earlier_export(model, out, target):
    folder = export_model(model, out, [target], verify=False)[target]
    (folder / "notes.txt").write_text("mine")
    return folder


def test_an_export_over_an_earlier_one_replaces_it_and_keeps_the_users_file(models, tmp_path):
    first, second = models
    folder = earlier_export(first, tmp_path, "transformers")
    export_model(second, tmp_path, ["transformers"], overwrite=True)
    assert sorted(os.listdir(folder)) == [
        "config.json", "model.safetensors", "notes.txt", "preprocessor_config.json",
        "processor_config.json"
    ]
    loaded = load_checkpoint(folder).state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in second.state_dict().items())
    assert os.listdir(tmp_path) == [TRANSFORMERS]


def test_a_signal_as_the_transformers_folder_is_renamed_keeps_the_earlier_one(
    models, tmp_path, monkeypatch
):
    first, second = models
    folder = earlier_export(first, tmp_path, "transformers")
    check_signal_keeps_earlier_folder(
        monkeypatch,
        folder,
        lambda: export_model(second, tmp_path, ["transformers"], overwrite=True),
        TRANSFORMERS,
    )


def test_a_full_disk_in_a_transformers_export_names_the_folder_and_keeps_the_earlier_one(
    models, tmp_path, monkeypatch
):
    first, second = models
    folder = earlier_export(first, tmp_path, "transformers")
    before = folder_content(folder)

    def full(tensors, path, metadata=None):
        with open(path, "wb") as handle:
            handle.write(b"\0" * 4096)
        raise SafetensorError("Error while serializing: I/O error: No space left on device")

    monkeypatch.setattr(transformers_dir, "save_file", full)
    with pytest.raises(DiskFullError) as info:
        export_model(second, tmp_path, ["transformers"], overwrite=True)
    assert str(info.value).startswith(f"no space left on the device writing {folder}: ")
    assert f"; the previous {TRANSFORMERS} is intact (nothing replaced it): " in str(info.value)
    assert folder_content(folder) == before
    assert os.listdir(tmp_path) == [TRANSFORMERS]


@pytest.fixture
def fake_concept_graphs(monkeypatch):
    """onnx_concept's writers replaced by ones that write each graph's name and the model's seed
    (tracing SAM 3 is slow; how the graphs are written into the folder is what is tested)."""

    def graphs(model, folder, opset=17):
        folder.mkdir(parents=True, exist_ok=True)
        seed = str(model.mask_decoder.hf_token.weight.flatten()[0].item()).encode()
        for name in export_module.GRAPH_FILES:
            atomic_write_bytes(folder / name, name.encode() + seed)

    def decoder(model, path, opset=17):
        atomic_write_bytes(path, b"decoder")

    monkeypatch.setattr(export_module, "concept_detector", lambda model: None)
    monkeypatch.setattr(export_module, "export_onnx_concept", graphs)
    monkeypatch.setattr(export_module, "export_onnx", decoder)


@pytest.mark.parametrize("at", ["text_encoder.onnx", "sam_hq_vit_demo_concept"])
def test_a_signal_mid_onnx_concept_export_keeps_the_earlier_folder(
    models, tmp_path, monkeypatch, fake_concept_graphs, at
):
    first, second = models
    folder = earlier_export(first, tmp_path, "onnx_concept")
    check_signal_keeps_earlier_folder(
        monkeypatch,
        folder,
        lambda: export_model(second, tmp_path, ["onnx_concept"], verify=False, overwrite=True),
        at,
    )
