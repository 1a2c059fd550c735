"""Video object segmentation metrics: region similarity J, contour accuracy F and J&F per object,
sequence and overall, equal to the standard evaluator vos-benchmark 0.1.0 (DAVIS conventions)
and, on SA-V's per-object layout, to SAM 2's sav_dataset/sav_evaluator.py.

    contours    the DAVIS boundary map, the match radius and the disk dilation
    scores      J and F per frame, SequenceScorer (which objects and frames), the means
    folders     the GT / prediction roots checked before scoring (VideoInputError lines)
    sav         the SA-V layout: one binary mask per object, <video>/<object>/<frame>.png
    plan        which layout a root holds (DAVIS or SA-V), every sequence planned
    benchmark   scoring the checked folders; the table and the JSON record
    comparison  two decoders side by side (SAM 2.1 vs HQ-SAM 2): the table and the JSON record

SAM 3's video concept benchmark (SA-Co/VEval), equal to Meta's sam3 VideoCGF1Evaluator,
VideoPhraseApEvaluator and VideoPhraseHotaEvaluator:

    concept_inputs   the GT JSON and the YT-VIS predictions, checked (ConceptInputError lines)
    concept_metrics  cgF1, IL_MCC, positive micro F1; TP / FP / FN / F1 per video x phrase
    concept_ap       video phrase AP
    concept_hota     video phrase HOTA (pHOTA, TrackEval's HOTA per video x phrase)
    concept_masks    samhq-video --detect-every-frame output folders as YT-VIS predictions
"""

from .benchmark import (
    results_record,
    results_table,
    score_sequence,
    score_sequences,
    void_note,
)
from .contours import BOUNDARY_TOLERANCE, boundary_map, boundary_radius, dilate, disk
from .folders import SequenceFrames, VideoInputError, VideoList, read_indexed, read_video_list
from .plan import LAYOUTS, detect_layout, gt_layout, plan_evaluation
from .sav import SavSequence, plan_sav_sequence, score_sav_sequence
from .scores import (
    DAVIS_VOID_ID,
    ObjectScore,
    OverallScore,
    SequenceScore,
    SequenceScorer,
    contour_accuracy,
    overall_score,
    region_similarity,
)

__all__ = [
    "BOUNDARY_TOLERANCE", "DAVIS_VOID_ID", "LAYOUTS", "ObjectScore", "OverallScore", "SavSequence",
    "SequenceFrames", "SequenceScore", "SequenceScorer", "VideoInputError", "VideoList",
    "boundary_map",
    "boundary_radius", "contour_accuracy", "detect_layout", "dilate", "disk", "gt_layout",
    "overall_score", "plan_evaluation", "plan_sav_sequence", "read_indexed", "read_video_list",
    "region_similarity",
    "results_record", "results_table", "score_sav_sequence", "score_sequence", "score_sequences",
    "void_note",
]
