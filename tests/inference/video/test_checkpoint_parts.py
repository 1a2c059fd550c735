"""samhq-video and samhq-app --video: a SAM 3 file without the concept detector (with --text) or
without the tracker's video parts (an image-only file, the shipped SAM 3 demo base), and for the
app a file of another family, are refused in one line, the file named once, from the file's
header and key names before a model is built (it was built and loaded first, after a note line
on its HQ parts)."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from samhq_train.app import command as app_command
from samhq_train.app import video_open
from samhq_train.app.command import main as app_main
from samhq_train.constants import DEMO_BASE_DIR
from samhq_train.inference.video import command
from samhq_train.model.sam3.model import VIDEO_PREFIXES
from tests.model.sam3.concept.ours_file import write_sam3_with_detector

NO_DETECTOR = (
    "has no concept detector (no detector.transformer.decoder.* keys: a SAM 3 file of the "
    "interactive path only): text and exemplar prompts need Meta's sam3.pt, or a full export of "
    "a model trained from it"
)
NO_VIDEO_PARTS = (
    "has no video parts (no tracker.maskmem_backbone.* keys: an image-only SAM 3 file): tracking "
    "needs Meta's sam3.pt or an HQ-SAM 3 checkpoint made from it"
)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoint_parts")
    full, merges = write_sam3_with_detector(folder)
    interactive, _ = write_sam3_with_detector(folder, with_detector=False)
    image_only = folder / "sam3_image_only.pt"
    state = torch.load(full, weights_only=True)
    torch.save({k: v for k, v in state.items() if not k.startswith(VIDEO_PREFIXES)}, image_only)
    frames = folder / "frames"
    frames.mkdir()
    for i in range(2):
        picture = (np.random.RandomState(i).rand(32, 40, 3) * 255).astype(np.uint8)
        Image.fromarray(picture).save(frames / f"{i:05d}.png")
    prompts = folder / "prompts.json"
    prompts.write_text(json.dumps([{"frame": 0, "object": 1, "points": [[9, 9]], "labels": [1]}]))
    return {"interactive": interactive, "image_only": image_only, "bpe": merges,
            "frames": frames, "prompts": prompts}


CASES = {
    "text, interactive-only": ("interactive", ["--text", "car"], NO_DETECTOR),
    "every frame, interactive-only": (
        "interactive", ["--text", "car", "--detect-every-frame"], NO_DETECTOR
    ),
    "text, image-only": ("image_only", ["--text", "car"], NO_VIDEO_PARTS),
    "prompts, image-only": ("image_only", ["--prompts"], NO_VIDEO_PARTS),
    "prompts, the demo base": (DEMO_BASE_DIR / "sam3_hq_demo_base.pt", ["--prompts"],
                               NO_VIDEO_PARTS),
    "prompts, SAM 1": (DEMO_BASE_DIR / "vit_demo_base.safetensors", ["--prompts"],
                       "is a sam1 model: video tracking needs an HQ-SAM 2 / SAM 2.1 model or an "
                       "HQ-SAM 3 / SAM 3 model"),
    "text, SAM 2.1": (DEMO_BASE_DIR / "sam2.1_hq_hiera_demo_base.pt", ["--text", "car"],
                      "is a sam2 model; text and exemplar prompts need Meta's sam3.pt, or a full "
                      "export of a model trained from it"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_file_without_the_parts_is_one_line_before_loading(case, files, tmp_path, capsys,
                                                              monkeypatch):
    name, extra, says = CASES[case]
    checkpoint = files.get(name, name)
    if extra[0] == "--prompts":
        extra = ["--prompts", str(files["prompts"])]
    else:
        extra = [*extra, "--bpe", str(files["bpe"])]
    monkeypatch.setattr(command, "load_model",
                        lambda args: pytest.fail("the model was loaded before the refusal"))
    argv = ["--frames", str(files["frames"]), "--checkpoint", str(checkpoint), *extra,
            "--out", str(tmp_path / "out"), "--device", "cpu"]
    with pytest.raises(SystemExit) as stop:
        command.main(argv)
    assert stop.value.code == 2
    assert capsys.readouterr().err.splitlines() == [f"error: --checkpoint {checkpoint} {says}"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("every_frame", [False, True])
def test_the_models_own_refusal_is_one_line_without_the_hq_note(every_frame, files, tmp_path,
                                                                 capsys, monkeypatch):
    """Where the key names do not tell (here: made not to), the loaded model's refusal is the one
    line: the note on its untrained HQ parts is not printed before it."""
    monkeypatch.setattr(command, "tracking_refusal", lambda *args, **kwargs: None)
    checkpoint = files["image_only"]
    extra = ["--text", "car", "--bpe", str(files["bpe"])]
    argv = ["--frames", str(files["frames"]), "--checkpoint", str(checkpoint), *extra,
            *(["--detect-every-frame"] if every_frame else []),
            "--out", str(tmp_path / "out"), "--device", "cpu"]
    with pytest.raises(SystemExit) as stop:
        command.main(argv)
    assert stop.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: --checkpoint {checkpoint}: this SAM 3 model has no video parts")


@pytest.mark.parametrize(
    ("checkpoint", "says"),
    [
        (DEMO_BASE_DIR / "sam3_hq_demo_base.pt",
         f"--checkpoint {DEMO_BASE_DIR / 'sam3_hq_demo_base.pt'} {NO_VIDEO_PARTS}"),
        (DEMO_BASE_DIR / "vit_demo_base.safetensors",
         "the checkpoint vit_demo_base.safetensors is a sam1 model: video tracking needs"),
    ],
)
def test_app_video_refuses_a_file_that_cannot_track_before_loading(checkpoint, says, files,
                                                                   tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(app_command, "load_checkpoint",
                        lambda *args, **kwargs: pytest.fail("the model was loaded first"))
    with pytest.raises(SystemExit) as stop:
        app_main([str(checkpoint), "--video", str(files["frames"]), "--port", "0", "--out",
                  str(tmp_path / "out"), "--device", "cpu"], serve=False)
    assert stop.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: --video: {says}"), line


def test_app_video_the_models_own_refusal_is_one_line_naming_the_file(files, tmp_path, capsys,
                                                                     monkeypatch):
    """samhq-app --video where the key names do not tell (here: made not to): the loaded model's
    refusal is one line naming the file, the note on its untrained HQ parts not printed first."""
    monkeypatch.setattr(video_open, "missing_parts", lambda *args, **kwargs: None)
    checkpoint = files["image_only"]
    with pytest.raises(SystemExit) as stop:
        app_main([str(checkpoint), "--video", str(files["frames"]), "--port", "0", "--out",
                  str(tmp_path / "out"), "--device", "cpu"], serve=False)
    assert stop.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: --video: the checkpoint {checkpoint}: this SAM 3 model has no "
                           "video parts"), line


def test_app_video_on_a_file_that_tracks_still_notes_its_untrained_hq_parts_once(files, tmp_path,
                                                                                  capsys):
    checkpoint = DEMO_BASE_DIR / "sam2.1_hq_hiera_demo_base.pt"
    server = app_main([str(checkpoint), "--video", str(files["frames"]), "--port", "0", "--out",
                       str(tmp_path / "out"), "--device", "cpu"], serve=False)
    server.server_close()
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "decoding as plain SAM 2.1" in notes[0], notes
