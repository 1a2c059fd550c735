"""The video and concept runs' checkpoints, last_and_best (audit 13), on a one-weight Lightning
module: last.ckpt after every training epoch (also in a run without validation), best.ckpt at
the epoch of the highest monitored figure, no other file, and the same two names when a run
writes into a folder that already holds them (a resumed run)."""

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader

from samhq_train.training.checkpointing import AtomicCheckpointIO, last_and_best

FIGURE = "val/figure"


class OneWeight(L.LightningModule):
    """Logs figures[epoch] as FIGURE at each validation's end."""

    def __init__(self, figures: list[float] | None) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))
        self.figures = figures

    def training_step(self, batch, batch_idx):
        return (self.weight - batch).pow(2).sum()

    def validation_step(self, batch, batch_idx) -> None:
        pass

    def on_validation_epoch_end(self) -> None:
        self.log(FIGURE, self.figures[self.current_epoch])

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit(folder, figures: list[float] | None) -> None:
    trainer = L.Trainer(
        max_epochs=len(figures or [0, 0]), accelerator="cpu", logger=False,
        callbacks=last_and_best(folder, FIGURE if figures else None, True),
        plugins=[AtomicCheckpointIO()], enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0)
    data = DataLoader(torch.ones(2, 1), batch_size=1)
    trainer.fit(OneWeight(figures), data, data if figures else None)


def epoch_of(path) -> int:
    return torch.load(path, weights_only=False)["epoch"]


def test_last_and_best_checkpoints(tmp_path):
    """Mutants: best by the lowest figure; best kept for every epoch (save_top_k -1: the last
    one written over it); no best.ckpt; best written as last.ckpt; a version counter (last-v1,
    best-v1 beside a resumed run's files)."""
    fit(tmp_path, [0.2, 0.9, 0.5])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.ckpt", "last.ckpt"]
    assert epoch_of(tmp_path / "best.ckpt") == 1 and epoch_of(tmp_path / "last.ckpt") == 2
    fit(tmp_path, [0.3, 0.1])  # a run writing into the same folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.ckpt", "last.ckpt"]
    assert epoch_of(tmp_path / "best.ckpt") == 0 and epoch_of(tmp_path / "last.ckpt") == 1


def test_a_run_without_validation_writes_last_only(tmp_path):
    """Mutant: last.ckpt written at the validation's end only (save_on_train_epoch_end=False:
    a run without validation would write no checkpoint)."""
    fit(tmp_path, None)
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]
    assert epoch_of(tmp_path / "last.ckpt") == 1
