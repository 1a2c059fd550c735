"""A concept fine-tune for the DDP tests (test_concept_ddp.py), as a script: Lightning's DDP
launch runs this file again for each further process, so what a test changes in the run is
changed here, in every process.

    python tests/training/concept/ddp_driver.py SPEC.json

The validation's detections take the GT boxes (detections_on_the_gt), so that box AP counts.

SPEC: {"out": run folder, "files": {checkpoint, merges, data: a concept demo's root},
"overrides": [...], "no_dropout": bool, "loss_scale": float (times the training loss),
"full_disk_rank": a global rank whose disk is full for every write of last.ckpt after the
first, "bug_rank": a global rank whose first checkpoint write raises a RuntimeError (a bug),
"rank_0_exit_delay": seconds rank 0 takes to leave after its error line}. Lightning's
watch over the processes looks every 0.2 s (watch_ranks_closely). The run
is train(cfg) behind the command line's error handling (exit 2 and one `error:` line per
process). Each process writes <out>/weights_rank<r>.pt (its final weights),
<out>/grads_rank<r>.pt (the gradients of the first optimiser step),
<out>/collectives_rank<r>.json (each training step's collectives: collective_counts.py) and appends
"<rank> <file name>" to <out>/writes.txt for every checkpoint and export it writes; rank 0
copies the checkpoint written after epoch 1 to checkpoints/epoch1.ckpt (a point to resume from)
and writes the metrics, the step count and the last validation's detections (every process's,
{"text": [...], "exemplar": [...]}) to <out>/metrics.json."""

import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402

from samhq_train.distributed import (  # noqa: E402
    end_process_group,
    exit_on_setup_error,
    global_rank,
)
from samhq_train.model.sam3.concept.boxes import box_cxcywh_to_xyxy  # noqa: E402
from samhq_train.train import train  # noqa: E402
from samhq_train.training.checkpointing import AtomicCheckpointIO  # noqa: E402
from samhq_train.training.concept import run  # noqa: E402
from samhq_train.training.concept.module import ConceptTrainModule  # noqa: E402
from samhq_train.training.concept.validation import BoxDetections  # noqa: E402
from tests.training.collective_counts import count_step_collectives  # noqa: E402
from tests.training.concept.concept_run import SHORT  # noqa: E402
from tests.training.ddp_faults import bug_on_rank, full_disk_on_rank  # noqa: E402
from tests.training.helpers import CONF  # noqa: E402


def record_writes(out: Path) -> None:
    def note(path) -> None:
        with open(out / "writes.txt", "a") as f:
            f.write(f"{global_rank()} {Path(path).name}\n")

    save, export = AtomicCheckpointIO.save_checkpoint, run.export_whole_model

    def save_checkpoint(self, checkpoint, path, storage_options=None):
        note(path)
        return save(self, checkpoint, path, storage_options)

    def export_model(model, path, trained_hq):
        note(path)
        return export(model, path, trained_hq)

    AtomicCheckpointIO.save_checkpoint, run.export_whole_model = save_checkpoint, export_model


def change_the_module(no_dropout: bool, loss_scale: float) -> None:
    init, step, epoch_start, before_step = (
        ConceptTrainModule.__init__, ConceptTrainModule.training_step,
        ConceptTrainModule.on_train_epoch_start, ConceptTrainModule.on_before_optimizer_step)

    def __init__(self, model, **kwargs):
        init(self, model, **kwargs)
        if no_dropout:  # dropout draws cannot match between a batch of 2 and 2 processes
            for module in model.modules():
                if isinstance(module, torch.nn.Dropout):
                    module.p = 0.0
                elif isinstance(module, torch.nn.MultiheadAttention):
                    module.dropout = 0.0

    def training_step(self, batch, batch_idx):
        return step(self, batch, batch_idx) * loss_scale

    def on_train_epoch_start(self):
        last = Path(OUT) / "checkpoints" / "last.ckpt"
        if self.current_epoch == 1 and self.global_rank == 0 and last.is_file():
            shutil.copy(last, last.with_name("epoch1.ckpt"))
        epoch_start(self)

    def on_before_optimizer_step(self, optimizer):
        if self.global_step == 0:  # the first step's gradients (DDP's average, not clipped)
            torch.save({n: p.grad.clone() for n, p in self.model.named_parameters()
                        if p.grad is not None}, Path(OUT) / f"grads_rank{self.global_rank}.pt")
        before_step(self, optimizer)

    ConceptTrainModule.on_before_optimizer_step = on_before_optimizer_step
    ConceptTrainModule.__init__ = __init__
    ConceptTrainModule.training_step = training_step
    ConceptTrainModule.on_train_epoch_start = on_train_epoch_start


