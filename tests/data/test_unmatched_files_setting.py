"""A set's unmatched files (an image without a mask) refused through the config: the refusal names
the setting a user can give, data.strict_eval=false (data.strict_train for training sets), or the
set entry's own `strict: false` where the entry sets strict (it said "set strict: false", a key
no command line has)."""

import pytest
from data_helpers import blob, write_pair

from samhq_train.data import DataError
from samhq_train.data.sets import evaluation_sets, training_set

SPEC = {"name": "val", "image_dir": "im", "mask_dir": "gt"}


def _folder(tmp_path):
    image, mask = blob()
    write_pair(tmp_path / "im", tmp_path / "gt", "ok", image, mask)
    write_pair(tmp_path / "im", tmp_path / "elsewhere", "lonely", image, mask)


@pytest.mark.parametrize(
    ("build", "spec", "setting"),
    [
        (evaluation_sets, SPEC, "data.strict_eval=false"),
        (training_set, SPEC, "data.strict_train=false"),
        (evaluation_sets, {**SPEC, "strict": True}, "strict: false in the entry of 'val'"),
    ],
    ids=["eval", "train", "entry"],
)
def test_unmatched_files_name_the_setting_that_skips_them(tmp_path, build, spec, setting):
    _folder(tmp_path)
    with pytest.raises(DataError) as err:
        build([spec], tmp_path, None, None, strict=True, seed=0)
    assert str(err.value).endswith(f"lonely.jpg. Add or remove those files, or set {setting} to "
                                   "skip them")
