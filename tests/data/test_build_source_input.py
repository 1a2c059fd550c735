"""build_source leaves the set entry it is given as it was: the paths it resolves, the strict
setting it applies and the setting a refusal names are its own values, not written into the
caller's dict (a config's entry is built again for each stage and each worker)."""

import copy

import pytest
from data_helpers import blob, write_pair

from samhq_train.data import DataError, build_source

ENTRIES = [
    {"name": "val", "image_dir": "im", "mask_dir": "gt", "image_ext": [".jpg"]},
    {"name": "val", "type": "folder", "image_dir": "im", "mask_dir": "gt", "strict": False},
]


@pytest.mark.parametrize("entry", ENTRIES, ids=["plain", "own_strict"])
def test_the_entry_given_is_unchanged(tmp_path, entry):
    image, mask = blob()
    write_pair(tmp_path / "im", tmp_path / "gt", "ok", image, mask)
    given = copy.deepcopy(entry)
    assert len(build_source(entry, tmp_path, True, "data.strict_eval")) == 1
    assert entry == given


def test_the_entry_given_is_unchanged_by_a_refusal(tmp_path):
    image, mask = blob()
    write_pair(tmp_path / "im", tmp_path / "gt", "ok", image, mask)
    write_pair(tmp_path / "im", tmp_path / "elsewhere", "lonely", image, mask)
    entry = dict(ENTRIES[0])
    given = copy.deepcopy(entry)
    with pytest.raises(DataError, match="set data.strict_eval=false to skip them"):
        build_source(entry, tmp_path, True, "data.strict_eval")
    assert entry == given
