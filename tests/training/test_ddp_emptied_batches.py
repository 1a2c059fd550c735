"""A validation batch whose samples a lenient evaluation all skipped (an empty GT mask with
data.strict_eval=false), one process of a DDP run alone (the run stood in for: a trainer of 2
processes per rank). Each validation step during fit runs in DDP's forward, whose first one
after a training step broadcasts the model's buffers (torch DDP's buffer sync): a process that
dropped its only batch took no step, and the other waited in that broadcast until the process
group timed out. So a DDP run's loader hands the emptied batch on (EmptiedBatch): every process
takes a step per batch of its share, and the emptied one scores nothing. The image family alone
can empty a batch (Collate of an evaluation set; training takes the next index instead of
skipping, and the video and concept collates never return None)."""

from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from samhq_train.data import ensure_demo_data
from samhq_train.data.datamodule import build_datamodule
from samhq_train.data.loaders import EmptiedBatch
from samhq_train.training.module import SamHQModule


@pytest.fixture(scope="module")
def second_mask_empty(tmp_path_factory):
    """Demo data with 2 validation samples, the second's mask empty (rank 1's share of 2)."""
    root = ensure_demo_data(tmp_path_factory.mktemp("demo") / "demo", num_train=2, num_val=2,
                            height=32, width=48, seed=0)
    second = sorted((root / "val" / "masks").iterdir())[1]
    cv2.imwrite(str(second), np.zeros((32, 48), np.uint8))
    return root


def validation_items(root, rank: int | None) -> list:
    """What the validation loader of process `rank` of 2 yields (None: a one-process run)."""
    module = build_datamodule(
        {"root": str(root), "train_sets": [],
         "val_sets": [{"name": "v", "image_dir": "val/images", "mask_dir": "val/masks"}],
         "val_batch_size": 1, "num_workers": 0, "strict_eval": False},
        image_size=32)
    if rank is not None:
        module.trainer = SimpleNamespace(world_size=2, global_rank=rank)
    module.setup("validate")
    (loader,) = module.val_dataloader()
    return list(loader)


def test_each_process_takes_a_step_per_batch_of_its_share(second_mask_empty):
    """Mutant: the DDP loader dropping the emptied batch (rank 1 would take no validation
    step, rank 0 one)."""
    steps = [validation_items(second_mask_empty, rank) for rank in (0, 1)]
    assert [len(s) for s in steps] == [1, 1]
    assert steps[0][0]["name"] == ["0000"] and isinstance(steps[1][0], EmptiedBatch)
    only = validation_items(second_mask_empty, None)  # one process: dropped, as before
    assert [item["name"] for item in only] == [["0000"]]


def test_an_emptied_batch_scores_nothing():
    """Mutant: validation_step running the model on an EmptiedBatch."""
    def scored(*args):
        pytest.fail("an emptied batch is scored")

    fake = SimpleNamespace(val_failure=None, model=None,
                           val_metrics=SimpleNamespace(update=scored))
    assert SamHQModule.validation_step(fake, EmptiedBatch(), 0) is None
    assert fake.val_failure is None
