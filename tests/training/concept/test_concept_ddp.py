"""Concept fine-tuning under DDP (trainer=ddp_sim: 2 CPU processes, gloo) on the SAM 3 miniature
with a drawn detector (policy detector, dropout off: a batch of 2 and 2 processes of 1 cannot
draw the same dropout masks), 2 training images, 3 validation images (3 datapoints: shares of
2 and 1), 2 epochs.

- Two processes of batch 1 train the weights one process of batch 2 trains when that run's loss
  is scaled by 1 / sqrt(2): Meta's loss (ours too) is summed per process over the instance count
  averaged over the processes and scaled by sqrt(this process's query count), and DDP averages
  the gradients, so N processes give 1 / sqrt(N) times the gradient of one process with N times
  the batch (test_concept_ddp_loss.py shows it term by term on Meta's loss). The recipe clips
  the gradient's norm to 0.1, so where it clips (every step of a real run) the two are the same
  run; AdamW nearly ignores the factor elsewhere.
- Each training step of the 2-process run calls 2 collectives from Python, the loss's
  all-reduce of the instance count and the divergence check's of the loss (a failed batch is
  told through them); the 1-process run's steps none.
- Validation (text and exemplar prompts, data.val_exemplars): the losses and box APs of the
  2-process run are the 1-process run's (shares of 2 and 1 datapoints, the detections
  gathered); rank 0 alone writes last.ckpt, best.ckpt and the
  export, each when the 1-process run does.
- A run resumed from the epoch-1 checkpoint under 2 processes ends bit for bit as the
  uninterrupted 2-process run (each process's random states restored).
- A training image that only one process reads, cut short: both processes stop at that step in
  one line each (exit 2), neither waits for the other.
- A full disk on rank 0 when it writes the second last.ckpt: both processes stop at that write
  in one line each (exit 2), rank 0's naming the command that resumes from the first, which is
  left whole (atomic writes), with no temporary beside it."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from samhq_train.data.demo_concepts import ensure_concept_demo
from tests.ddp_launch import run_launch
from tests.model.sam3.concept.ours_file import write_sam3_with_detector
from tests.training.collective_counts import step_collectives
from tests.training.ddp_faults import check_full_disk_stop

ROOT = Path(__file__).resolve().parents[3]
DRIVER = Path(__file__).with_name("ddp_driver.py")
COMMON = [
    "concept.policy=detector", "trainer.max_epochs=2", "trainer.deterministic=true",
    "data.num_workers=0", "data.val_categories_per_datapoint=null", "data.val_exemplars=true",
    "trainer.check_val_every_n_epoch=2", "validate_before_training=false",
    # no warm-up: the weights move by ~lr; a cool-down over the run's steps: a wrong step count
    # per epoch would change every lr
    "concept.scheduler_warmup=0", "concept.scheduler_cooldown=2",
]
DDP = ["trainer=ddp_sim"]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("concept_ddp_files")
    checkpoint, merges = write_sam3_with_detector(folder)
    data = ensure_concept_demo(folder / "data", num_train=2, num_val=3, size=64, seed=0)
    return {"checkpoint": str(checkpoint), "merges": str(merges), "data": str(data)}


def launch(out: Path, files: dict, overrides: list[str], loss_scale: float = 1.0,
           dropout: bool = False, check: bool = True, full_disk_rank: int | None = None,
           rank_0_exit_delay: float = 0.0, bug_rank: int | None = None,
           ) -> subprocess.CompletedProcess:
    out.mkdir(parents=True)
    spec = out / "spec.json"
    spec.write_text(json.dumps({"out": str(out), "files": files, "no_dropout": not dropout,
                                "overrides": overrides, "loss_scale": loss_scale,
                                "full_disk_rank": full_disk_rank,
                                "rank_0_exit_delay": rank_0_exit_delay,
                                "bug_rank": bug_rank}))
    result = run_launch([sys.executable, str(DRIVER), str(spec)], cwd=ROOT, timeout=400,
                        ddp=DDP[0] in overrides)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def weights(out: Path, rank: int = 0) -> dict[str, torch.Tensor]:
    return torch.load(out / f"weights_rank{rank}.pt", weights_only=True)


def results(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a
               if a[k].is_floating_point())


@pytest.fixture(scope="module")
def runs(tmp_path_factory, files) -> dict[str, Path]:
    """one: 1 process, batch 2, loss / sqrt(2); two: 2 processes, batch 1 (both without
    dropout); dropout: as two with dropout; resumed: that run resumed from its epoch-1
    checkpoint."""
    folder = tmp_path_factory.mktemp("concept_ddp_runs")
    launch(folder / "one", files, [*COMMON, "data.batch_size=2"], loss_scale=2 ** -0.5)
    launch(folder / "two", files, [*COMMON, *DDP])
    launch(folder / "dropout", files, [*COMMON, *DDP], dropout=True)
    epoch1 = folder / "dropout" / "checkpoints" / "epoch1.ckpt"
    launch(folder / "resumed", files, [*COMMON, *DDP, f"ckpt_path={epoch1}"], dropout=True)
    return {name: folder / name for name in ("one", "two", "dropout", "resumed")}


@pytest.mark.slow
def test_two_processes_train_what_one_process_with_twice_the_batch_trains(runs, files):
    one, two = runs["one"], runs["two"]
    assert results(one)["global_step"] == results(two)["global_step"] == 2
    assert max_difference(weights(two, 0), weights(two, 1)) == 0.0  # DDP's replicas
    start = torch.load(files["checkpoint"], weights_only=True)
    trained = weights(one)
    moved = max_difference({k: trained[k] for k in start if k.startswith("detector.")},
                           {k: v for k, v in start.items() if k.startswith("detector.")})
    assert moved > 5e-4  # the demo's lr 1e-3, halved by the cool-down at the first step
    # the first step's gradient (DDP's average in two): fp32 rounding apart, the same
    grads = [torch.load(run / "grads_rank0.pt", weights_only=True) for run in (one, two)]
    assert grads[0].keys() == grads[1].keys()
    scale = max(float(g.abs().max()) for g in grads[0].values())
    assert max_difference(*grads) < 1e-6 * scale  # measured: 2e-7
    # AdamW turns a gradient that is 0 but for rounding (a softmax is blind to the bias of its
    # keys, as of the box-RPB's last layer) into an update of up to ~lr x rounding / eps: such
    # weights move by ~1e-5 in both runs, apart by as much; every other weight within 5e-6
    assert max_difference(weights(one), weights(two)) < 2e-5


@pytest.mark.slow
def test_a_training_step_calls_the_loss_all_reduces_alone(runs):
    for rank in (0, 1):
        assert step_collectives(runs["two"], rank) == [{"all_reduce": 2}] * 2
    assert step_collectives(runs["one"], 0) == [{}] * 2


@pytest.mark.slow
def test_validation_and_writes_are_those_of_one_process(runs):
    one, two = results(runs["one"]), results(runs["two"])
    assert one["metrics"]["after"].keys() == two["metrics"]["after"].keys()
    for name, value in one["metrics"]["after"].items():
        assert two["metrics"]["after"][name] == pytest.approx(value, rel=1e-5, abs=1e-7), name
    after = one["metrics"]["after"]  # box AP not 0: the detections take the GT boxes (driver)
    assert after["box_AP"] > 0.05 and after["exemplar_box_AP"] > 0.05  # data.val_exemplars
    # the last validation's detections, the 2-process run's gathered from both processes
    for prompts in ("text", "exemplar"):
        detections = [sorted((d["image_id"], d["category_id"], d["score"], *d["bbox"])
                             for d in run["detections"][prompts]) for run in (one, two)]
        assert len(detections[0]) == len(detections[1]) > 0
        assert {d[0] for d in detections[0]} == {d[0] for d in detections[1]} == {1, 2, 3}
        for ours, theirs in zip(*detections):
            assert ours[:2] == theirs[:2]
            assert max(abs(a - b) for a, b in zip(ours[2:], theirs[2:])) < 1e-4  # px, score
    writes = [(runs[n] / "writes.txt").read_text().splitlines() for n in ("one", "two")]
    assert writes[0] == writes[1]
    assert sorted(writes[1]) == ["0 best.ckpt", "0 last.ckpt", "0 last.ckpt",
                                 "0 sam3_hq_demo_concept.pt"]


def checkpoint_state(path: Path) -> tuple[dict, dict]:
    state = torch.load(path, weights_only=False, map_location="cpu")
    return state["state_dict"], state["optimizer_states"][0]["state"]


@pytest.mark.slow
def test_resumed_two_process_run_equals_the_uninterrupted_one(runs):
    two, resumed = runs["dropout"], runs["resumed"]
    assert results(resumed)["global_step"] == 2
    for rank in (0, 1):
        assert max_difference(weights(two, rank), weights(resumed, rank)) == 0.0
    (straight, moments), (again, moments_again) = (
        checkpoint_state(run / "checkpoints" / "last.ckpt") for run in (two, resumed))
    assert max_difference(straight, again) == 0.0
    for index, state in moments.items():
        for key in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(state[key], moments_again[index][key])
    assert results(resumed)["metrics"]["after"] == results(two)["metrics"]["after"]


@pytest.mark.slow
def test_an_image_one_process_cannot_read_stops_both_in_a_line(tmp_path, files):
    data = Path(shutil.copytree(files["data"], tmp_path / "data"))
    for image in (data / "train").glob("0001.jpg"):
        image.write_bytes(image.read_bytes()[: image.stat().st_size // 2])
    bad = dict(files, data=str(data))
    # rank 0 leaves 1 s after its line, Lightning's watch looks every 0.2 s (the driver): the
    # run's status is still rank 0's own, not the watch's SIGKILL (-9)
    result = launch(tmp_path / "run", bad, [*COMMON, *DDP], check=False, rank_0_exit_delay=1.0)
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 2 and "Traceback" not in result.stderr, result.stderr[-3000:]
    own = next(ln for ln in lines if "stopped" not in ln)
    assert own.startswith(f"error: cannot read image file {data / 'train' / '0001.jpg'}")
    other = next(ln for ln in lines if "stopped" in ln)
    assert other.startswith("error: rank ") and own.removeprefix("error: ") in other


@pytest.mark.slow
def test_a_bug_in_rank_1_leaves_the_run_rank_0s_status(tmp_path, files):
    """Rank 1 dies of a bug at a step both take together (its traceback, status 1); rank 0 stops
    with its line, leaving 1 s later, watched every 0.2 s (the driver): rank 1 leaves after it,
    so the run's status is rank 0's, not the watch's SIGKILL (-9)."""
    result = launch(tmp_path / "run", files, [*COMMON, *DDP], check=False, bug_rank=1,
                    rank_0_exit_delay=1.0)
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert lines == ["error: rank 1 stopped: RuntimeError: a bug on rank 1 (a bug: see its "
                     "traceback)"], result.stderr[-3000:]
    assert result.stderr.count("Traceback (most recent call last):") == 1  # rank 1's, once
    assert result.stderr.count("\nRuntimeError: a bug on rank 1\n") == 1


@pytest.mark.slow
def test_a_full_disk_on_rank_0_stops_both_in_a_line_and_keeps_the_last_checkpoint(
        tmp_path, files):
    out = tmp_path / "run"
    result = launch(out, files, [*COMMON, *DDP], check=False, full_disk_rank=0)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    check_full_disk_stop(lines, out / "checkpoints" / "last.ckpt")
