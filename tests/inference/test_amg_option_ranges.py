"""samhq-amg's generator options are range-checked as flags at parse time (one line naming the
flag, exit 2, before the model is read); the Python generator refuses the same values."""

import pytest

from samhq_train.errors import SETUP_ERROR_EXIT
from samhq_train.inference import amg_command
from samhq_train.inference.amg.generator import AmgOptionError, check_options


def not_reached(*args, **kwargs):
    raise AssertionError("the checkpoint was read before the options were checked")


@pytest.mark.parametrize(
    "flag, value, rule",
    [
        ("--pred-iou-thresh", "-1", "in [0, 1]"),
        ("--pred-iou-thresh", "1.5", "in [0, 1]"),
        ("--pred-iou-thresh", "nan", "in [0, 1]"),
        ("--stability-score-thresh", "2", "in [0, 1]"),
        ("--stability-score-offset", "-0.5", "0 or more"),
        ("--box-nms-thresh", "-0.1", "in [0, 1]"),
        ("--crop-nms-thresh", "1.01", "in [0, 1]"),
        ("--crop-overlap-ratio", "1", "in [0, 1)"),
        ("--points-per-side", "0", "in [1, 256]"),
        ("--points-per-side", "100000", "in [1, 256]"),
        ("--points-per-batch", "0", "in [1, 1024]"),
        ("--points-per-batch", "1025", "in [1, 1024]"),
        ("--crop-n-layers", "-1", "in [0, 4]"),
        ("--crop-n-layers", "5", "in [0, 4]"),
        ("--crop-n-points-downscale-factor", "0", "in [1, 256]"),
        ("--crop-n-points-downscale-factor", "1000000000", "in [1, 256]"),
        ("--min-mask-region-area", "-3", "0 or more"),
    ],
)
def test_out_of_range_option_is_one_line_naming_the_flag(
    tmp_path, monkeypatch, capsys, flag, value, rule
):
    monkeypatch.setattr(amg_command, "load_checkpoint", not_reached)
    image = tmp_path / "a.png"
    image.write_bytes(b"")  # never read: the options fail first
    with pytest.raises(SystemExit) as info:
        amg_command.main(["--image", str(image), "--out", str(tmp_path / "out"), flag, value])
    assert info.value.code == SETUP_ERROR_EXIT
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: {flag} must be {rule}"), line
    assert not (tmp_path / "out").exists()


def test_no_point_left_in_a_crop_layer_names_the_flags(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(amg_command, "load_checkpoint", not_reached)
    argv = ["--image", str(tmp_path / "a.png"), "--points-per-side", "4", "--crop-n-layers", "2",
            "--crop-n-points-downscale-factor", "4"]
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(SystemExit):
        amg_command.main(argv)
    assert "--points-per-side=4 with --crop-n-points-downscale-factor=4 leaves no point" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    "options",
    [
        {"pred_iou_thresh": -1}, {"box_nms_thresh": 2.0}, {"stability_score_offset": -1},
        {"points_per_side": 100_000}, {"points_per_side": 1e9}, {"points_per_batch": 10_000},
        {"crop_n_layers": 20}, {"crop_n_points_downscale_factor": 257},
    ],
)
def test_the_generator_refuses_the_same_values(options):
    with pytest.raises(AmgOptionError, match=f"{next(iter(options))} must be"):
        check_options(options)


def test_the_defaults_and_the_largest_counts_pass():
    args = amg_command.parse_args(["--image", "a.png"])
    amg_command.check_generator_options(args)
    check_options({"points_per_side": 256, "points_per_batch": 1024, "crop_n_layers": 4,
                   "crop_n_points_downscale_factor": 2})


def test_existing_outputs_name_only_flags_amg_has(tmp_path, monkeypatch, capsys):
    """samhq-amg has no --name: its refusal of existing outputs does not offer one."""
    monkeypatch.setattr(amg_command, "load_checkpoint", not_reached)
    image = tmp_path / "a.png"
    image.write_bytes(b"")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.json").write_text("{}")
    with pytest.raises(SystemExit):
        amg_command.main(["--image", str(image), "--out", str(tmp_path / "out")])
    line = capsys.readouterr().err.strip()
    assert line.endswith("already exists: pass --overwrite to replace it, or give another --out")
    assert (tmp_path / "out" / "a.json").read_text() == "{}"
