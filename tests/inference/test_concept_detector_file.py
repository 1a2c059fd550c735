"""samhq-concept and samhq-app --bpe: a SAM 3 file without the concept detector (an interactive-only
file, the shipped SAM 3 demo base, the --base of an HQ-only file) and, for the app, a file of
another family are refused in one line from the file's header and key names, before a model is
built (they were built and loaded first)."""

import cv2
import numpy as np
import pytest

from samhq_train.app import command as app_command
from samhq_train.app.command import main as app_main
from samhq_train.cli import export
from samhq_train.constants import DEMO_BASE_DIR
from samhq_train.inference import concept_command
from samhq_train.inference.concept import file_without_detector
from samhq_train.model import inspect, load_checkpoint, save_checkpoint
from tests.model.sam3.concept.ours_file import write_sam3_with_detector

NO_DETECTOR = (
    "has no concept detector (no detector.transformer.decoder.* keys: a SAM 3 file of the "
    "interactive path only)"
)
CONCEPT_NEEDS = (
    "text and exemplar prompts need SAM 3's concept detector: give a SAM 3 / HQ-SAM 3 file with "
    "it (Meta's sam3.pt, or a full export of a model trained from it)"
)
APP_NEEDS = (
    "text prompts need a SAM 3 checkpoint with its concept detector (Meta's sam3.pt, or a full "
    "export of a model trained from it); or drop --bpe"
)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("detector_file")
    full, merges = write_sam3_with_detector(folder)
    interactive, _ = write_sam3_with_detector(folder, with_detector=False)
    image = folder / "street.png"
    cv2.imwrite(str(image), (np.random.RandomState(1).rand(40, 50, 3) * 255).astype(np.uint8))
    return folder, full, interactive, merges, image


@pytest.fixture
def no_model_built(monkeypatch):
    """Building or loading a model fails the test: the refusal must come before."""
    def not_reached(*args, **kwargs):
        pytest.fail("a model was loaded before the refusal")

    monkeypatch.setattr(concept_command, "load_model", not_reached)
    monkeypatch.setattr(app_command, "load_checkpoint", not_reached)


def concept_error(argv, capsys) -> list[str]:
    with pytest.raises(SystemExit) as stop:
        concept_command.main(argv)
    assert stop.value.code == 2
    return capsys.readouterr().err.strip().splitlines()


def concept_argv(checkpoint, merges, image, out, *extra):
    return ["--image", str(image), "--text", "car", "--checkpoint", str(checkpoint), "--bpe",
            str(merges), "--out", str(out), "--device", "cpu", *extra]


def test_concept_refuses_an_interactive_only_file_before_building(files, tmp_path, capsys,
                                                                  no_model_built):
    _, _, interactive, merges, image = files
    err = concept_error(concept_argv(interactive, merges, image, tmp_path / "out"), capsys)
    assert err == [f"error: --checkpoint {interactive} {NO_DETECTOR}: {CONCEPT_NEEDS}"]
    assert not (tmp_path / "out").exists()
    demo = DEMO_BASE_DIR / "sam3_hq_demo_base.pt"  # the shipped SAM 3 demo base: no detector
    err = concept_error(concept_argv(demo, merges, image, tmp_path / "out"), capsys)
    assert err == [f"error: --checkpoint {demo} {NO_DETECTOR}: {CONCEPT_NEEDS}"]


def test_concept_names_the_base_of_an_hq_only_file(files, tmp_path, capsys, no_model_built):
    folder, _, interactive, merges, image = files
    hq_only = save_checkpoint(load_checkpoint(interactive), tmp_path / "hq.safetensors", "hq_only")
    argv = concept_argv(hq_only, merges, image, tmp_path / "out", "--base", str(interactive))
    assert concept_error(argv, capsys) == [
        f"error: --base {interactive} {NO_DETECTOR}: {CONCEPT_NEEDS}"
    ]


def test_the_key_names_tell_in_torch_and_safetensors_files(files, tmp_path):
    _, full, interactive, _, _ = files
    assert file_without_detector(inspect(full)) is None
    assert file_without_detector(inspect(interactive)) == interactive
    for source in (full, interactive):
        export = save_checkpoint(load_checkpoint(source), tmp_path / f"{source.stem}.safetensors",
                                 "safetensors")
        expected = None if source == full else export
        assert file_without_detector(inspect(export)) == expected
    sam1 = DEMO_BASE_DIR / "vit_demo_base.safetensors"
    assert file_without_detector(inspect(sam1)) is None  # another family: the family check's


def app_error(argv, capsys) -> list[str]:
    with pytest.raises(SystemExit) as stop:
        app_main([*argv, "--port", "0", "--device", "cpu"], serve=False)
    assert stop.value.code == 2
    return capsys.readouterr().err.strip().splitlines()


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("interactive", f"it {NO_DETECTOR}"),
        ("sam1", "it holds a vit_demo_base model (sam1 family)"),
        ("sam2", "it holds a sam2.1_hq_hiera_demo model (sam2 family)"),
    ],
)
def test_app_refuses_bpe_for_a_file_without_the_detector_before_loading(
    files, tmp_path, capsys, no_model_built, name, words
):
    _, _, interactive, merges, _ = files
    checkpoint = {
        "interactive": interactive,
        "sam1": DEMO_BASE_DIR / "vit_demo_base.safetensors",
        "sam2": DEMO_BASE_DIR / "sam2.1_hq_hiera_demo_base.pt",
    }[name]
    err = app_error([str(checkpoint), "--bpe", str(merges), "--out", str(tmp_path / "o")], capsys)
    assert err == [f"error: --bpe with {checkpoint.name}: {words}; {APP_NEEDS}"]


def test_export_onnx_concept_refuses_an_interactive_only_file_before_loading(
    files, tmp_path, capsys, monkeypatch
):
    _, _, interactive, _, _ = files
    monkeypatch.setattr(export, "load_checkpoint_with_provenance",
                        lambda *args, **kwargs: pytest.fail("the weights were read first"))
    with pytest.raises(SystemExit) as stop:
        export.main(["--checkpoint", str(interactive), "--to", "onnx_concept", "--out",
                     str(tmp_path / "out")])
    assert stop.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: --checkpoint {interactive} {NO_DETECTOR}: --to onnx_concept exports SAM 3's "
        "concept detector; give Meta's sam3.pt, or a full export of a model trained from it"
    ]


def test_the_models_own_refusal_names_the_file(files, tmp_path, capsys, monkeypatch):
    """Where the key names do not tell (here: made not to), the loaded model's refusal is the one
    line, naming --checkpoint (it named no file)."""
    _, _, interactive, merges, image = files
    monkeypatch.setattr(concept_command, "file_without_detector", lambda *args: None)
    err = concept_error(concept_argv(interactive, merges, image, tmp_path / "out"), capsys)
    assert err == [
        f"error: --checkpoint {interactive}: this SAM 3 model has no concept detector (its file "
        "holds only the interactive path): text and exemplar prompts need Meta's sam3.pt, or a "
        "full export of a model trained from it"
    ]
