"""Audit 21: data=coco's read_coco on a json that is not UTF-8 text."""

import pytest

from samhq_train.data.coco_instances import read_coco
from samhq_train.data.image_files import DataError


def test_a_json_that_is_not_utf8_is_one_line_naming_it(tmp_path):
    """A Latin-1 export (an 'é' as one byte). Mutant: only JSONDecodeError caught (a
    UnicodeDecodeError traceback)."""
    path = tmp_path / "ann.json"
    path.write_bytes('{"images": [], "info": "caf\u00e9"}'.encode("latin-1"))
    with pytest.raises(DataError, match=rf"^{path} is not valid json \(.*\); re-export it$"):
        read_coco(path)
