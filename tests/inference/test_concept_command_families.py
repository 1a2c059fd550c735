"""samhq-concept given a SAM or SAM 2.1 file (SAM-HQ's epoch_<n>.pth among them): refused from
the file's header in one line naming it and what to give, before any model is built."""

import cv2
import numpy as np
import pytest
import torch

from samhq_train.inference import concept_command
from samhq_train.model import build_sam_hq, without_hq
from tests.model.sam3.concept.synthetic_bpe import write_merges_file

NEEDS = (
    "text and exemplar prompts need SAM 3's concept detector: give a SAM 3 / HQ-SAM 3 file with it "
    "(Meta's sam3.pt, or a full export of a model trained from it)"
)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A SAM file, SAM-HQ's epoch_<n>.pth (its mask decoder alone), a SAM 2.1 file (Meta's
    {"model": ...} layout), tiny and random; the merges file and an image."""
    folder = tmp_path_factory.mktemp("concept_families")
    sam = build_sam_hq("vit_demo", seed=0).state_dict()
    torch.save(without_hq(sam), folder / "sam_vit_demo.pth")
    prefix = "mask_decoder."
    decoder = {k[len(prefix) :]: v for k, v in sam.items() if k.startswith(prefix)}
    torch.save(decoder, folder / "epoch_3.pth")
    sam2 = build_sam_hq("sam2.1_hq_hiera_demo", seed=0).state_dict()
    torch.save({"model": without_hq(sam2)}, folder / "sam2.1_demo.pt")
    merges = folder / "bpe_simple_vocab_16e6.txt.gz"
    write_merges_file(merges)
    image = folder / "street.png"
    cv2.imwrite(str(image), np.zeros((40, 50, 3), np.uint8))
    return folder, merges, image


@pytest.mark.parametrize(
    "name, model",
    [
        ("sam_vit_demo.pth", "vit_demo model (sam1 family)"),
        ("epoch_3.pth", "vit_demo model (sam1 family)"),
        ("sam2.1_demo.pt", "sam2.1_hq_hiera_demo model (sam2 family)"),
    ],
)
def test_another_familys_file_is_one_line_before_a_model_is_built(
    files, name, model, tmp_path, capsys, monkeypatch
):
    folder, merges, image = files
    built = []
    load_model = concept_command.load_model
    monkeypatch.setattr(concept_command, "load_model",
                        lambda args: built.append(args) or load_model(args))
    argv = ["--image", str(image), "--text", "car", "--checkpoint", str(folder / name),
            "--bpe", str(merges), "--out", str(tmp_path / "out"), "--device", "cpu"]
    with pytest.raises(SystemExit) as stop:
        concept_command.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and built == []
    assert err == [f"error: --checkpoint {folder / name} holds a {model}: {NEEDS}"]
    assert not (tmp_path / "out").exists()
