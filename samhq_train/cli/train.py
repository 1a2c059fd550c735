"""samhq-train [hydra overrides] (or `python train.py` in a clone): train SAM-HQ.

No overrides: the CPU demo (experiment=demo). Real use:

    samhq-train experiment=paper model=vit_l \\
        model.checkpoint=/path/sam_vit_l_0b3195.pth data.root=/path/hqseg44k

A setup error (a bad config value, checkpoint, data root or output folder, and what Hydra itself
refuses: an unknown key, config option or override syntax) is one line on stderr and exit status
2; an interrupted run (SIGINT / SIGTERM) prints the command that resumes it and
exits with 130 / 143.
"""

from samhq_train.errors import run_as_main

if __name__ == "__main__":  # python -m: started as the installed command (one line on Ctrl-C)
    run_as_main("samhq_train.cli.train")

import hydra
from omegaconf import DictConfig

from samhq_train.cli import CONFIG_DIR
from samhq_train.cli.hydra_command import hydra_command
from samhq_train.distributed import end_process_group, exit_on_setup_error
from samhq_train.run.checks import check_inputs


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
@exit_on_setup_error  # under DDP: rank 0 says what every process hit
def run(cfg: DictConfig) -> None:
    # the config, trainer keys, loggers, outputs, checkpoints (run/checks.py), before the imports
    listed = check_inputs(cfg)  # a video run's listed roots, which its loaders take
    # deferred: the training stack (Lightning, torchmetrics: seconds of CPU) is imported only by
    # a run that passed the checks, not by --help or a refused command line
    from samhq_train.train import train

    train(cfg, checked=True, listed=listed)
    end_process_group()


# the run folder is checked before Hydra opens its log file there (train.log)
main = hydra_command(run, "train", folders=("hydra.run.dir", "paths.output_dir"))
