"""An image that one process of a DDP image-training run (2 CPU processes, gloo) cannot read, cut
in half in the middle of its set and found only when loaded: both processes stop (in training at
that step, in validation at its end), each with one line, the failing one naming the file and
what to do, the other the failing rank and the same words; exit 2, no traceback, no hang (the
run's timeout). The two runs go side by side."""

import subprocess
import sys

import pytest

from samhq_train.data import ensure_demo_data
from tests.ddp_launch import start_launch, stop_lines
from tests.training.helpers import ROOT, SMALL, TINY

QUICK = [
    "trainer.max_epochs=1", "validate_before_training=false", "export=false", "num_overlays=0",
]
SKIP_HINT = "(data.check_images=full checks every image before the run starts)"


def cut_in_half(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def start(out, data, *overrides) -> subprocess.Popen:
    command = [
        sys.executable, "train.py", "trainer=ddp_sim", f"hydra.run.dir={out}",
        f"paths.output_dir={out}", f"data.root={data}", *SMALL, *TINY, *QUICK, *overrides,
    ]
    return start_launch(command, cwd=ROOT)



@pytest.mark.slow
def test_an_image_one_process_cannot_read_stops_every_process_in_one_line_each(tmp_path):
    runs = {}
    for stage in ("train", "val"):  # the demo set: 8 training images, 2 validation images
        data = ensure_demo_data(tmp_path / stage / "data", num_train=8, num_val=2, height=96,
                                width=128)
        image = data / stage / "images" / ("0004.jpg" if stage == "train" else "0001.jpg")
        cut_in_half(image)
        # strict training: a bad training file is an error (by default skipped, with a warning)
        extra = "data.strict_train=true" if stage == "train" else "trainer.limit_train_batches=1"
        runs[stage] = image, start(tmp_path / stage / "run", data, extra)
    for stage, (image, process) in runs.items():
        lines = stop_lines(process, 300)
        key = "data.strict_train" if stage == "train" else "data.strict_eval"
        reason = (
            f"cannot read image file {image}: {image.name} is truncated (JPEG end marker "
            f"missing); re-download or remove it; or set {key}=false to skip bad files "
            f"{SKIP_HINT}"
        )
        assert len(lines) == 2, lines
        assert lines[0] == f"error: {reason}"
        # validation shares go by index (rank r: images r, r + 2, ...): 0001.jpg is rank 1's;
        # the training shares are shuffled
        ranks = (0, 1) if stage == "train" else (1,)
        assert lines[1] in [f"error: rank {r} stopped: {reason}" for r in ranks], lines
    # training stopped in its first epoch: no process went on to write an epoch's checkpoint
    assert not (tmp_path / "train" / "run" / "checkpoints" / "last.ckpt").exists()
