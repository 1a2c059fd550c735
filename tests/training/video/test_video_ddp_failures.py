"""Video fine-tuning under DDP (trainer=ddp_sim: 2 CPU processes, gloo; the SAM 2.1 miniature,
2 clips of 3 frames of 64 px, 1 step an epoch) when one process meets a fault: a frame cut in half
in its share of the training clips (found when read, at the first step), in its validation
sequence (before training; read in a loader worker), or a full disk on rank 0 at the second
last.ckpt. Every process stops at that point with one line (the failing one its own error, the
other `rank N stopped: ` and the same words), exit 2, no traceback, and none waits for the other
(each run's timeout kills its process group). And a validation of 3 sequences by 2 processes
(shares of 2 and 2: Lightning's DistributedSampler repeats one; stand-in scores, the tracking is
tested elsewhere) gives every process the J&F of the 3 sequences, each once; its training step
calls 2 collectives from Python in each process, the loss's all-reduce of the object count and
the divergence check's of the loss (a failed clip is told through them): the full-disk run
validates so before training (its steps run on). The three runs go side by side."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from samhq_train.data.moving_shapes import write_moving_shapes
from samhq_train.evaluation.video.scores import ObjectScore, SequenceScore, overall_score
from tests.ddp_launch import start_launch, stop_lines
from tests.training.collective_counts import step_collectives
from tests.training.ddp_faults import check_full_disk_stop

ROOT = Path(__file__).resolve().parents[3]
DRIVER = Path(__file__).with_name("ddp_driver.py")
DDP = ["trainer=ddp_sim", "trainer.limit_train_batches=1", "data.batch_size=1",
       "video.freeze_image_encoder=true", "export=false"]
TIMEOUT_S = 300  # a run that hangs in a collective is killed after this


def cut_in_half(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def middle_frame(root: Path, video: int) -> Path:
    """Frame 2 of 5: in every 3-frame clip of that video."""
    folder = sorted((root / "JPEGImages").iterdir())[video]
    return sorted(folder.glob("*.jpg"))[2]


def start(out: Path, overrides: list[str], full_disk_rank: int | None = None,
          scores: dict | None = None) -> subprocess.Popen:
    out.mkdir(parents=True)
    spec = out / "spec.json"
    spec.write_text(json.dumps({"out": str(out), "overrides": [*DDP, *overrides],
                                "full_disk_rank": full_disk_rank, "scores": scores}))
    return start_launch([sys.executable, str(DRIVER), str(spec)], cwd=ROOT)



@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("video_ddp_faults")
    clean = write_moving_shapes(folder / "clean", num_videos=2, num_frames=5, size=64,
                                num_objects=2)
    cut = Path(shutil.copytree(clean, folder / "cut"))
    frame = middle_frame(cut, 1)
    cut_in_half(frame)
    three = write_moving_shapes(folder / "three", num_videos=3, num_frames=5, size=64,
                                num_objects=2, seed=7)
    no_val = "data.val_root=null"
    return {
        # each process trains on one of the two clips (shuffled): one of them reads the frame
        "train": (frame, start(folder / "train", [f"data.root={cut}", no_val,
                                                  "trainer.max_epochs=1"])),
        # the validation shares go by index: sequence 1 is rank 1's; read by a loader worker
        "val": (frame, start(folder / "val", [f"data.root={clean}", f"data.val_root={cut}",
                                              "validate_before_training=true",
                                              "data.val_sequences=2",
                                              "data.num_workers=1"])),
        # one validation, before training (none in the fit), then a full disk on rank 0 at the
        # second last.ckpt
        "disk": (folder / "disk", start(folder / "disk", [
            f"data.root={clean}", f"data.val_root={three}", "data.val_sequences=null",
            "validate_before_training=true", "trainer.max_epochs=2",
            "trainer.check_val_every_n_epoch=3"], full_disk_rank=0, scores=STAND_IN_SCORES)),
    }


# J, F per sequence (percent): rank 0 validates shapes000 and shapes002, rank 1 shapes001 and
# shapes000 again; neither share's mean is the whole set's
STAND_IN_SCORES = {"shapes000": [20.0, 30.0], "shapes001": [40.0, 50.0],
                   "shapes002": [90.0, 70.0]}


def reason_for(frame: Path) -> str:
    """A training clip's and a validation sequence's frame alike is read as a video frame
    (replaced, not removed: data.video_clips.read_frame_image)."""
    return f"cannot read frame file {frame}: {frame.name} is truncated (JPEG end marker missing)"


@pytest.mark.slow
def test_a_training_frame_one_process_cannot_read_stops_both_in_a_line(runs):
    frame, process = runs["train"]
    lines = stop_lines(process, TIMEOUT_S)
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"error: {reason_for(frame)}"), lines
    reason = lines[0].removeprefix("error: ")
    assert lines[1] in [f"error: rank {r} stopped: {reason}" for r in (0, 1)], lines


@pytest.mark.slow
def test_a_validation_frame_one_process_cannot_read_stops_both_in_a_line(runs):
    frame, process = runs["val"]
    lines = stop_lines(process, TIMEOUT_S)
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"error: {reason_for(frame)}"), lines
    assert lines[1] == f"error: rank 1 stopped: {lines[0].removeprefix('error: ')}", lines


@pytest.fixture(scope="module")
def disk_run_lines(runs) -> list[str]:
    """The `error:` lines of the full-disk run (stop_lines: exit 2, no traceback)."""
    return stop_lines(runs["disk"][1], TIMEOUT_S)


@pytest.mark.slow
def test_a_full_disk_on_rank_0_stops_both_in_a_line_and_keeps_the_last_checkpoint(
        runs, disk_run_lines):
    check_full_disk_stop(disk_run_lines, runs["disk"][0] / "checkpoints" / "last.ckpt")


@pytest.mark.slow
def test_every_process_validates_to_the_j_and_f_of_the_whole_set(runs, disk_run_lines):
    out = runs["disk"][0]
    figures = [json.loads((out / f"validations_rank{r}.json").read_text())
               for r in (0, 1)]
    whole = overall_score([SequenceScore(name, {1: ObjectScore(j, f, 1)}, frames=1)
                           for name, (j, f) in STAND_IN_SCORES.items()])
    for figure in figures:  # J 50, F 50 (rank 0's share alone: 55, 50; rank 1's: 30, 40)
        assert figure == [pytest.approx({"J&F": whole.jf, "J": whole.j, "F": whole.f},
                                        abs=1e-9)]
    assert whole.j == pytest.approx(50.0) and whole.f == pytest.approx(50.0)
    for rank in (0, 1):  # its two training steps (one an epoch)
        assert step_collectives(out, rank) == [{"all_reduce": 2}] * 2
