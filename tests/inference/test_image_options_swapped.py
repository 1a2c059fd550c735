"""--image given a folder or --images given a file (samhq-amg, samhq-concept: list_images): the
refusal says what the path is and names the other option, not "not found"."""

import pytest

from samhq_train.inference.amg_command import AmgInputError, list_images


def test_a_folder_as_image_names_images(tmp_path):
    with pytest.raises(AmgInputError) as err:
        list_images([str(tmp_path)], None)
    assert str(err.value) == (f"--image {tmp_path} is a folder: give an image file, or pass the "
                              f"folder as --images {tmp_path}")


def test_a_file_as_images_names_image(tmp_path):
    picture = tmp_path / "a.png"
    picture.write_bytes(b"")
    with pytest.raises(AmgInputError) as err:
        list_images([], str(picture))
    assert str(err.value) == (f"--images {picture} is a file: give a folder of images, or pass "
                              f"the file as --image {picture}")


def test_missing_paths_are_still_not_found(tmp_path):
    with pytest.raises(AmgInputError, match="file not found$"):
        list_images([str(tmp_path / "gone.png")], None)
    with pytest.raises(AmgInputError, match="folder not found$"):
        list_images([], str(tmp_path / "gone"))
