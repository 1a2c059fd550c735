"""A user's own files as they really come: odd but valid image and mask kinds read as the same
pixels as the plain file (grey, alpha, palette, 16-bit, 1-bit, CMYK, tiny, very wide, animated,
other formats, upper-case or wrong extensions), and odd invalid ones refused in one line naming
the file. Every reader of a user's image (training, evaluation, samhq-predict / -amg / -concept,
COCO) is imaging.read_image; of a training mask, data.read_mask."""

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from samhq_train import image_header, imaging
from samhq_train.data import DataError, PairedFolderDataset, read_mask
from samhq_train.resizing import resize_longest_side_shape

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (12, 16, 3), np.uint8)
GREY = RNG.integers(0, 256, (12, 16), np.uint8)
GREY3 = np.repeat(GREY[..., None], 3, axis=2)
MASK = np.zeros((12, 16), np.uint8)
MASK[3:9, 4:12] = 255
OPAQUE = np.full_like(MASK, 255)


def saved(folder: Path, name: str, image: Image.Image, **options) -> Path:
    image.save(folder / name, **options)
    return folder / name


def palette(indices: np.ndarray, colours: list[int]) -> Image.Image:
    image = Image.frombytes("P", indices.shape[::-1], indices.astype(np.uint8).tobytes())
    image.putpalette(colours)
    return image


def _opencv_decodes_gif() -> bool:
    buffer = io.BytesIO()
    Image.fromarray(RGB).save(buffer, "GIF")
    return cv2.imdecode(np.frombuffer(buffer.getvalue(), np.uint8), cv2.IMREAD_COLOR) is not None


# OpenCV decodes GIF from 4.12 (pyproject.toml's floor is older): before, a GIF is refused in one
# line like any unreadable image (test_a_gif_is_refused_in_one_line_where_opencv_decodes_none)
OPENCV_DECODES_GIF = _opencv_decodes_gif()
NEEDS_GIF_DECODING = pytest.mark.skipif(not OPENCV_DECODES_GIF,
                                        reason="this OpenCV decodes no GIF (it does from 4.12)")


def cases(table: list[tuple]) -> list:
    """The table's rows as parameters named by their file name, a GIF's only where OpenCV
    decodes GIF."""
    return [pytest.param(*row, id=row[0],
                         marks=[NEEDS_GIF_DECODING] if row[0].endswith(".gif") else [])
            for row in table]


QUANTISED = Image.fromarray(RGB).quantize(16)
FLIPPED = Image.fromarray(255 - RGB).quantize(16)

# (file name, the image, save options, the pixels a plain RGB file of it gives)
IMAGES = [
    ("grey.png", Image.fromarray(GREY), {}, GREY3),
    ("grey_alpha.png", Image.fromarray(np.dstack([GREY, MASK])), {}, GREY3),  # LA: alpha dropped
    ("rgba.png", Image.fromarray(np.dstack([RGB, MASK])), {}, RGB),
    ("palette.png", QUANTISED, {}, np.array(QUANTISED.convert("RGB"))),
    ("palette_trns.png", QUANTISED, {"transparency": 0}, np.array(QUANTISED.convert("RGB"))),
    ("deep.png", Image.fromarray(GREY.astype(np.uint16) * 257), {}, GREY3),  # I;16: high byte
    ("bits.png", Image.fromarray(GREY > 128), {}, np.where(GREY3 > 128, 255, 0)),  # mode 1
    ("tiny.png", Image.fromarray(RGB[:2, :2]), {}, RGB[:2, :2]),
    ("x.webp", Image.fromarray(RGB), {"lossless": True}, RGB),
    ("x.bmp", Image.fromarray(RGB), {}, RGB),
    ("x.tif", Image.fromarray(RGB), {"compression": "tiff_lzw"}, RGB),
    ("UPPER.PNG", Image.fromarray(RGB), {}, RGB),
    ("png_named.jpg", Image.fromarray(RGB), {"format": "PNG"}, RGB),  # content decides
    # several frames / pages: the first
    ("pages.tif", Image.fromarray(RGB), {"save_all": True,
                                         "append_images": [Image.fromarray(255 - RGB)]},
     RGB),
    ("frames.gif", QUANTISED, {"save_all": True, "append_images": [FLIPPED]},
     np.array(QUANTISED.convert("RGB"))),
]


