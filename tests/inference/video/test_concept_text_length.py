"""samhq-video --text longer than SAM 3's text encoder reads (30 tokens besides start and end)
is one error line, exit status 2, before the weights are read: it was cut off in silence.
The check is samhq-concept's (concept_command.check_text_lengths)."""

import pytest

from samhq_train.inference.video import command
from tests.model.sam3.concept.synthetic_bpe import write_merges_file

from .conftest import write_video


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("video_text_length")
    write_merges_file(folder / "bpe.txt.gz")
    return folder / "bpe.txt.gz", write_video(folder / "frames", num_frames=2)


@pytest.fixture
def no_weights(monkeypatch):
    monkeypatch.setattr(
        command, "load_model",
        lambda args: pytest.fail("the weights were read before --text was checked"),
    )


def run(inputs, tmp_path, text):
    merges, frames = inputs
    return command.main([
        "--frames", str(frames), "--checkpoint", str(tmp_path / "sam3.pt"), "--text", text,
        "--bpe", str(merges), "--out", str(tmp_path / "out"), "--device", "cpu",
    ])


def test_a_text_longer_than_the_context_is_refused(inputs, tmp_path, capsys, no_weights):
    with pytest.raises(SystemExit) as stop:
        run(inputs, tmp_path, " ".join(["a red car"] * 20))
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1 and err[0].startswith("error:"), err
    assert "--text 'a red car a red car" in err[0] and " tokens but " in err[0], err
    assert "reads 30" in err[0]
    assert not (tmp_path / "out").exists()


def test_a_text_that_fits_goes_on_to_the_weights(inputs, tmp_path, no_weights):
    with pytest.raises(pytest.fail.Exception, match="weights were read"):
        run(inputs, tmp_path, " ".join(["a"] * 30))  # a lone letter is one token
