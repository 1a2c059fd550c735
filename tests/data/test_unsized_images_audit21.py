"""Audit 21: imaging's refusal of bytes whose size PIL cannot read (a format only OpenCV decodes)
and the explicit max_pixels that lifts it, for a file and an upload alike."""

import cv2
import numpy as np
import pytest

from samhq_train import image_header, imaging

RGB = np.random.default_rng(21).integers(0, 256, (6, 8, 3), np.uint8)


@pytest.fixture
def pam():
    return cv2.imencode(".pam", RGB)[1].tobytes()


def test_an_upload_with_max_pixels_0_is_decoded_under_the_default_limit(pam, monkeypatch):
    """The caller's max_pixels=0 is the limit the refusal asks, not the environment's default.
    Mutant: the decode checked against max_image_pixels() (refused although 0 was passed)."""
    monkeypatch.delenv(image_header.MAX_PIXELS_ENV, raising=False)
    assert imaging.read_image_bytes(pam, "a.pam", max_pixels=0).shape == RGB.shape
    with pytest.raises(image_header.ImageFileError, match="a.pam is a PAM image"):
        imaging.read_image_bytes(pam, "a.pam")


def test_a_file_with_max_pixels_0_is_decoded_under_the_default_limit(pam, tmp_path, monkeypatch):
    monkeypatch.delenv(image_header.MAX_PIXELS_ENV, raising=False)
    path = tmp_path / "a.pam"
    path.write_bytes(pam)
    assert imaging.read_image(path, max_pixels=0).shape == RGB.shape
    with pytest.raises(image_header.ImageFileError, match="a.pam is a PAM image"):
        imaging.read_image(path)


def test_an_explicit_limit_refuses_though_the_environment_sets_none(pam, monkeypatch):
    """The other way round: no limit in the environment, a limit passed. Mutant: the
    environment's 0 used (decoded)."""
    monkeypatch.setenv(image_header.MAX_PIXELS_ENV, "0")
    with pytest.raises(image_header.ImageFileError, match="a.pam is a PAM image"):
        imaging.read_image_bytes(pam, "a.pam", max_pixels=1000)