@pytest.mark.parametrize("name,image,options,plain", cases(IMAGES))
def test_odd_valid_images_read_as_their_plain_pixels(tmp_path, name, image, options, plain):
    np.testing.assert_array_equal(imaging.read_image(saved(tmp_path, name, image, **options)),
                                  plain)


def test_a_cmyk_jpeg_reads_as_pil_converts_it(tmp_path):
    path = saved(tmp_path, "cmyk.jpg", Image.fromarray(RGB).convert("CMYK"), quality=100)
    with Image.open(path) as image:
        assert image.mode == "CMYK"
        pil = np.array(image.convert("RGB"), np.int16)
    assert np.abs(imaging.read_image(path).astype(np.int16) - pil).max() <= 1  # rounding


def test_a_very_wide_image_keeps_its_pixels(tmp_path):
    wide = RNG.integers(0, 256, (20, 5000, 3), np.uint8)
    out = imaging.read_image(saved(tmp_path, "wide.png", Image.fromarray(wide)))
    np.testing.assert_array_equal(out, wide)
    assert resize_longest_side_shape(20, 5000, 1024) == (4, 1024)


@pytest.mark.parametrize("mode,kind", [("F", "32-bit floating-point"), ("I", "32-bit integer")])
def test_32_bit_tiffs_are_refused_as_such_from_the_header(tmp_path, monkeypatch, mode, kind):
    path = saved(tmp_path, "deep.tif", Image.fromarray(GREY.astype(
        np.float32 if mode == "F" else np.int32)))
    monkeypatch.setattr(imaging.cv2, "imdecode", lambda *a: pytest.fail("decoded"))
    for read in (imaging.read_image, image_header.read_header):  # read_header: before any decoding
        with pytest.raises(image_header.ImageFileError, match=rf"deep.tif holds {kind} samples, "
                           r"which are not read; save it as 8-bit \(RGB or grayscale\)$"):
            read(path)
    with pytest.raises(DataError, match=rf"deep.tif holds {kind} samples, which are not read; "
                       "save it as 8-bit grayscale$"):
        read_mask(path)


def test_16_bit_files_that_pil_opens_as_mode_i_are_read_not_refused(tmp_path):
    """Mode I alone is no reason to refuse: a 16-bit PGM (and, in older Pillow, a 16-bit PNG)
    opens as I, and so does a signed 16-bit TIFF; only a TIFF's 32 bits per sample are."""
    pgm = tmp_path / "deep.pgm"
    pgm.write_bytes(cv2.imencode(".pgm", GREY.astype(np.uint16) * 257)[1].tobytes())
    signed = tmp_path / "signed.tif"
    signed.write_bytes(cv2.imencode(".tiff", GREY.astype(np.int16) * 100)[1].tobytes())
    for path in (pgm, signed):
        assert image_header.read_header(path).mode == "I"
        assert imaging.read_image(path).shape == GREY3.shape
    np.testing.assert_array_equal(imaging.read_image(pgm), GREY3)



# formats OpenCV decodes whose header PIL cannot read: no size to check before decoding
OPENCV_ONLY = [(".hdr", "Radiance HDR"), (".pfm", "PFM"), (".pam", "PAM")]


