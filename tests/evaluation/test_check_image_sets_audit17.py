"""samhq-evaluate's check stage (evaluation/checks.py, data/roots.py) refuses the image sets it
would evaluate, and only those, before the evaluation stack: the sets named by `sets`, the test
sets over the val sets, a COCO set's annotation file under the json's name, a mask folder, and
with the click protocol alone (benchmark=false). Mutation audit 17."""

import pytest

from samhq_train.data.image_files import DataError
from samhq_train.evaluation.checks import check_inputs
from tests.evaluation.eval_configs import eval_cfg


def _folders(root, *names):
    for name in names:
        (root / name).mkdir(parents=True)


def _cfg(tmp_path, *overrides):
    return eval_cfg(tmp_path / "out", "data=folder", f"data.root={tmp_path / 'data'}",
                    *overrides)


def _refusal(cfg) -> str:
    with pytest.raises(DataError) as info:
        check_inputs(cfg)
    return str(info.value)


SETS = ("data.test_sets=[{name: a, image_dir: a/images, mask_dir: a/masks}, "
        "{name: b, image_dir: b/images, mask_dir: b/masks}]")


def test_only_the_sets_named_are_checked(tmp_path):
    """Mutant: every set checked whatever `sets` names (b, not asked for, refused)."""
    _folders(tmp_path / "data", "a/images", "a/masks")
    check_inputs(_cfg(tmp_path, SETS, "sets=[a]"))
    assert _refusal(_cfg(tmp_path, SETS)).startswith(
        f"b: image folder not found: {tmp_path / 'data' / 'b' / 'images'}")


def test_the_test_sets_are_checked_over_the_val_sets(tmp_path):
    """data.test_sets given: the val sets (not there here) are not evaluated. Mutant: the val
    sets checked."""
    _folders(tmp_path / "data", "a/images", "a/masks", "b/images", "b/masks")
    check_inputs(_cfg(tmp_path, SETS))


def test_a_missing_mask_folder_is_refused(tmp_path):
    """Mutant: only the image folder checked."""
    _folders(tmp_path / "data", "val/images")
    assert _refusal(_cfg(tmp_path)).startswith(
        f"val: mask folder not found: {tmp_path / 'data' / 'val' / 'masks'}")


def test_a_coco_sets_annotation_file_is_checked_under_the_jsons_name(tmp_path):
    """Mutants: no annotation file check (left to the datamodule, after the heavy imports); the
    set named after its image folder instead of its json's stem."""
    _folders(tmp_path / "data", "images")
    spec = "data.test_sets=[{type: coco, image_dir: images, annotation_file: ann/gt.json}]"
    assert _refusal(_cfg(tmp_path, spec)).startswith(
        f"gt: annotation file not found: {tmp_path / 'data' / 'ann' / 'gt.json'}")


def test_the_click_protocol_alone_checks_the_data_root(tmp_path):
    """benchmark=false with clicks.enabled=true still evaluates the image sets. Mutant: the sets
    checked with benchmark=true only."""
    refused = _refusal(_cfg(tmp_path, "benchmark=false", "clicks.enabled=true"))
    assert refused.startswith(f"data root not found: {tmp_path / 'data'}")


def test_the_demo_data_root_is_not_refused_before_it_is_written(tmp_path):
    """data=demo writes its data on first use. Mutant: the demo root checked like any other."""
    check_inputs(eval_cfg(tmp_path / "out", "data=demo", f"data.root={tmp_path / 'absent'}"))
