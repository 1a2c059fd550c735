"""samhq-video-eval's folders as a user gets them wrong: an entry named like a mask PNG that is no
regular file (a folder, a pipe, a broken link) among the GT's or the prediction's masks, and a
file given where a folder goes. One error line saying what is true, exit 2, nothing scored."""

import os

import pytest

from samhq_train.cli import video_eval
from tests.evaluation.video_data import SEQUENCES, write_dataset
from tests.inference.video.conftest import write_video

ONE = {"short": SEQUENCES["short"]}


@pytest.fixture
def folders(tmp_path):
    return write_dataset(tmp_path, ONE)


def _folder(path):
    path.mkdir()


def _pipe(path):
    os.mkfifo(path)


def _broken_link(path):
    path.symlink_to(path.parent / "gone.png")


def _refusal(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        video_eval.main(argv)
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and err.count("\n") == 0, err
    return err


@pytest.mark.parametrize("root", ["gt", "pred"])
@pytest.mark.parametrize(
    ("make", "named"),
    [(_folder, "a folder, not a file"), (_pipe, "not a regular file (a pipe or a device)"),
     (_broken_link, "a broken link")],
    ids=["folder", "fifo", "broken link"],
)
def test_a_mask_entry_that_is_no_file_is_refused_naming_it(folders, capsys, root, make, named):
    gt, pred = folders
    odd = (gt if root == "gt" else pred) / "short" / "00001b.png"
    make(odd)
    err = _refusal(["--gt", str(gt), "--pred", str(pred)], capsys)
    assert err.startswith(f"error: {odd}: {named}") and "move it out" in err, err


@pytest.mark.parametrize("layout", ["auto", "davis"])
def test_a_gt_entry_that_is_no_file_is_refused_before_tracking(folders, tmp_path, capsys, layout):
    """With --checkpoint the benchmark plans from the GT too (with --layout davis, before the
    scoring plan looks at the folders)."""
    gt, _ = folders
    height, width, num_frames = ONE["short"]
    write_video(tmp_path / "frames" / "short", num_frames, (height, width))
    odd = gt / "short" / "00001b.png"
    odd.mkdir()
    err = _refusal(["--gt", str(gt), "--frames", str(tmp_path / "frames"), "--checkpoint",
                    "missing.pt", "--out", str(tmp_path / "out"), "--layout", layout], capsys)
    assert err.startswith(f"error: {odd}: a folder, not a file") and "move it out" in err, err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("layout", ["auto", "davis"])
@pytest.mark.parametrize("flag", ["--gt", "--pred", "--frames"])
def test_a_root_given_as_a_file_or_missing_says_which(folders, tmp_path, capsys, flag, layout):
    gt, pred = folders
    roots = {"--gt": gt, "--pred": pred} if flag != "--frames" else {
        "--gt": gt, "--frames": gt.parent, "--checkpoint": "missing.pt", "--out": tmp_path / "o"}
    a_file = tmp_path / "notes.txt"
    a_file.write_text("")
    for given, says in ((a_file, "a file, not a folder"), (tmp_path / "gone", "folder not found")):
        argv = [str(a) for k, v in {**roots, flag: given}.items() for a in (k, v)]
        err = _refusal([*argv, "--layout", layout], capsys)
        assert err.startswith(f"error: {flag} {given}: {says}; give the "), err


def test_one_sequence_as_gt_with_a_checkpoint_asks_for_its_parent(folders, tmp_path, capsys):
    """Scoring takes one sequence's folder as --gt; tracking needs the folder of sequences."""
    gt, _ = folders
    err = _refusal(["--gt", str(gt / "short"), "--frames", str(tmp_path), "--checkpoint",
                    "missing.pt", "--out", str(tmp_path / "out")], capsys)
    assert err == (
        f"error: --gt {gt / 'short'} holds one sequence's masks: with --checkpoint give the "
        f"folder of sequence folders ({gt}), and --frames the one of their frames"), err
