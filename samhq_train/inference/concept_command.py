"""samhq-concept: every instance of a text prompt ("a striped cat") in images, with HQ-SAM 3's
masks: SAM 3's concept detector finds the instances, the HQ decoder draws each one from its box.

    samhq-concept --image photo.jpg --text "a striped cat" --checkpoint sam3_hq.pt \\
        --bpe bpe_simple_vocab_16e6.txt.gz --out found/
    samhq-concept --images photos/ --text "car" --checkpoint sam3.pt --bpe bpe.txt.gz --no-hq
    samhq-concept --image photo.jpg --exemplar-box 10 20 80 90 --checkpoint sam3.pt \\
        --bpe bpe.txt.gz     # instances like the one in that box (no text)
    samhq-concept --image photo.jpg --text "a cat" --text "a dog" --checkpoint sam3.pt \\
        --bpe bpe.txt.gz     # several concepts: the image is encoded once

--checkpoint: a SAM 3 file holding the detector (Meta's sam3.pt, or a full export of a model
trained from it: `samhq-export --to sam_hq`); --bpe: the text tokenizer's BPE merges file, Meta's
bpe_simple_vocab_16e6.txt.gz (sam3.pt does not contain it). --exemplar-box X0 Y0 X1 Y1 (pixels,
repeatable) shows an example of the concept, --counter-box one that is not; with one --image
only, and with one --text (they show examples of that one concept). --text is repeatable: each
concept is detected in turn on the one image encoding, and its instances follow the previous
concept's. An instance is kept when its confidence (the detector's score times its presence score)
passes --threshold (Meta's default 0.5). Its mask is the HQ decoder's for its box (on when the
checkpoint has trained HQ parts; --no-hq: SAM 3's own decoder; --detector-masks: the detector's
masks, as Meta's Sam3Processor gives them).
Writes <out>/<stem>.json (image size, prompt, and per instance: score, box x0 y0 x1 y1, the
decoder's predicted IoU, mask file), <out>/<stem>_masks/NNNN.png and <out>/<stem>_overlay.png
(each instance in its own colour, numbered as its mask file). With several --text the json's
"text" is their list and each instance has its "text".
Existing outputs are kept unless --overwrite; --skip-existing skips the images an earlier run with
the same settings finished in --out (each JSON records them as "samhq_concept", and its image), to
finish a run after Ctrl-C. Ctrl-C stops with one line counting the images whose outputs were
written (each whole), exit 130.
Exit status 0, or 2 with one error line for bad input (a missing image, BPE file or checkpoint,
a SAM or SAM 2.1 checkpoint, or a SAM 3 one without the detector (both from the file's header
and key names, before a model is built), an empty prompt, a --text over the text encoder's 30
tokens, a box outside the image, existing outputs, with --skip-existing outputs of other settings).
"""

from __future__ import annotations

from samhq_train.errors import run_as_main

if __name__ == "__main__":  # python -m: started as the installed command (one line on Ctrl-C)
    run_as_main("samhq_train.inference.concept_command")

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from samhq_train.clip_tokenizer import ClipTokenizer
from samhq_train.constants import SAM3_DETECTOR_FILES
from samhq_train.drawing import draw_overlay
from samhq_train.errors import UserError, exit_on_user_error
from samhq_train.files import all_or_none, atomic_write_text
from samhq_train.model import CheckpointError, inspect
from samhq_train.model.formats import other_family_refusal
from samhq_train.model.sam3.concept.detector import NoDetectorError
from samhq_train.progress import track

from .amg_command import AmgInputError, list_images, load_model
from .command_options import (
    add_device_options,
    add_hq_option,
    add_weights_options,
    check_device_options,
    hq_choice,
)
from .concept import NO_DETECTOR, ConceptPredictor, file_without_detector, joined
from .concept_resume import NOT_RECORDED, RECORD_KEY, concept_result, recorded_mask_names
from .export import OutputError, check_output_dir
from .interrupted import exit_interrupted
from .mask_folders import write_mask_folder
from .predict_files import write_png
from .predictor import ImageReadError, PromptError, checked_boxes, load_image
from .resume_records import SKIP_EXISTING_AGAIN, read_json, run_record, skip_finished, taken_hint


