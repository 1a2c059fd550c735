"""samhq-evaluate [hydra overrides]: SAM vs SAM-HQ on the benchmark sets (config: conf/eval.yaml).

    samhq-evaluate model=vit_l model.checkpoint=/path/sam_hq_vit_l.pth data.root=/path/hqseg44k
    samhq-evaluate data=demo model=vit_demo_base \\
        model.checkpoint=outputs/<run>/checkpoints/last.ckpt
    samhq-evaluate data=demo model=vit_demo_base      # the shipped demo base (HQ parts untrained)
    samhq-evaluate model=vit_l model.checkpoint=/path/sam_hq_vit_l.pth data.root=/path/hqseg44k \\
        data.prompts.eval_prompt=point

model= must match the checkpoint (a demo run's last.ckpt is a vit_demo_base model;
model.variant=null reads the variant from the file). After an hq+decoder / hq+lora run the SAM
row is the fine-tuned SAM and is labelled so (evaluate the base file for the untouched SAM).

Writes results.md (tables), scores.json (per-image scores) and overlays/ under output_dir
(default outputs/eval/<date>_<time>). COCO AP: add coco.detections=... coco.annotation_file=...
coco.image_dir=... (benchmark=false for COCO alone).
"""

import hydra
from omegaconf import DictConfig

from samhq_train.cli import CONFIG_DIR
from samhq_train.errors import exit_on_user_error
from samhq_train.evaluation.entry import evaluate


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="eval")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    main()