@pytest.mark.parametrize("suffix,kind", OPENCV_ONLY)
def test_formats_without_a_header_pil_reads_are_refused_unless_there_is_no_limit(
    tmp_path, monkeypatch, suffix, kind
):
    """Refused in one line, not decoded (their pixels would escape the limit), also named
    .png (the content decides); read when the limit is 0. Mutant: OpenCV decodes them as before
    (no refusal)."""
    pixels = RGB.astype(np.float32) / 255 if suffix in (".hdr", ".pfm") else RGB
    data = cv2.imencode(suffix, pixels)[1].tobytes()
    for name in (f"a{suffix}", "named.png"):
        path = tmp_path / name
        path.write_bytes(data)
        with monkeypatch.context() as patch:
            patch.setattr(imaging.cv2, "imdecode", lambda *a: pytest.fail("decoded"))
            with pytest.raises(image_header.ImageFileError, match=(
                rf"^cannot read image file {path}: {name} is a {kind} image, whose size cannot "
                r"be checked against the pixel limit before decoding; convert it to PNG, JPEG, "
                rf"TIFF or WebP \(or set {image_header.MAX_PIXELS_ENV} to 0: no limit\)$"
            )):
                imaging.read_image(path)
            with pytest.raises(image_header.ImageFileError, match=(
                rf"^{name} is a {kind} image, .* decoding; convert it to PNG, JPEG, TIFF or WebP$"
            )):
                imaging.read_image_bytes(data, name)
        assert imaging.read_image(path, max_pixels=0).shape == RGB.shape
        monkeypatch.setenv(image_header.MAX_PIXELS_ENV, "0")
        assert imaging.read_image_bytes(data, name).shape == RGB.shape
        monkeypatch.delenv(image_header.MAX_PIXELS_ENV)


def test_bytes_no_reader_knows_are_refused_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "junk.png"
    path.write_bytes(b"not an image at all")
    monkeypatch.setattr(imaging.cv2, "imdecode", lambda *a: pytest.fail("decoded"))
    with pytest.raises(image_header.ImageFileError, match=r"junk.png is not a readable image "
                       r"\(corrupt or unsupported format\); re-export or remove it$"):
        imaging.read_image(path)


@pytest.mark.skipif(OPENCV_DECODES_GIF, reason="this OpenCV decodes GIF: read, not refused")
def test_a_gif_is_refused_in_one_line_where_opencv_decodes_none(tmp_path):
    """OpenCV before 4.12: a GIF (image, mask or upload) is one line naming the file, the
    refusal of any bytes no decoder reads, not a traceback."""
    path = saved(tmp_path, "frames.gif", QUANTISED)
    said = r"frames.gif is not a readable image \(corrupt or unsupported format\)"
    with pytest.raises(image_header.ImageFileError, match=rf"^cannot read image file {path}: "
                       rf"{said}; re-export or remove it$"):
        imaging.read_image(path)
    with pytest.raises(DataError, match=rf"^cannot read mask file {path}: {said}; re-export "
                       "or remove it$"):
        read_mask(path)
    with pytest.raises(image_header.ImageFileError, match=rf"^{said}"):
        imaging.read_image_bytes(path.read_bytes(), "frames.gif")


