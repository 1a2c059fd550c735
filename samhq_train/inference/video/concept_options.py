"""samhq-video's concept prompt options (--text, --exemplar-box / --counter-box with --bpe,
--text-frame, --threshold): their checks before any work (the command line's alone, then the
--text's length and the boxes before the weights are read), and concept.json's record of the boxes.
The box options are samhq-concept's (concept_command.py)."""

from __future__ import annotations

import argparse

from ...clip_tokenizer import ClipTokenizer
from ..concept_command import box_prompts, check_text_lengths
from ..predictor import PromptError, checked_boxes
from .point_prompts import VideoPromptError


def concept_prompt(args: argparse.Namespace) -> bool:
    """Whether the command line holds a concept prompt (a text or boxes)."""
    return args.text is not None or bool(args.exemplar_box or args.counter_box)


def check_text_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--prompts or a concept prompt: --text and / or --exemplar-box (with --bpe; both with
    --detect-every-frame: the prompts are clicks on its objects), and the text options only with
    a concept prompt."""
    concept = concept_prompt(args)
    both = args.prompts is not None and concept
    if (args.prompts is None and not concept) or (both and not args.detect_every_frame):
        parser.error("give --prompts FILE or --text 'a noun phrase' / --exemplar-box X0 Y0 X1 Y1 "
                     "(one of them; both with --detect-every-frame, the prompts then clicks on "
                     "its objects)")
    if not concept:
        given = [f for f, v in (("--bpe", args.bpe), ("--text-frame", args.text_frame != 0),
                                ("--threshold", args.threshold != 0.5)) if v]
        if given:
            parser.error(f"{given[0]} goes with --text or --exemplar-box")
        return
    if args.text is not None and not args.text.strip():
        parser.error("--text is empty: give a noun phrase such as 'a red car'")
    if args.text is None and not args.exemplar_box:
        parser.error("--counter-box alone finds nothing: give --text and / or --exemplar-box")
    if args.bpe is None:
        parser.error(f"{'--text' if args.text is not None else '--exemplar-box'} needs --bpe "
                     "FILE: CLIP's merges file bpe_simple_vocab_16e6.txt.gz (from Meta's sam3 "
                     "repository, assets/)")
    if args.text_frame < 0:
        parser.error(f"--text-frame {args.text_frame}: give a frame index, 0 or more")
    if not 0.0 <= args.threshold < 1.0:
        parser.error(f"--threshold must be in [0, 1), got {args.threshold}")


def checked_concept_prompts(args: argparse.Namespace, video_hw: tuple[int, int]):
    """The concept prompts checked before the weights are read: the --text fits the text
    encoder (as samhq-concept's; a bad --bpe file refused too), and box_prompts(args), each box
    on the video's frames (VideoPromptError naming it)."""
    check_text_lengths(ClipTokenizer(args.bpe, vocab_size=None), [args.text])
    for flag, boxes in (("--exemplar-box", args.exemplar_box), ("--counter-box", args.counter_box)):
        for box in boxes:
            try:
                checked_boxes(box, video_hw)
            except PromptError as err:
                given = " ".join(f"{v:g}" for v in box)
                raise VideoPromptError(f"{flag} {given}: {err}") from None
    return box_prompts(args)
