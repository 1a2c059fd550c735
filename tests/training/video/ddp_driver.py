"""A short video fine-tune for the DDP tests (test_video_ddp_failures.py), as a script:
Lightning's DDP launch runs this file again for each further process, so a fault put into the
run here is put into every process.

    python tests/training/video/ddp_driver.py SPEC.json

SPEC: {"out": run folder, "overrides": [...] after test_video_run.SHORT, "full_disk_rank": a
global rank whose disk is full for every write of last.ckpt after the first, or null}. The run
is train(cfg) behind the command line's error handling (exit 2 and one `error:` line per
process), the process group ended as the command ends it."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from hydra import compose, initialize_config_dir  # noqa: E402

from samhq_train.distributed import end_process_group, exit_on_setup_error  # noqa: E402
from samhq_train.train import train  # noqa: E402
from tests.training.ddp_faults import full_disk_on_rank  # noqa: E402
from tests.training.helpers import CONF  # noqa: E402
from tests.training.video.test_video_run import SHORT  # noqa: E402


def train_and_end(cfg) -> None:
    train(cfg)
    end_process_group()


def main(spec: dict) -> None:
    if spec.get("full_disk_rank") is not None:
        full_disk_on_rank(spec["full_disk_rank"])
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[f"paths.output_dir={spec['out']}", *SHORT,
                                          *spec["overrides"]])
    exit_on_setup_error(train_and_end)(cfg)


if __name__ == "__main__":
    main(json.loads(Path(sys.argv[1]).read_text()))
