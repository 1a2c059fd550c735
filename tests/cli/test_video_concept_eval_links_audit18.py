"""Mutation audit 18: samhq-video-concept-eval's --gt given as a broken link says so (a path that
is there as a link, to nothing), not "no such file" as a missing path does."""

from tests.cli.test_video_concept_eval_input_kinds import refusal, veval  # noqa: F401


def test_a_broken_link_given_for_the_gt_is_said_to_be_one(veval, tmp_path, capsys):  # noqa: F811
    link = tmp_path / "gt.json"
    link.symlink_to(tmp_path / "gone.json")
    line = refusal(["--gt", str(link), "--masks", str(veval["masks"])], capsys)
    assert line.startswith(f"error: --gt {link}: ") and "broken link" in line, line
