"""samhq-video --text ... --detect-every-frame: SAM 3's video concept model (ConceptVideoSession)
instead of detect-once-then-track. The text prompt (and / or the --exemplar-box: one box, see
box_prompt.py) goes on --text-frame; the video is processed forward from there to the last
frame, then in reverse from the frame before it to frame 0.
--threshold is the detection score threshold (Meta's score_threshold_detection); --concept-settings
FILE: a JSON object of further ConceptVideoSettings fields (Meta's Sam3VideoBase settings, e.g.
{"hotstart_delay": 15, "new_det_thresh": 0.7}). Writes a PNG per frame (pixel value: 1 for the
first object shown, 2 for the next, ...; object ids keep growing as objects come and go) and
concept.json: the text, the frame, and each object shown with its id, its PNG value, the first
frame it was shown on, its detection score and its masklet score (the score Meta's SA-Co/VEval
predictions give it, masklet_scores).

--prompts FILE with it: clicks on the video model's objects (Meta's playground refining a tracked
object, or adding one), in samhq-video's prompts format (prompts.py) with points only; "object"
is an id of concept.json (any other id starts a new object), "round" 2, 3, ... as there. After
the text's two passes each round's clicks are added, then the clicked objects alone are tracked
again (ConceptVideoSession.add_points, propagate); the files show the last round's outputs
(object scores: 1.0 for a clicked object)."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, fields, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from samhq_train.clip_tokenizer import TokenizerFileError
from samhq_train.errors import UserError
from samhq_train.files import atomic_write, atomic_write_text
from samhq_train.inference.command_options import hq_choice
from samhq_train.model.sam3.concept.detector import NoDetectorError, concept_detector
from samhq_train.model.sam3.tracking import VideoPartsMissing
from samhq_train.progress import Progress
from samhq_train.user_files import read_text

from ..concept_tracking import prompt_words
from ..prompts import PromptsFileError, VideoPrompt, read_prompts
from .planning_outputs import FrameOutput
from .session import ConceptVideoSession
from .settings import ConceptVideoSettings

SETTING_KINDS = {
    "int": (int, "an integer"), "float": ((int, float), "a number"), "bool": (bool, "true or false")
}
MAX_PNG_ID = 255  # an 8-bit PNG holds ids 1..255
MAX_OBJECT_ID = 10**6  # the highest object id a click may give


class ConceptSettingsError(UserError):
    """A --concept-settings file that cannot be used; the message names it."""


def read_settings(path: str | None, threshold: float, used: bool = True):
    """Meta's settings with --threshold as the detection threshold and the file's fields (None
    when not `used`)."""
    if not used:
        return None
    settings = ConceptVideoSettings(score_threshold_detection=threshold)
    if path is None:
        return settings
    try:
        given = json.loads(read_text(path))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConceptSettingsError(
            f"--concept-settings {path}: not a readable JSON file ({err})"
        ) from None
    if not isinstance(given, dict):
        raise ConceptSettingsError(f"--concept-settings {path}: expected a JSON object of settings")
    known = {f.name: f.type for f in fields(ConceptVideoSettings)}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ConceptSettingsError(
            f"--concept-settings {path}: unknown setting {unknown[0]!r}; known: "
            + ", ".join(sorted(known))
        )
    for key, value in given.items():
        kind, name = SETTING_KINDS[str(known[key])]
        if isinstance(value, bool) != (kind is bool) or not isinstance(value, kind):
            raise ConceptSettingsError(
                f"--concept-settings {path}: {key} must be {name}, got {value!r}"
            )
    return replace(settings, **given)


def check_concept_video_options(parser: argparse.ArgumentParser, args) -> None:
    """--detect-every-frame only with --text; options of the detect-once path refused."""
    if not args.detect_every_frame:
        if args.concept_settings is not None:
            parser.error("--concept-settings goes with --text ... --detect-every-frame")
        return
    if args.text is None and not args.exemplar_box:
        parser.error("--detect-every-frame goes with --text or --exemplar-box")
    if len(args.exemplar_box) + len(args.counter_box) > 1:
        parser.error(
            "--detect-every-frame takes one box (Meta's video model: the first box on the frame "
            "is its visual prompt): give one --exemplar-box, or one --counter-box with --text"
        )
    if args.objects != "batched" or args.fill_hole_area is not None:
        parser.error(
            "--detect-every-frame tracks as SAM 3's video model does: leave out --objects and "
            "--fill-hole-area (set fill_hole_area in --concept-settings)"
        )


def make_session(args, model, settings) -> ConceptVideoSession:
    """The session on the loaded model (a model without the detector or the video parts, or a
    bad --bpe, refused in one line before the HQ note)."""
    try:
        concept_detector(model)
        use_hq, note = hq_choice(model, args.hq)
        session = ConceptVideoSession(model, args.bpe, settings, use_hq=use_hq)
    except (NoDetectorError, VideoPartsMissing) as err:
        raise ConceptSettingsError(f"--checkpoint {args.checkpoint}: {err}") from None
    except TokenizerFileError as err:
        raise ConceptSettingsError(f"--bpe {args.bpe}: {err}") from None
    if note is not None:  # after the refusals: an error is the one line printed
        print(note, file=sys.stderr)
    return session


def read_clicks(path, num_frames: int, video_hw, limit: str) -> list[list[VideoPrompt]]:
    """The clicks file's entries by round (none without a file): points only, any object id."""
    if path is None:
        return []
    prompts = read_prompts(
        path, num_frames, video_hw, "independent", limit, sam3=True, obj_ids=(0, MAX_OBJECT_ID)
    )
    for prompt in prompts:
        if prompt.box is not None or prompt.mask is not None:
            raise PromptsFileError(
                f"{path}: object {prompt.obj_id} on frame {prompt.frame}: with "
                "--detect-every-frame give points only (clicks on the video model's objects)"
            )
    return [[p for p in prompts if p.round == r] for r in range(1, prompts[-1].round + 1)]


