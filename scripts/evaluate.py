"""Evaluate SAM vs SAM-HQ: python scripts/evaluate.py [hydra overrides] (config: conf/eval.yaml).

    python scripts/evaluate.py model=vit_l model.checkpoint=/path/sam_hq_vit_l.pth data.root=/path/hqseg44k
    python scripts/evaluate.py model.checkpoint=outputs/<run>/checkpoints/last.ckpt data=demo
    python scripts/evaluate.py data=demo            # the tiny random demo model
    python scripts/evaluate.py model=vit_l model.checkpoint=... data.prompts.eval_prompt=point

Writes results.md (tables), scores.json (per-image scores) and overlays/ under output_dir
(default outputs/eval/<date>_<time>). COCO AP: add coco.detections=... coco.annotation_file=...
coco.image_dir=... (benchmark=false for COCO alone).
"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from samhq_train.data import DataError
from samhq_train.evaluation.entry import evaluate
from samhq_train.evaluation.errors import EvaluationError
from samhq_train.model import CheckpointError

CONF = str(Path(__file__).resolve().parents[1] / "conf")


@hydra.main(version_base="1.3", config_path=CONF, config_name="eval")
def main(cfg: DictConfig) -> None:
    try:
        evaluate(cfg)
    except (CheckpointError, DataError, EvaluationError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
