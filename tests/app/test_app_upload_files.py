"""samhq-app's uploads are read by the one image reader (imaging.read_image_bytes): the same
pixels as the file for the odd but valid kinds, and the same refusals (a PNG or JPEG cut short,
32-bit samples, over the pixel limit: from the header, before decoding), each an AppError
naming the upload."""

import io

import numpy as np
import pytest
from PIL import Image

from samhq_train import image_header, imaging
from samhq_train.app import server
from samhq_train.app.engine import AppError
from tests.data.test_odd_image_files import GREY, IMAGES, cases, saved


@pytest.mark.parametrize("name,image,options,plain", cases(IMAGES))
def test_an_upload_reads_as_the_same_file_does(tmp_path, name, image, options, plain):
    path = saved(tmp_path, name, image, **options)
    upload = server.decode_upload(path.read_bytes(), name)
    np.testing.assert_array_equal(upload, imaging.read_image(path))
    np.testing.assert_array_equal(upload, plain)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def tiff(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "TIFF")
    return buffer.getvalue()


def test_bad_uploads_are_refused_as_the_files_are_in_one_line_naming_them():
    data = png(Image.fromarray(GREY))
    cases = [
        (data[: len(data) - 20], "cut.png", r"cut.png is truncated \(PNG end chunk missing\); "
         "choose another file"),
        (tiff(GREY.astype(np.float32)), "deep.tif", r"deep.tif holds 32-bit floating-point "
         r"samples, which are not read; save it as 8-bit \(RGB or grayscale\)"),
        (b"", "empty.png", r"empty.png is empty \(0 bytes\); choose another file"),
        (b"not an image", "bad.jpg", r"bad.jpg is not a readable image \(corrupt or unsupported "
         r"format\); choose a JPEG, PNG, BMP, TIFF or WebP file"),
    ]
    for data_, name, message in cases:
        with pytest.raises(AppError, match=f"^{message}$"):
            server.decode_upload(data_, name)


def test_an_upload_over_the_pixel_limit_is_refused_before_decoding(monkeypatch):
    """The limit is the image reader's (SAMHQ_MAX_IMAGE_PIXELS), not one of the app's own.
    Mutant: the app passing its own max_pixels (the image decoded)."""
    data = png(Image.fromarray(GREY))  # 16 x 12
    monkeypatch.setenv(image_header.MAX_PIXELS_ENV, str(16 * 12 - 1))
    monkeypatch.setattr(imaging.cv2, "imdecode", lambda *a: pytest.fail("decoded"))
    with pytest.raises(AppError, match=r"^big.png is 16 x 12 = 192 pixels, over the pixel limit "
                       r"of 191 \(0.000191 MP\); downscale it or choose another file$"):
        server.decode_upload(data, "big.png")


def test_an_exif_turned_upload_is_used_as_stored_and_the_record_says_so(app_server):
    """The page draws the server's decoded pixels (record["image"], which carries no EXIF), so the
    display, the clicks, the model and the masks share the stored grid; the record's note says
    so in samhq-predict's words."""
    from .test_app_server import call, png_mask

    base, _ = app_server
    pixels = np.random.default_rng(0).integers(0, 255, (40, 70, 3), dtype=np.uint8)
    records = {}
    for orientation in (6, 1):
        exif = Image.Exif()
        if orientation != 1:
            exif[image_header.EXIF_ORIENTATION] = orientation
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG", exif=exif, quality=95)
        status, records[orientation] = call(f"{base}/api/image", buffer.getvalue(),
                                            {"X-Filename": "phone.jpg"}, raw=True)
        assert status == 200, records[orientation]
    turned, plain = records[6], records[1]
    assert plain["note"] == ""
    assert turned["note"] == (
        "phone.jpg " + image_header.ImageHeader(70, 40, 6).orientation_note
    )
    assert "EXIF orientation 6 (viewers show it rotated 90): used as stored" in turned["note"]
    assert (turned["width"], turned["height"]) == (70, 40)
    assert png_mask(turned["image"]).shape[:2] == (40, 70)  # the picture the page draws: as stored
