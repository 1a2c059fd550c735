"""save_checkpoint's name check leaves a folder format alone: a transformers folder is read as
one whatever its name (inspection._detect looks at a folder before a suffix), so its name is
no other format's."""

from pathlib import Path

import pytest

from samhq_train.model.formats import RECORDS
from samhq_train.model.formats.saving import _check_name_fits


@pytest.mark.parametrize("name", ["sam_hq.pt", "hf.safetensors", "run.ckpt", "hf_export"])
def test_a_folder_formats_name_is_not_refused(name):
    folder_formats = [record for record in RECORDS.values() if record.folder]
    assert folder_formats
    for record in folder_formats:
        _check_name_fits(Path(name), record)
