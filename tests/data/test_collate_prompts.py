"""Collate's prompt kinds: evaluation batches prompt every sample with data.prompts.eval_prompt
(the validation and benchmark protocol), training batches draw them per sample by the recipe."""

import numpy as np
import pytest

from samhq_train.data import PROMPT_TYPES, Collate, PromptConfig


def sample(i: int, s: int = 16) -> dict:
    return {
        "image": np.zeros((s, s, 3), np.uint8),
        "content_size": (s, s),
        "mask": np.zeros((s, s), np.float32),
        "box": np.array([1, 2, 8, 9], np.float32),
        "points": np.ones((3, 2), np.float32),
        "point_labels": np.ones(3, np.float32),
        "noise_mask": np.zeros((s // 4, s // 4), np.float32),
        "type_draw": (i + 0.5) / 6,
        "foreground_pixels": 50,
        "input_size": (s, s),
        "name": f"s{i}",
        "dataset": "d",
    }


@pytest.mark.parametrize("prompt", PROMPT_TYPES)
def test_evaluation_batches_use_the_eval_prompt(prompt):
    batch = Collate(PromptConfig(eval_prompt=prompt), train=False)([sample(i) for i in range(6)])
    assert batch["prompt_type"] == [prompt] * 6


def test_training_batches_draw_the_kinds_per_sample():
    batch = Collate(PromptConfig(eval_prompt="point"), train=True)([sample(i) for i in range(6)])
    assert batch["prompt_type"] == ["box"] * 2 + ["point"] * 2 + ["noise_mask"] * 2
