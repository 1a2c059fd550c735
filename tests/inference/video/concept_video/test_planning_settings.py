"""ConceptVideoSettings: its defaults are the values Meta's build_sam3_video_model passes (read
from Meta's source), Sam3VideoBase's own defaults for the rest; impossible values refused."""

import ast
import inspect

import pytest

from samhq_train.errors import UserError
from samhq_train.inference.video.concept_video import ConceptVideoSettingError, ConceptVideoSettings

sam3_builder = pytest.importorskip("sam3.model_builder")
from sam3.model.sam3_video_base import Sam3VideoBase  # noqa: E402

NOT_SETTINGS = {"detector", "tracker", "image_size", "image_mean", "image_std", "compile_model"}


def meta_shipped_kwargs() -> dict:
    """The literal keyword arguments of the first video model build_sam3_video_model makes (the
    one with its heuristics: apply_temporal_disambiguation=True)."""
    tree = ast.parse(inspect.getsource(sam3_builder.build_sam3_video_model))
    calls = [
        node for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "").startswith("Sam3Video")
    ]
    first = min(calls, key=lambda node: node.lineno)
    return {
        kw.arg: ast.literal_eval(kw.value)
        for kw in first.keywords
        if kw.arg not in NOT_SETTINGS
    }


def test_defaults_are_metas_shipped_values():
    shipped = meta_shipped_kwargs()
    assert shipped["hotstart_delay"] == 15 and shipped["recondition_every_nth_frame"] == 16
    base_defaults = {
        name: p.default
        for name, p in inspect.signature(Sam3VideoBase.__init__).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    expected = {**base_defaults, **shipped}
    ours = ConceptVideoSettings().meta_kwargs()
    assert ours == {name: expected[name] for name in ours}
    assert set(expected) == set(ours)  # every knob of Sam3VideoBase is a setting


@pytest.mark.parametrize(
    "changes, named",
    [
        ({"hotstart_unmatch_thresh": 16}, "hotstart_unmatch_thresh"),
        ({"hotstart_dup_thresh": 20}, "hotstart_dup_thresh"),
        ({"assoc_iou_thresh": 1.5}, "assoc_iou_thresh"),
        ({"score_threshold_detection": -0.1}, "score_threshold_detection"),
        ({"hotstart_delay": -1}, "hotstart_delay"),
        ({"fill_hole_area": -2}, "fill_hole_area"),
        ({"max_num_objects": 0}, "max_num_objects"),
        ({"min_trk_keep_alive": 40}, "min_trk_keep_alive"),
        ({"masklet_confirmation_consecutive_det_thresh": 0}, "masklet_confirmation"),
        ({"hotstart_delay": 2.5}, "hotstart_delay"),
        ({"masklet_confirmation_enable": 1}, "masklet_confirmation_enable"),
    ],
)
def test_impossible_values_refused_naming_the_setting(changes, named):
    with pytest.raises(ConceptVideoSettingError, match=named) as err:
        ConceptVideoSettings(**changes)
    assert isinstance(err.value, UserError) and "\n" not in str(err.value)


def test_no_hotstart_takes_any_thresholds_and_limits():
    settings = ConceptVideoSettings(hotstart_delay=0, hotstart_unmatch_thresh=99, max_num_objects=3)
    assert settings.object_limit == 3
    assert ConceptVideoSettings().object_limit == 10000


def test_the_ends_of_the_unit_interval_and_the_no_limit_count_are_taken():
    """[0, 1] is closed (1.0: e.g. no NMS overlap ever suppresses); -1 objects: no limit."""
    settings = ConceptVideoSettings(
        assoc_iou_thresh=1.0, det_nms_thresh=0.0, new_det_thresh=1, max_num_objects=-1
    )
    assert settings.assoc_iou_thresh == 1.0 and settings.object_limit == 10000
