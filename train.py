"""Train SAM-HQ: python train.py [hydra overrides]. No arguments: the CPU demo (experiment=demo).

python train.py experiment=paper model=vit_l model.checkpoint=/path/sam_vit_l_0b3195.pth data.root=/path/hqseg44k

A setup error (a bad config value, checkpoint, data root or output folder) is one line on stderr
and exit status 2 (SETUP_ERROR_EXIT); an interrupted run (SIGINT / SIGTERM) prints the command
that resumes it and exits with 130 / 143.
"""

import sys

import hydra
from omegaconf import DictConfig

from samhq_train.config_check import SETUP_ERROR_EXIT
from samhq_train.train import SetupError, train


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> None:
    try:
        train(cfg)
    except SetupError as err:
        print(f"{err.label}: {err}", file=sys.stderr)
        sys.exit(SETUP_ERROR_EXIT)


if __name__ == "__main__":
    main()
