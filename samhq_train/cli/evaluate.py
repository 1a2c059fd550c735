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
(default: the run folder, outputs/eval/<date>_<time>; Hydra's log goes where output_dir is).
COCO AP: add coco.detections=... coco.annotation_file=... coco.image_dir=... (benchmark=false for
COCO alone). SAM 3 text prompts (each category's name; the detector's masks vs SAM vs SAM-HQ):
coco.prompts=concept coco.concept.bpe=... coco.annotation_file=... coco.image_dir=...
(coco.concept.metric=cgf1: SA-Co's cgF1 of an SA-Co json's pairs, annotation_file=[a,b,c] for
its annotator files)
"""

from samhq_train.errors import run_as_main

if __name__ == "__main__":  # python -m: started as the installed command (one line on Ctrl-C)
    run_as_main("samhq_train.cli.evaluate")

import hydra
from omegaconf import DictConfig

from samhq_train.cli import CONFIG_DIR
from samhq_train.cli.hydra_command import hydra_command
from samhq_train.errors import exit_on_user_error
from samhq_train.evaluation.checks import check_inputs


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="eval")
@exit_on_user_error
def run(cfg: DictConfig) -> None:
    # the config, output folder, COCO files and checkpoint file, before the imports below
    inputs = check_inputs(cfg)
    # deferred: the evaluation stack (torchmetrics, Lightning: seconds of CPU) is imported only
    # by a run that passed the checks, not by --help or a refused command line
    from samhq_train.evaluation.entry import evaluate

    evaluate(cfg, inputs)


# output_dir is checked before anything is written; Hydra's run folder (evaluate.log, .hydra/)
# follows it when only output_dir is given
main = hydra_command(
    run, "eval", folders=("hydra.run.dir", "output_dir"), run_dir_follows="output_dir"
)
