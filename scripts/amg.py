"""Every mask of images with trained SAM-HQ weights: see samhq_train/inference/amg_command.py.

python scripts/amg.py --image photo.jpg --checkpoint sam_hq_vit_b.pth --out masks/
"""

import sys

from samhq_train.inference.amg_command import main

if __name__ == "__main__":
    sys.exit(main())
