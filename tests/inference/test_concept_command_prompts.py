"""samhq-concept: a --text longer than the text encoder's context and exemplar / counter boxes
that do not fit their image are one error line, exit status 2, before the weights are read."""

import cv2
import numpy as np
import pytest

from samhq_train.clip_tokenizer import ClipTokenizer
from samhq_train.inference.concept_command import ConceptInputError, check_text_lengths, main
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


def test_a_text_longer_than_the_context_is_refused(inputs, tmp_path, capsys, no_weights):
    line = refusal(inputs, tmp_path, capsys, "--text", " ".join(["a red car"] * 20))
    assert "--text 'a red car a red car" in line and " tokens but " in line and "reads 30" in line


def test_the_longest_text_that_fits_passes(inputs):
    tokenizer = ClipTokenizer(inputs[2], vocab_size=None)
    room = tokenizer.context_length - 2
    words = ["a"] * room  # a lone letter is one token
    assert len(tokenizer.encode(" ".join(words))) == room
    check_text_lengths(tokenizer, [" ".join(words), None])
    with pytest.raises(ConceptInputError, match=f"{room + 1} tokens"):
        check_text_lengths(tokenizer, [" ".join(words + ["a"])])


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
