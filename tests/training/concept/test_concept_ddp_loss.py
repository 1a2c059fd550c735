"""The concept loss and the validation's detections in a 2-process gloo group (spawned processes),
beside Meta's Sam3LossWrapper at the recipe's settings ("global" normalisation,
scale_by_find_batch_size):

- in each process ours equals Meta's (the total within 1e-6 relative, its gradients wrt every
  output tensor too) on that process's 3 queries, with 6 and 5 instances in the two processes;
- what DDP then averages: each process's gradient is sqrt(2) times that of one process holding
  both processes' queries (Meta's and ours alike): per process, the sums over its instances are
  divided by the instance count averaged over the processes, the score terms averaged over its
  own queries, the total times sqrt(its query count); DDP divides the sum of the processes'
  gradients by 2. So Meta's 2-GPU run is the 1-GPU run with twice the batch, its gradient times
  1 / sqrt(2) (where the recipe's 0.1 gradient clipping acts, the same step);
- the detections each process found on its share (one image's two category chunks split
  between them), gathered, are those one process finds on all: every image's top
  max_per_image."""

import json
import traceback

import numpy as np
import pytest
import torch
import torch.distributed as dist

from samhq_train.data.concept_targets import ConceptTargets
from samhq_train.training.concept.loss import (
    CORE_LOSS,
    ConceptLossSettings,
    concept_detection_loss,
)
from samhq_train.training.concept.validation import BoxDetections
from tests.ddp_launch import fork_server

from .concept_loss_case import (
    clone_outputs,
    make_outputs,
    make_targets,
    meta_loss_wrapper,
    meta_step_loss,
    meta_targets,
    output_leaves,
)

pytest.importorskip("sam3.train.loss.sam3_loss")

COUNTS = [[3, 0, 2], [1, 4, 1]]  # instances of each query, per process
WORLD = len(COUNTS)


def targets_of(whole: ConceptTargets, rows: range) -> ConceptTargets:
    """The queries `rows` of a batch's targets, as a batch of their own."""
    offsets = torch.cumsum(whole.num_boxes, 0) - whole.num_boxes
    packed = torch.cat([torch.arange(offsets[r], offsets[r] + whole.num_boxes[r]) for r in rows])
    num_boxes = whole.num_boxes[list(rows)]
    padded = whole.boxes_padded[list(rows), : int(num_boxes.max())]
    return ConceptTargets(num_boxes, whole.boxes[packed], padded, None, None,
                          whole.is_exhaustive[list(rows)], whole.object_ids[packed])


def outputs_of(outputs: dict, rows: range) -> dict:
    part = {k: v[list(rows)] for k, v in outputs.items() if k != "aux_outputs"}
    if "aux_outputs" in outputs:
        part["aux_outputs"] = [outputs_of(aux, rows) for aux in outputs["aux_outputs"]]
    return clone_outputs(part)


def losses_and_gradients(outputs: dict, targets: ConceptTargets, meta_wrapper=None):
    """(total, {leaf: gradient}) of ours (meta_wrapper None) or Meta's loss."""
    outputs = clone_outputs(outputs)
    if meta_wrapper is None:
        settings = ConceptLossSettings(normalize_over_processes=dist.get_world_size() > 1)
        total = concept_detection_loss(outputs, targets, settings)[CORE_LOSS]
    else:
        total = meta_step_loss(meta_wrapper, outputs, meta_targets(targets))[CORE_LOSS]
    total.backward()
    return float(total), {k: v.grad.clone() for k, v in output_leaves(outputs).items()}


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    scale = max(float(a.abs().max()), float(b.abs().max()), 1e-12)
    return float((a - b).abs().max()) / scale


def loss_figures(rank: int) -> dict:
    from sam3.train.loss import loss_fns

    plain = loss_fns.sigmoid_focal_loss
    loss_fns.sigmoid_focal_loss = lambda *a, **k: plain(*a, **dict(k, triton=False))
    whole = make_targets(COUNTS[0] + COUNTS[1])
    outputs = make_outputs(whole, num_aux=1)
    rows = range(3 * rank, 3 * rank + 3)
    mine_targets, mine_outputs = targets_of(whole, rows), outputs_of(outputs, rows)
    ours, ours_grads = losses_and_gradients(mine_outputs, mine_targets)
    meta, meta_grads = losses_and_gradients(mine_outputs, mine_targets, meta_loss_wrapper(False))
    # one process holding both processes' queries: its own instance count (Meta's "local")
    local = meta_loss_wrapper(False)
    local.normalization = "local"
    _, big_meta = losses_and_gradients(outputs, whole, local)
    figures = {"ours_vs_meta": abs(ours - meta) / abs(meta),
               "grads_ours_vs_meta": max(relative(ours_grads[k], meta_grads[k])
                                         for k in meta_grads),
               "grads_vs_big_batch_times_sqrt2": max(
                   relative(meta_grads[k], big_meta[k][list(rows)] * 2 ** 0.5)
                   for k in meta_grads),
               "grads_vs_big_batch": max(relative(meta_grads[k], big_meta[k][list(rows)])
                                         for k in meta_grads)}
    return figures


DATAPOINTS = [(1, (1, 2)), (1, (3, 4)), (2, (1, 2)), (2, (3, 4))]  # (image, categories)
SHARES = [[0, 2, 3], [1]]  # the datapoints of each process


def add_datapoint(found: BoxDetections, image_id: int, categories: tuple[int, int]) -> None:
    """6 random detections (3 per category) of a datapoint, the same in any process."""
    g = np.random.default_rng(10 * image_id + categories[0])
    found.add(image_id, np.array(categories * 3), g.random(6).astype(np.float32),
              g.random((6, 4)).astype(np.float32))


def detection_figures(rank: int) -> dict:
    mine = BoxDetections(max_per_image=4)
    for index in SHARES[rank]:
        add_datapoint(mine, *DATAPOINTS[index])
    one = BoxDetections(max_per_image=4)  # one process, every datapoint
    for datapoint in DATAPOINTS:
        add_datapoint(one, *datapoint)
    key = lambda d: (d["image_id"], -d["score"])  # noqa: E731
    gathered = sorted(mine.gathered().coco_results(), key=key)
    return {"detections_equal": gathered == sorted(one.coco_results(), key=key),
            "count": len(gathered)}


def _rank(rank: int, store: str, out: str) -> None:
    try:
        dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank,
                                world_size=WORLD)
        figures = {**loss_figures(rank), **detection_figures(rank)}
        dist.destroy_process_group()
    except Exception:
        figures = {"error": traceback.format_exc()}
    with open(out, "w") as f:
        json.dump(figures, f)


@pytest.mark.slow
def test_two_processes_take_metas_loss_and_gather_the_detections(tmp_path):
    ctx = fork_server(__name__)
    outs = [str(tmp_path / f"rank{r}.json") for r in range(WORLD)]
    procs = [ctx.Process(target=_rank, args=(r, str(tmp_path / "store"), outs[r]))
             for r in range(WORLD)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
        assert p.exitcode == 0
    for out in outs:
        figures = json.load(open(out))
        assert "error" not in figures, figures.get("error")
        assert figures["ours_vs_meta"] < 1e-6 and figures["grads_ours_vs_meta"] < 1e-6
        assert figures["grads_vs_big_batch_times_sqrt2"] < 1e-6
        assert figures["grads_vs_big_batch"] > 0.2  # not the big batch's own gradient
        assert figures["detections_equal"] and figures["count"] == 8  # 2 images, 4 each
