"""A format given (format= / --format) to a file that no format reads keeps the refusal of the
format given: there is no detected format to name instead. Mutation audit 17."""

import pytest

from samhq_train.model import CheckpointError, load_checkpoint


def test_a_format_given_to_an_unreadable_file_keeps_its_own_refusal(tmp_path):
    """Mutant: _probe_as naming the detected format when nothing was detected ("is a None
    checkpoint, not lightning")."""
    path = tmp_path / "weights.pth"
    path.write_bytes(b"not a checkpoint at all" * 4)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, format="lightning")
    assert str(info.value).startswith(
        f"could not read {path} as a training checkpoint: it is not a PyTorch file"), info.value
