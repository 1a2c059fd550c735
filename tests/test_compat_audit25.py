"""Mutation audit (round 25) of compat.py: which requirement lines the release check reads (an
explicit empty list, metadata without requirements, a name's case, spaces, extras, a floor equal
to the installed release, a checked release that is not installed, torchvision), autocast's
state on a device without autocast and on torch 2.3's functions, and the rule that turns a TIFF's
header size where Pillow gives the stored one at open."""

import importlib.metadata

import pytest
import torch
from PIL import Image

from samhq_train import compat, image_header


def test_an_explicit_empty_list_checks_nothing(monkeypatch):
    monkeypatch.setattr(compat.metadata, "requires", lambda name: ["torch>=99"])
    assert compat.too_old_release([]) is None
    assert compat.too_old_release() is not None  # what None reads


def test_metadata_without_requirements_checks_nothing(monkeypatch):
    monkeypatch.setattr(compat.metadata, "requires", lambda name: None)
    assert compat.too_old_release() is None


@pytest.mark.parametrize("line", ["Torch>=99", "torch >= 99", "torch[cuda]>=99",
                                  "torchvision>=99.0"])
def test_a_floor_written_in_any_of_pips_ways_is_checked(line):
    found = compat.too_old_release([line])
    assert found is not None and ">=99" in found


def test_a_floor_equal_to_the_installed_release_passes():
    installed = ".".join(map(str, compat._release(importlib.metadata.version("torch"))))
    assert compat.too_old_release([f"torch>={installed}"]) is None
    assert compat.too_old_release([f"torch>={installed}.1"]) is not None


def test_a_checked_release_not_installed_leaves_the_others_checked(monkeypatch):
    version = compat.metadata.version

    def without_torchvision(name):
        if name == "torchvision":
            raise importlib.metadata.PackageNotFoundError(name)
        return version(name)

    monkeypatch.setattr(compat.metadata, "version", without_torchvision)
    found = compat.too_old_release(["torchvision>=99", "torch>=99"])
    assert found is not None and found.startswith("samhq-train needs torch>=99,")


def test_a_device_without_autocast_has_no_autocast_dtype():
    assert compat.autocast_dtype("meta") is None


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torch_2_3s_functions_give_the_same_answers(monkeypatch):
    """torch 2.3: no get_autocast_dtype; one function pair per device (CUDA's unnamed)."""

    def on_torch_2_3(device_type):
        with monkeypatch.context() as patch:  # autocast itself needs it on this torch
            patch.delattr(torch, "get_autocast_dtype")
            return compat.autocast_dtype(device_type)

    assert on_torch_2_3("cpu") is None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert on_torch_2_3("cpu") == torch.bfloat16
        assert on_torch_2_3("cuda") is None


def _tiff(folder, orientation: int):
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = folder / f"turned{orientation}.tif"
    Image.new("RGB", (24, 36)).save(path, exif=exif)
    return path


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_tiff_turned_a_quarter_gets_its_size_swapped_where_pillow_gives_the_stored_one(
        tmp_path, monkeypatch, orientation):
    data = _tiff(tmp_path, orientation)
    with Image.open(data) as im:
        at_open = im.size
    monkeypatch.setattr(compat, "tiff_size_turned_at_open", lambda: False)
    header = image_header.read_header(data)
    swapped = orientation in (5, 6, 7, 8)
    assert (header.width, header.height) == (at_open[::-1] if swapped else at_open)
    monkeypatch.setattr(compat, "tiff_size_turned_at_open", lambda: True)
    header = image_header.read_header(data)
    assert (header.width, header.height) == at_open


def test_a_jpegs_exif_turn_is_no_tiff_turn(tmp_path, monkeypatch):
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "turned.jpg"
    Image.new("RGB", (24, 36)).save(path, exif=exif)
    monkeypatch.setattr(compat, "tiff_size_turned_at_open", lambda: False)
    header = image_header.read_header(path)
    assert (header.width, header.height, header.orientation) == (24, 36, 6)
