"""The video concept model's exemplar box (audit 14; no model): its default label, the detector's
normalised (cx, cy, w, h) of a box on a non-square video, and which frames' detections read it
(DetectionBuffer, Meta's one-process detector buffer: the frame being processed and the next one
in the processing direction, detected ahead with the processed frame's prompt; the previous
frame's entry dropped)."""

import pytest
import torch

from samhq_train.inference.video.concept_video.box_prompt import DetectionBuffer, video_box_prompt
from samhq_train.inference.video.point_prompts import VideoPromptError


def test_a_box_without_labels_is_an_example_in_the_detectors_frame():
    """Mutants: no labels read as a counter-example; x and y normalised by the other side."""
    exemplars, labels = video_box_prompt([[10.0, 20.0, 50.0, 30.0]], None, (40, 100), False)
    assert labels.tolist() == [[1]]
    torch.testing.assert_close(exemplars, torch.tensor([[[0.3, 0.625, 0.4, 0.25]]]))


def test_a_box_with_two_labels_is_refused():
    """Mutant: only the first label read (one box, two labels)."""
    with pytest.raises(VideoPromptError, match=r"box_labels must be one 1 .* got \[1, 1\]"):
        video_box_prompt([[10.0, 20.0, 50.0, 30.0]], [1, 1], (40, 100), True)


def visits(buffer: DetectionBuffer, *frames) -> list[bool]:
    return [buffer.visit(frame, reverse) for frame, reverse in frames]


def test_the_box_reaches_the_next_frame_in_either_direction():
    """Mutants: the next frame looked ahead forward whatever the direction; the look-ahead
    detected without the box; the frame's buffered entry overwritten."""
    assert visits(DetectionBuffer(6, 3), (3, False), (4, False), (5, False)) == [True, True, False]
    assert visits(DetectionBuffer(6, 3), (3, True), (2, True), (1, True)) == [True, True, False]
    assert visits(DetectionBuffer(6, None), (3, False), (4, False)) == [False, False]


def test_a_frame_left_behind_is_detected_afresh():
    """Mutant: the previous frame's entry kept (a frame visited again after the pass moved on
    would still read the box)."""
    buffer = DetectionBuffer(6, 3)
    assert visits(buffer, (3, False), (4, False), (5, False), (4, True)) == [True, True, False,
                                                                            False]
