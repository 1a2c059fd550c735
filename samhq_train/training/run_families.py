"""What video and concept fine-tuning start from: the model families each trains and, for a file
of another family, what to give instead (the loader's own hint, another model=, names a model the
run would refuse). One home, read by the check stage (run/checks.py) and by the runs, which
wrap their load in formats.taking_families when called without the check stage."""

from samhq_train.constants import SAM3_DETECTOR_FILES
from samhq_train.model import VIDEO_FAMILIES

VIDEO_RUN_FAMILIES = VIDEO_FAMILIES
VIDEO_RUN_NEEDS = (
    "video fine-tuning trains SAM 2.1's or SAM 3's tracker: give a SAM 2.1 / HQ-SAM 2 or SAM 3 / "
    "HQ-SAM 3 file (with model=sam2.1_hq_hiera_* or sam3_hq*)"
)
CONCEPT_RUN_FAMILIES = ("sam3",)
CONCEPT_RUN_NEEDS = (
    f"concept fine-tuning trains SAM 3's text detector: give {SAM3_DETECTOR_FILES}"
)
