"""Train SAM-HQ: python train.py [hydra overrides]. No arguments: the CPU demo (experiment=demo).

python train.py experiment=paper_vit_l model.checkpoint=/path/sam_vit_l_0b3195.pth data.root=/path/hqseg44k
"""

import sys

import hydra
from omegaconf import DictConfig

from samhq_train.train import SetupError, train


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> None:
    try:
        train(cfg)
    except SetupError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
