"""The shipped demo bases are known by their bytes (data/demo_base/SHA256SUMS), not by their folder:
a copy anywhere loads with its HQ parts marked untrained; a file whose HQ tensors were trained (or
whose bytes differ at all, even at the same size) is not a demo base."""

import shutil

import pytest
import torch

from samhq_train.constants import DEMO_BASE_DIR
from samhq_train.files import file_sha256
from samhq_train.model import load_checkpoint, save_checkpoint
from samhq_train.model.formats import is_shipped_demo_base
from samhq_train.model.formats.demo_bases import shipped_sha256

SHIPPED = sorted(p.name for p in DEMO_BASE_DIR.iterdir() if p.suffix in {".pt", ".safetensors"})
DEMO_VIT = DEMO_BASE_DIR / "vit_demo_base.safetensors"


def test_the_manifest_lists_every_shipped_file_with_its_sha256():
    assert len(SHIPPED) == 3
    assert shipped_sha256() == {name: file_sha256(DEMO_BASE_DIR / name) for name in SHIPPED}


@pytest.mark.parametrize("name", SHIPPED)
def test_a_copy_elsewhere_is_a_shipped_demo_base(name, tmp_path):
    copy = tmp_path / "elsewhere" / f"renamed_{name}"
    copy.parent.mkdir()
    shutil.copyfile(DEMO_BASE_DIR / name, copy)
    assert is_shipped_demo_base(DEMO_BASE_DIR / name)
    assert is_shipped_demo_base(copy)


def test_the_copied_vit_base_loads_with_its_hq_parts_untrained(tmp_path):
    copy = shutil.copyfile(DEMO_VIT, tmp_path / "base.safetensors")
    untrained = load_checkpoint(copy).untrained_hq
    assert str(untrained) == f"{copy} is a shipped demo base (its HQ parts are untrained)"
    assert untrained.plain == "SAM"


def test_a_file_with_trained_hq_parts_is_not_a_demo_base(tmp_path):
    model = load_checkpoint(DEMO_VIT)
    with torch.no_grad():
        model.mask_decoder.hf_token.weight.add_(0.01)  # one HQ tensor trained
    trained = save_checkpoint(model, tmp_path / "trained.safetensors", "safetensors")
    assert not is_shipped_demo_base(trained)
    assert load_checkpoint(trained).untrained_hq is None


def test_other_bytes_of_the_same_size_are_not_a_demo_base(tmp_path):
    data = bytearray(DEMO_VIT.read_bytes())
    data[-1] ^= 1  # the last byte of the last tensor
    changed = tmp_path / "vit_demo_base.safetensors"
    changed.write_bytes(bytes(data))
    assert changed.stat().st_size == DEMO_VIT.stat().st_size
    assert not is_shipped_demo_base(changed)
    assert not is_shipped_demo_base(tmp_path)  # a folder (a transformers directory) is not one
    assert not is_shipped_demo_base(tmp_path / "missing.pt")
