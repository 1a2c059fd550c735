"""samhq_train.output_check: an output folder that cannot be written is one line naming the
setting and the path, before any work; samhq-export --overwrite onto a target of the other kind
(a file where a folder goes, a folder where a file goes) is one line, not an errno."""

import os
from pathlib import Path

import pytest

from samhq_train.cli import export as export_command
from samhq_train.errors import SETUP_ERROR_EXIT, UserError
from samhq_train.model import build_sam_hq, save_checkpoint
from samhq_train.output_check import OutputError, check_output_dir, check_writable_folder


def test_a_writable_folder_passes_and_nothing_is_created(tmp_path):
    target = tmp_path / "a" / "b"
    assert check_writable_folder(target, "hydra.run.dir") == target
    assert not (tmp_path / "a").exists() and list(tmp_path.iterdir()) == []


def test_a_file_or_a_folder_under_a_file_names_the_setting(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError) as err:
        check_writable_folder(tmp_path / "f", "output_dir")
    assert str(err.value).startswith(f"output_dir={tmp_path / 'f'} is a file, not a folder")
    with pytest.raises(OutputError, match=r"cannot be created: .*f is a file, not a folder"):
        check_writable_folder(tmp_path / "f" / "run", "hydra.run.dir")
    assert isinstance(err.value, UserError) and "\n" not in str(err.value)


def test_a_missing_parent_is_refused_unless_parents_are_created(tmp_path):
    with pytest.raises(OutputError, match="parent folder .*no does not exist"):
        check_writable_folder(tmp_path / "no" / "out", "--out", create_parents=False)
    check_writable_folder(tmp_path / "no" / "out", "--out")
    # a missing folder whose parent exists needs no parents created
    assert check_writable_folder(tmp_path / "new", "--out", create_parents=False) == (
        tmp_path / "new"
    )


def test_a_home_folder_is_expanded(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert check_writable_folder("~/runs", "--out") == tmp_path / "runs"


def test_an_unwritable_folder_says_where_it_would_be_created(tmp_path, monkeypatch):
    real = os.access

    def no_write(path, mode):  # only writing is refused (searching the folder is allowed)
        return False if Path(path) == tmp_path and mode & os.W_OK else real(path, mode)

    monkeypatch.setattr(os, "access", no_write)
    with pytest.raises(OutputError) as err:
        check_writable_folder(tmp_path / "run", "hydra.run.dir")
    assert str(err.value).startswith(
        f"hydra.run.dir={tmp_path / 'run'} is not writable ({tmp_path}, where it would be created)"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused(tmp_path):
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="is not writable"):
            check_writable_folder(tmp_path, "output_dir")
    finally:
        tmp_path.chmod(0o755)


def test_overwrite_refuses_a_target_of_the_other_kind(tmp_path):
    folder_target, file_target = tmp_path / "m_transformers", tmp_path / "m.pth"
    folder_target.write_text("x")
    file_target.mkdir()
    with pytest.raises(OutputError, match="m_transformers is a file where a folder is written"):
        check_output_dir(tmp_path, [folder_target], overwrite=True, folder_targets=[folder_target])
    with pytest.raises(OutputError, match=r"m.pth is a folder where a file is written"):
        check_output_dir(tmp_path, [file_target], overwrite=True)
    (tmp_path / "ok.pth").write_text("x")
    check_output_dir(tmp_path, [tmp_path / "ok.pth"], overwrite=True)


def test_taken_targets_are_counted_and_an_empty_folder_is_not_taken(tmp_path):
    empty, full = tmp_path / "empty", tmp_path / "full"
    empty.mkdir()
    full.mkdir()
    (full / "x").write_text("x")
    check_output_dir(tmp_path, [empty, tmp_path / "missing.pth"])
    (tmp_path / "a.pth").write_text("x")
    (tmp_path / "b.pth").write_text("x")
    with pytest.raises(OutputError) as err:
        check_output_dir(tmp_path, [empty, full, tmp_path / "a.pth", tmp_path / "b.pth"])
    assert str(err.value) == (
        f"{full} already exists (and 2 more): pass --overwrite to replace it, or give another "
        "--out or --name"
    )


@pytest.fixture(scope="module")
def tiny_full(tmp_path_factory):
    return save_checkpoint(
        build_sam_hq("vit_demo", seed=0), tmp_path_factory.mktemp("w") / "w.pth", "sam_hq"
    )


@pytest.mark.parametrize(
    ("target", "made", "message"),
    [
        ("transformers", "sam_hq_vit_demo_transformers", "is a file where a folder is written"),
        ("sam_hq", "sam_hq_vit_demo.pth", "is a folder where a file is written"),
    ],
)
def test_export_overwrite_onto_the_other_kind_is_one_line(
    tiny_full, tmp_path, capsys, target, made, message
):
    path = tmp_path / made
    path.mkdir() if made.endswith(".pth") else path.write_text("x")
    argv = ["--checkpoint", str(tiny_full), "--to", target, "--out", str(tmp_path), "--overwrite"]
    with pytest.raises(SystemExit) as info:
        export_command.main(argv)
    err = capsys.readouterr().err
    assert info.value.code == SETUP_ERROR_EXIT and "Traceback" not in err
    assert err.strip().splitlines() == [
        f"error: {path} {message}, which --overwrite does not replace: remove it, or give "
        "another --out or --name"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == [made]  # nothing else written


def test_a_read_only_mount_says_so_not_permission_denied(tmp_path, monkeypatch):
    """os.access refuses writing on a read-only mount (root included): the reason then is the
    mount, which no chmod fixes. The mount is faked (mounting needs root)."""
    real_access, real_statvfs = os.access, os.statvfs

    class ReadOnly:
        f_flag = os.ST_RDONLY

    monkeypatch.setattr(
        os, "access", lambda p, m: False if Path(p) == tmp_path else real_access(p, m)
    )
    monkeypatch.setattr(
        os, "statvfs", lambda p: ReadOnly() if Path(p) == tmp_path else real_statvfs(p)
    )
    with pytest.raises(OutputError) as err:
        check_writable_folder(tmp_path, "--out")
    assert str(err.value) == (
        f"--out={tmp_path} is not writable: read-only file system; give a writable folder"
    )
