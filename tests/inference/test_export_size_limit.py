"""samhq-export and samhq-predict under a file size limit (RLIMIT_FSIZE in a child process: the
kernel's EFBIG, no root needed): one line naming the file, exit 2, nothing left behind, an
earlier file intact. torch.onnx writes its graph itself (not through atomic_write)."""

import os
import subprocess
import sys

import pytest

LIMITED = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
module = sys.argv[2]
sys.argv = [module, *sys.argv[3:]]
from samhq_train.errors import command_entry
sys.exit(command_entry(module)())
"""


def _run_limited(limit: int, module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", LIMITED, str(limit), module, *args], capture_output=True, text=True
    )


def test_an_onnx_export_past_the_size_limit_is_one_line(tiny_weights, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    done = _run_limited(
        50_000, "samhq_train.cli.export", "--checkpoint", str(tiny_weights), "--to", "onnx",
        "--out", str(out),
    )
    assert done.returncode == 2, done.stderr
    target = out / "sam_hq_vit_demo_decoder.onnx"
    assert done.stderr.splitlines()[-1] == (
        f"error: the file outgrew the size limit for files writing {target}: the limit is 50.0 kB "
        "(ulimit -f); "
"nothing is left behind (no earlier file was there): raise the limit (or write to another "
        "file system) and run again"
    )
    assert "Traceback" not in done.stderr
    assert os.listdir(out) == ["notes.txt"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_predict_past_the_size_limit_is_one_line(tiny_files, tmp_path, overwrite):
    out = tmp_path / "pred"
    out.mkdir()
    earlier = out / "a_overlay.png"
    if overwrite:
        earlier.write_bytes(b"an earlier overlay")
    args = ["--checkpoint", str(tiny_files["full"]), "--box", "5", "5", "60", "60", "--out",
            str(out), str(tiny_files["images"] / "a.png"), *(["--overwrite"] if overwrite else [])]
    # the mask (a few hundred bytes) fits, its overlay does not
    done = _run_limited(1000, "samhq_train.cli.predict", *args)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    line = done.stderr.splitlines()[-1]
    assert line.startswith("error: the file outgrew the size limit for files writing "), line
    assert "the limit is 1.0 kB (ulimit -f)" in line and line.endswith("; no image was finished")
    if overwrite:
        assert earlier.read_bytes() == b"an earlier overlay"
    assert sorted(os.listdir(out)) == (["a_overlay.png"] if overwrite else [])
