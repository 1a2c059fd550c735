"""The pair transforms' albumentations stages (data/transform_builders.py; audit 14): a stage's
own description, which the embedding cache's keys hold (cache/datasets.py), tells the
predictor's PIL resize from OpenCV's."""

import albumentations as A

from samhq_train.data.transform_builders import LongestSideResize


def test_the_description_tells_the_predictor_resize_apart():
    """Mutant: predictor_resize not among the init arguments (the two resizes' pixels differ,
    their cache entries would share a key)."""
    described = [A.Compose([LongestSideResize(64, predictor_resize=p)]).to_dict()
                 for p in (True, False)]
    assert described[0] != described[1]
    assert described[0]["transform"]["transforms"][0]["predictor_resize"] is True
