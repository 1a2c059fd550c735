"""samhq-make-demo-base refuses options that cannot work in one line naming the flag, before the
model is built or any data made; an existing --out is not replaced without --overwrite (the
variant's own file under data/demo_base/ is what the command remakes)."""

from pathlib import Path

import pytest

from samhq_train.cli import make_demo_base
from samhq_train.errors import SETUP_ERROR_EXIT


def not_reached(*args, **kwargs):
    raise AssertionError("training started before the options were checked")


@pytest.fixture(autouse=True)
def no_training(monkeypatch):
    # main() imports it when the options passed (deferred: no albumentations for a refusal)
    monkeypatch.setattr("samhq_train.training.demo_base.train_demo_base", not_reached)


def error_line(argv, capsys) -> str:
    with pytest.raises(SystemExit) as info:
        make_demo_base.main(argv)
    assert info.value.code == SETUP_ERROR_EXIT
    (line,) = capsys.readouterr().err.strip().splitlines()
    return line


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--steps", "0"], "error: --steps 0: give a number of steps >= 1"),
        (["--steps", "-1"], "error: --steps -1: give a number of steps >= 1"),
        (["--batch-size", "0"], "error: --batch-size 0: give a batch size >= 1"),
        (["--lr", "-1"], "error: --lr -1.0: give a learning rate > 0"),
        (["--lr", "nan"], "error: --lr nan: give a learning rate > 0"),
        (["--eval-every", "0"], "error: --eval-every 0: give a number of steps >= 1"),
        (["--num-val", "-1"], "error: --num-val -1: give a number of images >= 1"),
        (["--num-images", "0"], "error: --num-images 0: give a number of images >= 1"),
        (["--warmup", "-5"], "error: --warmup -5: give a number of steps >= 0"),
        (["--num-images", "4", "--batch-size", "8"], "error: --num-images 4 is fewer than one "
         "batch (--batch-size 8): give more images or a smaller batch"),
        (["--steps", "10", "--stop-at", "11"], "error: --stop-at 11: give a step from 1 to "
         "--steps (10)"),
        (["--scale-range", "1.2", "0.8"], "error: --scale-range 1.2 0.8: give two scale factors "
         "0 < low <= high"),
        (["--threads", "-2"], "error: --threads -2: give a number >= 0"),
        (["--variant", "vit_x"], "error: --variant vit_x: not a model variant; give one of "),
        (["--init", "{tmp}/none.pt"], "error: --init {tmp}/none.pt: file not found"),
        (["--out", "{tmp}"], "error: --out {tmp} is a folder; give the file to write"),
        (["--out", "{tmp}/taken.pt"], "error: --out {tmp}/taken.pt already exists: pass "
         "--overwrite to replace it, or give another --out"),
        (["--out", "{tmp}/taken.pt/x.pt"], "error: --out's folder={tmp}/taken.pt is a file"),
    ],
)
def test_bad_option_is_one_line_naming_the_flag(tmp_path, capsys, argv, message):
    (tmp_path / "taken.pt").write_text("the user's own file")
    argv = [a.format(tmp=tmp_path) for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "new.safetensors")]
    line = error_line(argv, capsys)
    assert line.startswith(message.format(tmp=tmp_path)), line
    assert (tmp_path / "taken.pt").read_text() == "the user's own file"


def test_overwrite_and_the_default_file_are_allowed(tmp_path, monkeypatch):
    (tmp_path / "taken.pt").write_text("x")
    settings, _ = make_demo_base.parse_args(["--out", str(tmp_path / "taken.pt"), "--overwrite"])
    assert settings.out == tmp_path / "taken.pt"
    monkeypatch.chdir(tmp_path)  # the default file exists: remade in place, as documented
    default = Path("data/demo_base/vit_demo_base.safetensors")
    default.parent.mkdir(parents=True)
    default.write_text("x")
    settings, _ = make_demo_base.parse_args([])
    assert settings.out == default
