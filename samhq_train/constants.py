"""Numbers, names and paths several layers share, each defined once (dependency-free)."""

from pathlib import Path

# the shipped demo bases (one per family), in the project's folder beside the package: commands
# find them wherever they are run from (conf/model/*demo_base.yaml name them as ${demo_base:file})
DEMO_BASE_DIR = Path(__file__).resolve().parents[1] / "data" / "demo_base"

# SAM's pixel normalisation on 0-255 RGB (ImageNet mean / std x 255); SAM 2.1 uses the same values
PIXEL_MEAN = (123.675, 116.28, 103.53)
PIXEL_STD = (58.395, 57.12, 57.375)

# a GT mask pixel is foreground when its 0-255 value is above this (official: > 128)
GT_THRESHOLD = 128

# boundary IoU / boundary AP: the boundary's width as a fraction of the image diagonal (official)
BOUNDARY_DILATION_RATIO = 0.02

# coco.concept.exemplars: what a COCO concept evaluation asks each image x category with GT
# (evaluation/coco_concept_exemplars.py): the text only, one of its GT boxes alone (Meta's
# odinw_visual_only) or the box with the category's name (odinw_text_and_visual)
EXEMPLAR_MODES = ("none", "visual", "text_and_visual")
# coco.concept.per_image: which categories prompt an image (evaluation/coco_concept.py): every
# category of the json, or only those the image has GT of
CONCEPT_PER_IMAGE = ("all", "annotated")

# the SAM 3 files that hold the concept detector (text and exemplar prompts, concept training):
# every refusal of a file without it names these
SAM3_DETECTOR_FILES = "Meta's sam3.pt, or a full export of a model trained from it"
# the SAM 3 files that hold the tracker's video parts (memory attention, memory encoder, object
# pointers): every refusal of a file without them names these
SAM3_VIDEO_FILES = "Meta's sam3.pt or an HQ-SAM 3 checkpoint made from it"