def run_concept_video(
    session: ConceptVideoSession, video, frame: int, text: str | None, rounds=(), boxes=None,
    box_labels=None,
):
    """The session over the whole video: the prompt (text and / or box) on `frame`, forward from
    it, then in reverse before it; then each round of clicks added and the video propagated both
    ways again. Yields the last round's (frame, FrameOutput), with a progress line per pass."""
    session.set_video(video)
    session.add_prompt(frame, text, boxes, box_labels)
    n = session.num_frames
    for number in range(len(rounds) + 1):
        if number:
            add_clicks(session, rounds[number - 1])
        totals = (n - frame, frame) if number == 0 else (n, 0)  # clicks: forward from frame 0
        last = number == len(rounds)
        for reverse, total in zip((False, True), totals):
            what = "tracking in reverse" if reverse else "tracking forward"
            what += f" after click round {number}" if number else ""
            with Progress(total, what, "frame") as bar:
                for result in session.propagate(reverse=reverse):
                    if last:
                        yield result
                    bar.update()


def add_clicks(session: ConceptVideoSession, clicks: list[VideoPrompt]) -> None:
    for click in clicks:
        if click.obj_id not in session.obj_ids:
            print(f"object {click.obj_id} is not tracked: the clicks on frame {click.frame} "
                  "start it as a new object")
        session.add_points(click.frame, click.obj_id, click.points, click.labels)


def detect_every_frame(
    args, video, model, settings, out: Path, palette, clicks=(), boxes: dict | None = None
) -> int:
    """samhq-video's --detect-every-frame run: the session made (refusals in one line), every
    frame written, a summary line. clicks: read_clicks' rounds; boxes: concept.json's
    exemplar_boxes and exemplar_labels (the box prompt, or None for both)."""
    session = make_session(args, model, settings)
    device = torch.device(args.device).type
    out.mkdir(parents=True, exist_ok=True)
    boxes = boxes or {"exemplar_boxes": None, "exemplar_labels": None}
    record = {"text": args.text, **boxes, "frame": args.text_frame,
              "frame_name": video.names[args.text_frame], "settings": asdict(settings),
              "click_rounds": len(clicks)}
    with torch.autocast(device, dtype=torch.bfloat16, enabled=args.bf16):
        results = run_concept_video(
            session, video, args.text_frame, args.text, clicks, boxes["exemplar_boxes"],
            boxes["exemplar_labels"],
        )
        shown = write_outputs(out, video, results, palette, record, session)
    prompt = prompt_words(args.text, boxes["exemplar_boxes"])
    print(f"{len(video)} frames, {len(shown)} objects of {prompt} shown "
          f"(ids {sorted(shown)}) -> {out}")
    return 0


def id_picture(output: FrameOutput, size: tuple[int, int], values: dict[int, int]) -> np.ndarray:
    """H x W uint8: 0 background, each object's PNG value where its mask is (masks do not
    overlap). An object shown for the first time gets the next value (`values` grows)."""
    picture = np.zeros(size, dtype=np.uint8)
    for obj_id, mask in zip(output.obj_ids.tolist(), output.masks):
        if obj_id not in values:
            if len(values) == MAX_PNG_ID:
                raise ConceptSettingsError(
                    f"more than {MAX_PNG_ID} objects shown: an 8-bit PNG cannot tell them apart; "
                    'limit them with --concept-settings {"max_num_objects": ...}'
                )
            values[obj_id] = len(values) + 1
        picture[mask] = values[obj_id]
    return picture


def write_outputs(out: Path, video, results, palette, record: dict, session=None) -> dict:
    """Each frame's PNG; returns {obj id: {"first_frame", "score", "png_value"}} of the objects
    shown, also written to concept.json. With the `session` that made `results`, each object
    also gets its "masklet_score" (masklet_scores)."""
    shown: dict[int, dict] = {}
    values: dict[int, int] = {}
    for frame, output in results:
        picture = Image.fromarray(id_picture(output, video.size, values), mode="P")
        picture.putpalette(palette)
        atomic_write(out / f"{video.names[frame]}.png",
                     lambda tmp, picture=picture: picture.save(tmp, format="PNG"))
        for obj_id, prob in zip(output.obj_ids.tolist(), output.probs.tolist()):
            entry = shown.setdefault(obj_id, {"first_frame": frame, "score": prob})
            entry["first_frame"] = min(entry["first_frame"], frame)
            entry["png_value"] = values[obj_id]
    final = masklet_scores(session, shown) if session is not None else {}
    objects = [
        {"id": obj_id, "png_value": v["png_value"], "first_frame": v["first_frame"],
         "score": round(float(v["score"]), 6),
         **({"masklet_score": round(final[obj_id], 6)} if obj_id in final else {})}
        for obj_id, v in sorted(shown.items())
    ]
    atomic_write_text(out / "concept.json", json.dumps({**record, "objects": objects}, indent=1))
    return shown


def masklet_scores(session: ConceptVideoSession, obj_ids) -> dict[int, float]:
    """{obj id: the score Meta's SA-Co/VEval predictions give its masklet}, read after the run:
    Sam3VideoInference.forward scores each object shown with its obj_id_to_score once
    propagation ends (prep_for_evaluator; the configs write them through PostProcessNullOp, not
    PostProcessAPIVideo's mean over frames): the detection probability it started with, 1.0
    once clicked, -1e4 if the hotstart rules removed it after it was shown (a reverse pass)."""
    return {obj_id: float(session.state.obj_id_to_score[obj_id])
            for obj_id in obj_ids if obj_id in session.state.obj_id_to_score}
