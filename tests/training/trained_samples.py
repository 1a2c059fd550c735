"""A probe callback for DDP runs: which samples each process trained, epoch by epoch."""

import json
from pathlib import Path

import lightning as L


class RecordTrainedSamples(L.Callback):
    """Each process writes out_dir/rank<r>.json at the end of fitting: per epoch, the names of
    the samples it trained on, in the order it trained them."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)
        self.epochs: dict[int, list[str]] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        names = [f"{d}/{n}" for d, n in zip(batch["dataset"], batch["name"])]
        self.epochs.setdefault(trainer.current_epoch, []).extend(names)

    def on_fit_end(self, trainer, pl_module) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / f"rank{trainer.global_rank}.json").write_text(json.dumps(self.epochs))


def trained_samples(out_dir: Path, world_size: int) -> list[dict[int, list[str]]]:
    """Every process's record (index = global rank): {epoch: sample names}."""
    ranks = [json.loads((out_dir / f"rank{r}.json").read_text()) for r in range(world_size)]
    return [{int(epoch): names for epoch, names in rank.items()} for rank in ranks]
