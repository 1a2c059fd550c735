"""Demo data generated where its pictures cannot be written (RLIMIT_FSIZE in a child process: the
kernel's EFBIG, no root needed): one line naming the root, exit 2, nothing left behind. Before,
cv2.imwrite returned False unnoticed and a marked set of missing pictures was left."""

import os
import subprocess
import sys

GENERATE = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))  # the marker fits, a picture does not
from samhq_train.data.{module} import {function}
from samhq_train.errors import exit_on_user_error
exit_on_user_error({function})(sys.argv[1], **{kwargs})
"""


def _generate(root, module: str, function: str, kwargs: dict) -> subprocess.CompletedProcess:
    code = GENERATE.format(module=module, function=function, kwargs=kwargs)
    return subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True)


def _check_one_line_and_nothing_left(done, root):
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"error: the file outgrew the size limit for files writing {root}: the limit is 2.0 kB "
        "(ulimit -f); nothing is left behind (no earlier file was there): raise the limit (or "
        "write to another file system) and run again\n"
    )
    assert os.listdir(root.parent) == []


def test_demo_data_past_the_size_limit_is_one_line(tmp_path):
    root = tmp_path / "data" / "demo"
    root.parent.mkdir()
    kwargs = dict(num_train=2, num_val=1, height=96, width=128, seed=0)
    _check_one_line_and_nothing_left(_generate(root, "demo", "ensure_demo_data", kwargs), root)


def test_concept_demo_data_past_the_size_limit_is_one_line(tmp_path):
    root = tmp_path / "data" / "concepts"
    root.parent.mkdir()
    kwargs = dict(num_train=2, num_val=1, size=256)
    done = _generate(root, "demo_concepts", "ensure_concept_demo", kwargs)
    _check_one_line_and_nothing_left(done, root)
