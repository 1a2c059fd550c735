"""An annotation json that is there but cannot be read (permissions: root reads everything, so
the refusal is stood in for by Path.read_text raising as it would) is one line naming the file,
for data=coco's set and concept fine-tuning's, not an OSError traceback."""

from pathlib import Path

import pytest

from samhq_train.data import CocoInstanceDataset
from samhq_train.data.concept_coco import ConceptDataError, read_concept_coco
from samhq_train.data.image_files import DataError
from tests.data.concept_helpers import write_concept_set
from tests.test_json_bom import _coco


@pytest.fixture
def unreadable(monkeypatch):
    """The files listed in the returned set raise PermissionError when read as text."""
    denied: set[Path] = set()
    read_text = Path.read_text

    def guarded(self, *args, **kwargs):
        if self in denied:
            raise PermissionError(13, "Permission denied", str(self))
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", guarded)
    return denied


def test_coco_training_set(tmp_path, unreadable):
    path, _ = _coco(tmp_path)
    unreadable.add(path)
    with pytest.raises(DataError, match=f"cannot read {path} \\(Permission denied\\)"):
        CocoInstanceDataset(tmp_path, path)


def test_concept_set(tmp_path, unreadable):
    annotation_file, image_dir = write_concept_set(tmp_path)
    unreadable.add(annotation_file)
    with pytest.raises(ConceptDataError, match="cannot read .* \\(Permission denied\\)"):
        read_concept_coco(annotation_file, image_dir)
