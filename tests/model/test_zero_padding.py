"""zero_padding zeroes exactly the normalised pixels outside each image's content (rows >= h,
columns >= w), as the official predictor's zero padding after normalising; images whose content
fills the frame are left alone."""

import torch

from samhq_train.model.processing import zero_padding


def test_exactly_the_padding_is_zeroed():
    images = torch.randn(3, 3, 16, 20, generator=torch.Generator().manual_seed(0))
    sizes = [(11, 20), (16, 7), (16, 20)]
    out = zero_padding(images, sizes)
    for i, (h, w) in enumerate(sizes):
        keep = torch.zeros(16, 20, dtype=torch.bool)
        keep[:h, :w] = True
        assert torch.equal(out[i], torch.where(keep, images[i], torch.zeros(())))
    assert zero_padding(images, None) is images
