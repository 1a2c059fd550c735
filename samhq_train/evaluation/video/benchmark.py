"""Scoring checked folders (plan.plan_evaluation: DAVIS or SA-V layout) and reporting: the
per-sequence table and the JSON record of samhq-video-eval."""

from __future__ import annotations

from samhq_train.progress import Progress

from .folders import SequenceFrames, VideoInputError, read_indexed
from .sav import SavSequence, score_sav_sequence
from .scores import DAVIS_VOID_ID, OverallScore, SequenceScore, SequenceScorer, overall_score


def score_sequence(frames: SequenceFrames, progress: Progress | None = None) -> SequenceScore:
    """J and F of every GT object of one sequence, over its scored frames (GT value 255: void,
    as DAVIS)."""
    scorer = SequenceScorer(frames.name, void_id=DAVIS_VOID_ID)
    for gt_file, pred_file in zip(frames.gt, frames.pred):
        scorer.add_frame(read_indexed(pred_file), read_indexed(gt_file))
        if progress is not None:
            progress.update()
    return scorer.result()


def score_sequences(
    plans: list[SequenceFrames] | list[SavSequence], *, show_progress: bool = True
):
    """(per-sequence scores, the overall score over every object of every sequence)."""
    total = sum(len(p.gt) for p in plans)
    with Progress(total, "J&F", unit="frame", enabled=show_progress, leave=False) as progress:
        sequences = [
            score_sav_sequence(plan, progress) if isinstance(plan, SavSequence)
            else score_sequence(plan, progress)
            for plan in plans
        ]
    if not any(s.objects for s in sequences):
        raise VideoInputError(
            f"no ground-truth object in the scored frames of {len(sequences)} sequence(s) "
            f"(first: {plans[0].gt[0]}): masks with nonzero object ids are needed"
        )
    return sequences, overall_score(sequences)


def void_note(sequences: list[SequenceScore]) -> str | None:
    """A note line when GT frames hold the DAVIS void value (255): those pixels were not scored."""
    voided = [s for s in sequences if s.void_frames]
    if not voided:
        return None
    frames = sum(s.void_frames for s in voided)
    return (
        f"note: {frames} scored GT frame(s) of {len(voided)} sequence(s) (first: {voided[0].name}) "
        f"hold value {DAVIS_VOID_ID}: void, as DAVIS scores it (no object; those pixels are not "
        "scored in the GT or the prediction)"
    )


def results_table(sequences: list[SequenceScore], overall: OverallScore) -> str:
    """The per-sequence table (percent, one decimal) and the overall line."""
    width = max(len("sequence"), *(len(s.name) for s in sequences))
    lines = [f"{'sequence':<{width}}  objects  frames    J&F      J      F"]
    for s in sequences:
        if s.objects:
            row = f"{s.jf:>6.1f} {s.j:>6.1f} {s.f:>6.1f}"
        else:
            row = f"{'no object in the scored frames':>20}"
        lines.append(f"{s.name:<{width}}  {len(s.objects):>7}  {s.frames:>6}  {row}")
    lines.append(
        f"Global score ({overall.objects} objects): J&F {overall.jf:.1f}  J {overall.j:.1f}  "
        f"F {overall.f:.1f}"
    )
    return "\n".join(lines)


def results_record(
    sequences: list[SequenceScore], overall: OverallScore, *, skip_first_and_last: bool,
    gt: str, pred: str, layout: str = "davis",
) -> dict:
    """Everything the table shows, unrounded, for --json (values in percent)."""
    def scores(item) -> dict:
        return {"J&F": item.jf, "J": item.j, "F": item.f}

    return {
        **scores(overall),
        "units": "percent",
        "objects": overall.objects,
        "skip_first_and_last": skip_first_and_last,
        "layout": layout,
        "gt": gt,
        "pred": pred,
        "sequences": {
            s.name: {
                **(scores(s) if s.objects else {"J&F": None, "J": None, "F": None}),
                "frames": s.frames,
                "objects": {
                    str(obj): {**scores(o), "frames": o.frames} for obj, o in s.objects.items()
                },
            }
            for s in sequences
        },
    }


__all__ = ["results_record", "results_table", "score_sequence", "score_sequences", "void_note"]
