"""samhq-concept: exemplar / counter boxes that do not fit their image are one error line, exit
status 2, before the weights are read."""

import cv2
import numpy as np
import pytest

from samhq_train.inference.concept_command import main
from tests.model.sam3.concept.synthetic_bpe import write_merges_file


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("concept_prompts")
    merges = folder / "bpe.txt.gz"
    write_merges_file(merges)
    image = folder / "yard.png"
    cv2.imwrite(str(image), np.zeros((90, 120, 3), np.uint8))  # 120 wide, 90 high
    checkpoint = folder / "sam3.pt"
    checkpoint.write_bytes(b"never read")
    return image, checkpoint, merges


@pytest.fixture
def no_weights(monkeypatch):
    monkeypatch.setattr(
        "samhq_train.inference.concept_command.load_model",
        lambda args: pytest.fail("the weights were read before the prompt was checked"),
    )


def refusal(inputs, tmp_path, capsys, *extra) -> str:
    image, checkpoint, merges = inputs
    argv = ["--image", str(image), "--checkpoint", str(checkpoint), "--bpe", str(merges)]
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--out", str(tmp_path / "out"), "--device", "cpu", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1 and err[0].startswith("error:"), err
    assert not (tmp_path / "out").exists()
    return err[0]


@pytest.mark.parametrize(
    "box, words",
    [
        (["--exemplar-box", "40", "20", "130", "80"], "outside the image of width 120"),
        (["--exemplar-box", "60", "20", "10", "80"], "x0 < x1"),
        (["--text", "car", "--counter-box", "0", "0", "50", "95"], "height 90"),
    ],
)
def test_boxes_off_their_image_are_refused_before_the_weights(
    inputs, tmp_path, capsys, no_weights, box, words
):
    line = refusal(inputs, tmp_path, capsys, *box)
    assert "--exemplar-box / --counter-box on" in line and "yard.png" in line and words in line
