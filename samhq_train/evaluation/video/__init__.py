"""Video object segmentation metrics: region similarity J, contour accuracy F and J&F per object,
sequence and overall, equal to the standard evaluator vos-benchmark 0.1.0 (DAVIS conventions).

    contours    the DAVIS boundary map, the match radius and the disk dilation
    scores      J and F per frame, SequenceScorer (which objects and frames), the means
    folders     the GT / prediction roots checked before scoring (VideoInputError lines)
    benchmark   scoring the checked folders; the table and the JSON record
    comparison  two decoders side by side (SAM 2.1 vs HQ-SAM 2): the table and the JSON record
"""

from .benchmark import results_record, results_table, score_sequence, score_sequences
from .contours import BOUNDARY_TOLERANCE, boundary_map, boundary_radius, dilate, disk
from .folders import SequenceFrames, VideoInputError, plan_evaluation, read_indexed
from .scores import (
    ObjectScore,
    OverallScore,
    SequenceScore,
    SequenceScorer,
    contour_accuracy,
    overall_score,
    region_similarity,
)

__all__ = [
    "BOUNDARY_TOLERANCE", "ObjectScore", "OverallScore", "SequenceFrames", "SequenceScore",
    "SequenceScorer", "VideoInputError", "boundary_map", "boundary_radius", "contour_accuracy",
    "dilate", "disk", "overall_score", "plan_evaluation", "read_indexed", "region_similarity",
    "results_record", "results_table", "score_sequence", "score_sequences",
]
