"""samhq-video-concept-eval: a --gt / --pred that is a folder and a --masks that is a file are
refused saying what they are (the lines said "no such file" / "no such folder" of paths that
exist); a missing one still says it is not there."""

import pytest

from samhq_train.cli import video_concept_eval
from tests.evaluation.concept_video_data import write_veval_files


@pytest.fixture(scope="module")
def veval(tmp_path_factory):
    return write_veval_files(tmp_path_factory.mktemp("veval_kinds"))


def refusal(argv, capsys) -> str:
    with pytest.raises(SystemExit) as stop:
        video_concept_eval.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_a_folder_given_for_a_json_file_is_said_to_be_one(veval, capsys):
    folder = veval["masks"]
    line = refusal(["--gt", str(folder), "--pred", str(veval["pred"])], capsys)
    assert line == f"error: --gt {folder}: a folder, not a file"
    line = refusal(["--gt", str(veval["gt"]), "--pred", str(folder)], capsys)
    assert line == f"error: --pred {folder}: a folder, not a file"


def test_a_file_given_for_the_masks_folder_is_said_to_be_one(veval, tmp_path, capsys):
    line = refusal(["--gt", str(veval["gt"]), "--masks", str(veval["pred"])], capsys)
    assert line == f"error: --masks {veval['pred']}: a file, not a folder"
    missing = tmp_path / "none"
    line = refusal(["--gt", str(veval["gt"]), "--masks", str(missing)], capsys)
    assert line == f"error: --masks {missing}: folder not found"
    line = refusal(["--gt", str(missing), "--masks", str(veval["masks"])], capsys)
    assert line == f"error: --gt {missing}: no such file"