def detections_on_the_gt() -> None:
    """The validation's detections (text and exemplar) take a query's GT boxes in its first
    slots, the model's scores kept: box AP is then not 0 on random weights, so an AP missing a
    process's share of the images would differ from the one-process run's."""
    add_batch = BoxDetections.add_batch

    def on_the_gt(self, outputs, batch):
        boxes = outputs["pred_boxes_xyxy"].clone()
        for q, count in enumerate(batch.targets.num_boxes.tolist()):
            boxes[q, :count] = box_cxcywh_to_xyxy(batch.targets.boxes_padded[q, :count])
        return add_batch(self, dict(outputs, pred_boxes_xyxy=boxes), batch)

    BoxDetections.add_batch = on_the_gt


def train_and_gather(cfg):
    """train(cfg) as the command runs it, the process group ended as the command ends it, after
    every process's validation detections are gathered."""
    metrics, objects = train(cfg)
    module = objects["module"]
    detections = {"text": module.val_detections.gathered().coco_results(),
                  "exemplar": module.val_exemplar_detections.gathered().coco_results()}
    end_process_group()
    return metrics, objects, detections


def watch_ranks_closely() -> None:
    """Lightning's watch over the further processes (a thread of rank 0 that SIGKILLs every
    process once one has exited non-zero) looks every 0.2 s, not 5 s: a run whose rank 0 leaves
    after another rank shows what that watch does to its exit status."""
    from lightning.fabric.strategies.launchers import subprocess_script

    observer = subprocess_script._ChildProcessObserver
    init = observer.__init__

    def __init__(self, main_pid, child_processes, sleep_period=5):
        init(self, main_pid, child_processes, sleep_period=0.2)

    observer.__init__ = __init__


def main(spec: dict) -> None:
    out = Path(spec["out"])
    record_writes(out)
    change_the_module(spec.get("no_dropout", False), spec.get("loss_scale", 1.0))
    count_step_collectives(ConceptTrainModule, out)
    if spec.get("full_disk_rank") is not None:
        full_disk_on_rank(spec["full_disk_rank"])
    if spec.get("bug_rank") is not None:
        bug_on_rank(spec["bug_rank"])
    detections_on_the_gt()
    watch_ranks_closely()
    files = spec["files"]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[
            "experiment=concept_demo", f"paths.output_dir={out}",
            f"model.checkpoint={files['checkpoint']}", f"concept.bpe={files['merges']}",
            f"data.root={files['data']}", "data.concept_demo=null",
            *[s for s in SHORT if not s.startswith("data.concept_demo")], *spec["overrides"]])
    try:
        metrics, objects, detections = exit_on_setup_error(train_and_gather)(cfg)
    except SystemExit:  # rank 0 on its way out after its line (e.g. a slow teardown)
        if os.environ.get("LOCAL_RANK", "0") == "0":
            time.sleep(spec.get("rank_0_exit_delay", 0.0))
        raise
    rank = objects["trainer"].global_rank
    torch.save(objects["model"].state_dict(), out / f"weights_rank{rank}.pt")
    if rank == 0:
        (out / "metrics.json").write_text(json.dumps(
            {"metrics": metrics, "global_step": objects["trainer"].global_step,
             "detections": detections}))


if __name__ == "__main__":
    SPEC = json.loads(Path(sys.argv[1]).read_text())
    OUT = SPEC["out"]
    main(SPEC)
