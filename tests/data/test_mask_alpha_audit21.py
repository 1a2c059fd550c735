"""Audit 21: a BigTIFF mask with alpha is a TIFF (its grey decoded premultiplied already), read
as the classic TIFF of the same mask is."""

import io

import numpy as np
import pytest
from PIL import Image

from samhq_train.data import read_mask


def _pil_writes_bigtiff() -> bool:
    buffer = io.BytesIO()
    Image.new("L", (2, 2)).save(buffer, "TIFF", big_tiff=True)
    return buffer.getvalue()[:4] == b"II+\0"


# Pillow writes BigTIFF from 11.1 (pyproject.toml's floor is older)
@pytest.mark.skipif(not _pil_writes_bigtiff(), reason="this Pillow writes no BigTIFF")
def test_a_bigtiff_cut_out_reads_as_the_classic_tiff(tmp_path):
    """A white cut-out whose alpha (soft edge included) is the object. Mutant: only classic
    TIFF signatures known (the BigTIFF's grey multiplied by its alpha a second time)."""
    alpha = np.zeros((8, 8), np.uint8)
    alpha[2:6, 2:6], alpha[2:6, 6] = 255, 200
    rgba = np.dstack([np.full((8, 8), 255, np.uint8)] * 3 + [alpha])
    classic, big = tmp_path / "m.tif", tmp_path / "m_big.tif"
    Image.fromarray(rgba).save(classic)
    Image.fromarray(rgba).save(big, big_tiff=True)
    assert big.read_bytes()[:4] == b"II+\0"
    np.testing.assert_array_equal(read_mask(big), read_mask(classic))
    assert read_mask(big)[3, 6] == 200