class ConceptInputError(UserError):
    """An input of samhq-concept that cannot be used; the message names it."""


# what --checkpoint takes, said after a file of another model family
CONCEPT_NEEDS = (
    "text and exemplar prompts need SAM 3's concept detector: give a SAM 3 / HQ-SAM 3 file "
    f"with it ({SAM3_DETECTOR_FILES})"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--image", action="append", default=[], help="an image file (repeatable)")
    parser.add_argument("--images", help="a folder of images")
    parser.add_argument(
        "--text",
        action="append",
        help="the concept, a noun phrase (e.g. 'a red car'); repeatable: several concepts",
    )
    add_box_options(parser)
    parser.add_argument("--checkpoint", required=True, help="SAM 3 weights with the detector")
    parser.add_argument("--base", help="base checkpoint for an HQ-only --checkpoint")
    parser.add_argument("--bpe", required=True, help="the BPE merges file (.txt.gz)")
    add_weights_options(parser)
    parser.add_argument("--threshold", type=float, default=0.5, help="confidence to keep")
    parser.add_argument(
        "--detector-masks", action="store_true", help="the detector's masks, not refined"
    )
    add_hq_option(parser)
    add_device_options(parser)
    parser.add_argument("--out", default="concept", help="output folder (default: concept)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument(
        "--skip-existing",
        action="store_true",
        help="skip the images an earlier run with the same settings finished in --out (with "
        "--overwrite: redo the others)",
    )
    args = parser.parse_args(argv)
    if not args.image and not args.images:
        parser.error("give --image FILE (repeatable) and/or --images FOLDER")
    if args.text is None and not args.exemplar_box:
        parser.error("give --text and / or --exemplar-box")
    check_texts(parser, args)
    if not 0.0 <= args.threshold < 1.0:
        parser.error(f"--threshold must be in [0, 1), got {args.threshold}")
    check_device_options(parser, args)
    return args


def add_box_options(parser: argparse.ArgumentParser, where: str = "") -> None:
    """--exemplar-box / --counter-box X0 Y0 X1 Y1 (pixels, repeatable; `where`: the help's
    note on which picture they are on); box_prompts reads them."""
    box = dict(nargs=4, type=float, action="append", default=[], metavar=("X0", "Y0", "X1", "Y1"))
    parser.add_argument(
        "--exemplar-box", **box, help=f"an example of the concept{where} (repeatable)"
    )
    parser.add_argument("--counter-box", **box, help=f"a counter-example{where} (repeatable)")


def box_prompts(args: argparse.Namespace):
    """(boxes K x 4 float64, labels K: 1 an example, 0 a counter-example) of --exemplar-box
    and --counter-box, the examples first; (None, None) without boxes."""
    boxes = [*args.exemplar_box, *args.counter_box]
    if not boxes:
        return None, None
    labels = [1] * len(args.exemplar_box) + [0] * len(args.counter_box)
    return np.array(boxes, dtype=np.float64), np.array(labels)


def check_texts(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Each --text a noun phrase, none twice; exemplar boxes with one --text only."""
    texts = args.text or []
    for text in texts:
        if not text.strip():
            parser.error("--text is empty: give a noun phrase such as 'a red car'")
        if [t.strip() for t in texts].count(text.strip()) > 1:
            parser.error(f"--text {text!r} is given twice: give each concept once")
    if len(texts) > 1 and (args.exemplar_box or args.counter_box):
        parser.error(
            "--exemplar-box / --counter-box show examples of one concept: give one --text with "
            "them (or none), and run the other texts apart"
        )


def check_text_lengths(tokenizer: ClipTokenizer, texts: list) -> None:
    """Each --text within the text encoder's context (start and end tokens included): a longer
    one would be cut off in silence (Meta's tokenizer keeps the first tokens)."""
    room = tokenizer.context_length - 2
    for text in texts:
        count = 0 if text is None else len(tokenizer.encode(text))
        if count > room:
            raise ConceptInputError(
                f"--text {text[:40]!r}... is {count} tokens but SAM 3's text encoder reads "
                f"{room} (its context of {tokenizer.context_length} less start and end): "
                "shorten it, the rest would be cut off"
            )


def check_checkpoint_file(args: argparse.Namespace) -> None:
    """A --checkpoint of SAM or SAM 2.1 (SAM-HQ's epoch_<n>.pth too), or a SAM 3 file (or the
    --base of an HQ-only one) without the concept detector, refused from its header and key
    names, before a model is built. A file that cannot be inspected is left to the loader, which
    words its problem."""
    try:
        info = inspect(args.checkpoint, args.format)
    except CheckpointError:
        return
    if info.family is not None and info.family != "sam3":
        raise other_family_refusal(
            "--checkpoint", args.checkpoint, info.variant or "SAM", info.family, CONCEPT_NEEDS
        )
    lacking = file_without_detector(info, args.base)
    if lacking is not None:
        flag = "--checkpoint" if lacking == Path(args.checkpoint) else "--base"
        raise ConceptInputError(f"{flag} {lacking} {NO_DETECTOR}: {CONCEPT_NEEDS}")


def check_boxes_in_image(boxes, image_path: Path) -> None:
    """--exemplar-box / --counter-box inside their image and well formed, before the weights
    are read (the image's size from the file itself)."""
    if boxes is None:
        return
    try:
        checked_boxes(boxes, load_image(image_path).shape[:2])
    except ImageReadError as err:
        raise ConceptInputError(str(err)) from None
    except PromptError as err:
        raise ConceptInputError(f"--exemplar-box / --counter-box on {image_path}: {err}") from None


def box_record(boxes, labels) -> dict:
    """concept.json's exemplar_boxes (x0 y0 x1 y1, video pixels) and exemplar_labels (1 an
    example, 0 a counter-example), null without boxes: samhq-concept's and samhq-video's."""
    return {"exemplar_boxes": None if boxes is None else np.asarray(boxes).tolist(),
            "exemplar_labels": None if labels is None else np.asarray(labels).tolist()}


def exemplars(args: argparse.Namespace, images: list[Path]):
    """(boxes K x 4, labels K) of the exemplar / counter boxes, or (None, None)."""
    boxes, labels = box_prompts(args)
    if boxes is not None and len(images) != 1:
        raise ConceptInputError(
            "--exemplar-box / --counter-box are pixels of one image: give a single --image"
        )
    return boxes, labels


def write_result(
    out: Path,
    stem: str,
    image_name: str,
    image: np.ndarray,
    prompt: dict,
    found,
    instance_texts: list[str] | None = None,
    run: dict | None = None,
) -> int:
    """<out>/<stem>.json, <stem>_masks/NNNN.png and <stem>_overlay.png for `found` on the image
    named image_name; instance_texts: each instance's text, recorded with it (several texts);
    run: the run's record (resume_records.run_record), kept as "samhq_concept" for
    --skip-existing; returns the number of instances."""
    with all_or_none([]) as written:  # Ctrl-C, a full disk: none of this image's files stays
        return _write_result(
            out, stem, image_name, image, prompt, found, instance_texts, written, run
        )


def _write_result(out, stem, image_name, image, prompt, found, instance_texts, written, run):
    earlier = recorded_mask_names(read_json(out / f"{stem}.json"), stem)
    names = write_mask_folder(out, stem, list(found.masks), earlier, written)
    instances = []
    for i, name in enumerate(names):
        instances.append(
            {
                "score": round(float(found.scores[i]), 6),
                "box": [round(float(v), 3) for v in found.boxes[i]],
                "mask_score": None
                if found.mask_scores is None
                else round(float(found.mask_scores[i]), 6),
                "mask": name,
            }
        )
        if instance_texts is not None:
            instances[-1]["text"] = instance_texts[i]
    h, w = image.shape[:2]
    record = {"image": image_name, "height": h, "width": w, **prompt, "instances": instances}
    if run is not None:
        record[RECORD_KEY] = run
    written.append(out / f"{stem}.json")
    atomic_write_text(out / f"{stem}.json", json.dumps(record, indent=1))
    picture = draw_overlay(image, found.masks, boxes=found.boxes if len(found) else None)
    written.append(out / f"{stem}_overlay.png")
    write_png(out / f"{stem}_overlay.png", picture)
    return len(found)


def instance_texts(texts: list, answers: list) -> list[str] | None:
    """Each instance's text, in the order joined() gives them; None for a single text."""
    if len(texts) == 1:
        return None
    return [text for text, found in zip(texts, answers) for _ in range(len(found))]


def per_text(texts: list, answers: list) -> str:
    """'a cat': 2, 'a dog': 1 (the printed line of several texts)."""
    return ", ".join(f"{text!r}: {len(found)}" for text, found in zip(texts, answers))


@exit_on_user_error
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        images = list_images(args.image, args.images)
    except AmgInputError as err:
        raise ConceptInputError(str(err)) from None
    boxes, labels = exemplars(args, images)
    out = Path(args.out)
    run = run_record(args, NOT_RECORDED)
    images = images_to_do(images, out, run, args)
    if not images:
        return 0
    # a bad --bpe file, a text too long or a box off its image: one line before the weights
    check_text_lengths(ClipTokenizer(args.bpe, vocab_size=None), args.text or [])
    check_boxes_in_image(boxes, images[0])
    check_checkpoint_file(args)
    try:
        model = load_model(args).to(args.device)
    except AmgInputError as err:
        raise ConceptInputError(str(err)) from None
    use_hq, note = hq_choice(model, args.hq)
    try:
        predictor = ConceptPredictor(
            model,
            args.bpe,
            threshold=args.threshold,
            amp_dtype=torch.bfloat16 if args.bf16 else None,
        )
    except NoDetectorError as err:  # what the file's key names did not tell: the model's line
        raise ConceptInputError(f"--checkpoint {args.checkpoint}: {err}") from None
    return segment_images(args, images, out, predictor, use_hq, note, boxes, labels, run)


def images_to_do(
    images: list[Path], out: Path, run: dict, args: argparse.Namespace
) -> list[Path]:
    """The images to do: with --skip-existing not those an earlier run with `run` finished (those
    it began are redone, their files its own); the others' outputs must not be there (unless
    --overwrite), before the weights are read."""
    redone = []
    if args.skip_existing:
        try:
            images, redone = skip_finished(images, out, run, concept_result, args.overwrite,
                                           "results")
        except ValueError as err:
            raise ConceptInputError(str(err)) from None
    fresh = [p for p in images if p not in redone]  # a begun image's own files are replaced
    targets = [out / f"{p.stem}{suffix}" for p in fresh for suffix in (".json", "_overlay.png")]
    folders = [out / f"{p.stem}_masks" for p in fresh]
    try:
        check_output_dir(
            out,
            [*targets, *folders],
            overwrite=args.overwrite,
            folder_targets=folders,
            taken_hint=taken_hint(args.skip_existing),
            elsewhere="give another --out",
        )
    except OutputError as err:
        raise ConceptInputError(str(err)) from None
    return images


def segment_images(args, images, out, predictor, use_hq, note, boxes, labels, run) -> int:
    """Every image's outputs in `out`, the texts detected on each image's one encoding."""
    texts = args.text or [None]
    prompt = {
        "text": texts[0] if len(texts) == 1 else texts,
        **box_record(boxes, labels),
    }
    out.mkdir(exist_ok=True)
    done = 0  # images whose outputs are written, each whole
    try:
        for path in track(images, "concept", bar=False, leave=False):  # piped: now and then
            try:
                image = load_image(path)
            except ImageReadError as err:
                raise ConceptInputError(str(err)) from None
            if note is not None and not args.detector_masks:
                print(note, file=sys.stderr)
                note = None
            predictor.set_image(image)  # once: every text is detected on this encoding
            answers = [
                predictor.predict(
                    text,
                    exemplar_boxes=boxes,
                    exemplar_labels=labels,
                    refine=not args.detector_masks,
                    use_hq=use_hq,
                )
                for text in texts
            ]
            tags = instance_texts(texts, answers)
            count = write_result(
                out, path.stem, str(path), image, prompt, joined(answers), tags, run
            )
            counts = "" if tags is None else f" ({per_text(texts, answers)})"
            print(f"{path}: {count} instances{counts} -> {out / (path.stem + '.json')}")
            done += 1
    except KeyboardInterrupt as stop:
        exit_interrupted(stop, done, len(images), "images' results", out, SKIP_EXISTING_AGAIN)
    return 0

