"""scripts/check_parity.py given a checkpoint it cannot use (missing, of another variant) or an
image it cannot read: one `error:` line and exit status 2, as the commands (it was a traceback)."""

import runpy
import sys

import pytest

from tests.script_modules import SCRIPTS


@pytest.mark.parametrize("what", ["checkpoint", "image"])
def test_a_file_it_cannot_use_is_one_error_line(tmp_path, monkeypatch, capsys, what):
    missing = tmp_path / "missing.pth"
    checkpoint = missing if what == "checkpoint" else SCRIPTS.parent / "data" / "demo_base" / (
        "vit_demo_base.safetensors")
    args = ["--variant", "vit_demo_base", "--checkpoint", str(checkpoint), "--device", "cpu"]
    if what == "image":
        args += ["--image", str(tmp_path / "missing.png")]
    monkeypatch.setattr(sys, "argv", [str(SCRIPTS / "check_parity.py"), *args])
    monkeypatch.syspath_prepend(str(SCRIPTS))
    with pytest.raises(SystemExit) as info:
        runpy.run_path(str(SCRIPTS / "check_parity.py"), run_name="__main__")
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.count("\n") == 1 and err.startswith("error: "), err
    assert str(tmp_path / "missing") in err
