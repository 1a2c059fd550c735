"""Every mask of images with trained SAM-HQ weights: see samhq_train/inference/amg_command.py.

python scripts/amg.py --image photo.jpg --checkpoint sam_hq_vit_b.pth --out masks/
"""

import sys

from samhq_train.cli.commands import amg as main  # a signal while it imports is one line

if __name__ == "__main__":
    sys.exit(main())
