"""A short video fine-tune for the DDP tests (test_video_ddp_failures.py), as a script:
Lightning's DDP launch runs this file again for each further process, so a fault put into the
run here is put into every process.

    python tests/training/video/ddp_driver.py SPEC.json

SPEC: {"out": run folder, "overrides": [...] over test_video_run.short_settings, "full_disk_rank": a
global rank whose disk is full for every write of last.ckpt after the first, or null,
"scores": {sequence name: [J, F]}: validation scores each sequence so (a stand-in for the
tracking, to see how the processes' scores are put together), or null}. The run
is train(cfg) behind the command line's error handling (exit 2 and one `error:` line per
process), the process group ended as the command ends it; each process of a run that ends
writes its metrics (train()'s: J&F before / after) to <out>/metrics_rank<r>.json; each
process its training steps' collectives to <out>/collectives_rank<r>.json
(collective_counts.py) and, as they end, its validations' results (J&F, J, F) to
<out>/validations_rank<r>.json (also of a run that stops later)."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from hydra import compose, initialize_config_dir  # noqa: E402

from samhq_train.distributed import end_process_group, exit_on_setup_error  # noqa: E402
from samhq_train.evaluation.video.scores import ObjectScore, SequenceScore  # noqa: E402
from samhq_train.train import train  # noqa: E402
from samhq_train.training.video import module  # noqa: E402
from tests.training.collective_counts import count_step_collectives  # noqa: E402
from tests.training.ddp_faults import full_disk_on_rank  # noqa: E402
from tests.training.helpers import CONF  # noqa: E402
from tests.training.video.test_video_run import short_settings  # noqa: E402


def train_and_end(cfg) -> tuple[dict, dict]:
    metrics, objects = train(cfg)
    end_process_group()
    return metrics, objects


def stand_in_scores(scores: dict[str, list[float]]) -> None:
    def score_tracking(model, item, *, use_hq=True) -> SequenceScore:
        j, f = scores[item["name"]]
        return SequenceScore(item["name"], {1: ObjectScore(j, f, 1)}, frames=1)

    module.score_tracking = score_tracking


def record_validations(out: Path) -> None:
    results: list[dict] = []
    epoch_end = module.VideoTrainModule.on_validation_epoch_end

    def on_validation_epoch_end(self):
        epoch_end(self)
        results.append(dict(self.val_results))
        (out / f"validations_rank{self.global_rank}.json").write_text(json.dumps(results))

    module.VideoTrainModule.on_validation_epoch_end = on_validation_epoch_end


def main(spec: dict) -> None:
    record_validations(Path(spec["out"]))
    if spec.get("scores"):
        stand_in_scores(spec["scores"])
    count_step_collectives(module.VideoTrainModule, Path(spec["out"]))
    if spec.get("full_disk_rank") is not None:
        full_disk_on_rank(spec["full_disk_rank"])
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        given = {o.split("=", 1)[0] for o in spec["overrides"]}  # Hydra refuses a key twice
        cfg = compose("train", overrides=[
            f"paths.output_dir={spec['out']}",
            *[o for o in short_settings(spec["overrides"]) if o.split("=", 1)[0] not in given],
            *spec["overrides"]])
    metrics, objects = exit_on_setup_error(train_and_end)(cfg)
    rank = objects["trainer"].global_rank
    (Path(spec["out"]) / f"metrics_rank{rank}.json").write_text(json.dumps(metrics))


if __name__ == "__main__":
    main(json.loads(Path(sys.argv[1]).read_text()))
