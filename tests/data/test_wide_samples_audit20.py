"""Mutation audit 20: 32-bit samples in a format other than TIFF (PIL's IM format opens as mode F
or I, which OpenCV does not decode): refused as such, not as an unreadable file, from a file and
from an upload alike."""

import io

import numpy as np
import pytest
from PIL import Image

from samhq_train import image_header, imaging


@pytest.mark.parametrize("dtype, kind", [(np.float32, "32-bit floating-point"),
                                         (np.int32, "32-bit integer")])
def test_32_bit_samples_outside_a_tiff_are_refused_as_such(tmp_path, dtype, kind):
    buffer = io.BytesIO()
    Image.fromarray(np.ones((4, 5), dtype)).save(buffer, "IM")
    (tmp_path / "deep.im").write_bytes(buffer.getvalue())
    refusal = rf"deep.im holds {kind} samples, which are not read; save it as 8-bit"
    with pytest.raises(image_header.ImageFileError, match=refusal):
        imaging.read_image(tmp_path / "deep.im")
    with pytest.raises(image_header.ImageFileError, match=refusal):
        imaging.read_image_bytes(buffer.getvalue(), "deep.im")