# (file name, the mask, save options): each reads as MASK (0 = background, 255 = object)
MASKS = [
    ("palette_grey.png", palette(MASK // 255, [0, 0, 0, 255, 255, 255]), {}),
    ("palette_trns.png", palette(MASK // 255, [0, 0, 0, 255, 255, 255]), {"transparency": 0}),
    ("rgb_grey.png", Image.fromarray(np.dstack([MASK] * 3)), {}),
    ("rgba_opaque.png", Image.fromarray(np.dstack([MASK] * 3 + [OPAQUE])), {}),
    ("rgba_clear_black.png", Image.fromarray(np.dstack([MASK] * 4)), {}),
    # a white cut-out whose alpha is the object (read before as all object)
    ("rgba_cutout.png", Image.fromarray(np.dstack([OPAQUE] * 3 + [MASK])), {}),
    ("la_cutout.png", Image.fromarray(np.dstack([OPAQUE, MASK])), {}),
    ("la_cutout.tif", Image.fromarray(np.dstack([OPAQUE, MASK])), {}),  # OpenCV drops its alpha
    ("rgba_cutout.tif", Image.fromarray(np.dstack([OPAQUE] * 3 + [MASK])), {}),
    ("bits.png", Image.fromarray(MASK > 0), {}),
    ("m.bmp", Image.fromarray(MASK), {}),
    ("m.tif", Image.fromarray(MASK), {}),
    ("m.webp", Image.fromarray(MASK), {"lossless": True}),
    ("m.gif", Image.fromarray(MASK), {}),
    ("UPPER.PNG", Image.fromarray(MASK), {}),
]


@pytest.mark.parametrize("name,mask,options", cases(MASKS))
def test_odd_valid_masks_read_as_the_plain_grey_mask(tmp_path, name, mask, options):
    np.testing.assert_array_equal(read_mask(saved(tmp_path, name, mask, **options)), MASK)


def test_soft_edges_are_kept_and_alpha_scales_them(tmp_path):
    soft = MASK.copy()
    soft[2, 4:12], soft[9, 4:12] = 100, 200  # antialiased rows: object where > 128
    np.testing.assert_array_equal(read_mask(saved(tmp_path, "s.png", Image.fromarray(soft))), soft)
    half = np.where(MASK > 0, 255, 128).astype(np.uint8)  # semi-transparent background
    translucent = Image.fromarray(np.dstack([soft] * 3 + [half]))
    over_black = read_mask(saved(tmp_path, "h.png", translucent))
    np.testing.assert_array_equal(over_black, (soft.astype(int) * half + 127) // 255)


MASK_REFUSALS = [
    ("binary.png", Image.fromarray(MASK // 255), r"has values 0-1; .*multiplied by 255"),
    ("deep.png", Image.fromarray(MASK.astype(np.uint16) * 257),
     r"is a uint16 mask; expected 8-bit .*save it as 8-bit grayscale"),
    ("voc.png", palette(MASK // 255, [0, 0, 0, 128, 0, 0]),
     r"has 3 channels with different values; .*grayscale"),
    ("black_on_clear.png", Image.fromarray(np.dstack([MASK * 0] * 3 + [MASK])),
     r": its object is only in the alpha channel .*save a grayscale mask"),
]


@pytest.mark.parametrize("name,mask,message", MASK_REFUSALS, ids=[m[0] for m in MASK_REFUSALS])
def test_odd_invalid_masks_are_refused_naming_the_file(tmp_path, name, mask, message):
    path = saved(tmp_path, name, mask)
    with pytest.raises(DataError, match=message) as info:
        read_mask(path)
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)


def test_a_folder_of_odd_kinds_and_upper_case_names_gives_the_plain_samples(tmp_path):
    """data=folder as a user fills it: .JPG / .PNG names, grey / palette images, cut-out masks."""
    for folder in ("plain/im", "plain/gt", "odd/im", "odd/gt"):
        (tmp_path / folder).mkdir(parents=True)
    cutout = Image.fromarray(np.dstack([OPAQUE] * 3 + [MASK]))
    for stem, image, odd_name, odd_image, odd_mask in (
        ("a", GREY3, "a.PNG", Image.fromarray(GREY), cutout),
        ("b", np.array(QUANTISED.convert("RGB")), "b.Png", QUANTISED, Image.fromarray(MASK > 0)),
    ):
        Image.fromarray(image).save(tmp_path / "plain/im" / f"{stem}.png")
        Image.fromarray(MASK).save(tmp_path / "plain/gt" / f"{stem}.png")
        odd_image.save(tmp_path / "odd/im" / odd_name)
        odd_mask.save(tmp_path / "odd/gt" / f"{stem}.PNG")
    plain = PairedFolderDataset(tmp_path / "plain/im", tmp_path / "plain/gt")
    odd = PairedFolderDataset(tmp_path / "odd/im", tmp_path / "odd/gt")
    assert len(odd) == len(plain) == 2
    for i in range(2):
        for key in ("image", "mask", "name"):
            np.testing.assert_array_equal(odd[i][key], plain[i][key])


@pytest.mark.parametrize("suffix", imaging.IMAGE_SUFFIXES)
def test_every_suffix_a_folder_is_listed_by_is_a_format_the_reader_decodes(tmp_path, suffix):
    lossless = {".jpg": {"quality": 100, "subsampling": 0}, ".jpeg": {"quality": 100,
                "subsampling": 0}, ".webp": {"lossless": True}}.get(suffix, {})
    out = imaging.read_image(saved(tmp_path, f"x{suffix.upper()}", Image.fromarray(RGB),
                                   **lossless))
    assert np.abs(out.astype(int) - RGB).max() <= (8 if "jp" in suffix else 0)
