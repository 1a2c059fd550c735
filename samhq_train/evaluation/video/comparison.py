"""Two decoders' scores on the same sequences side by side (SAM 2.1 vs HQ-SAM 2: one weights
file, the HQ token off and on): the table and the JSON record of samhq-video-eval --checkpoint."""

from __future__ import annotations

from .benchmark import results_record
from .scores import OverallScore, SequenceScore

Scores = tuple[list[SequenceScore], OverallScore]


def _cells(item) -> list[float | None]:
    if isinstance(item, SequenceScore) and not item.objects:
        return [None, None, None]
    return [item.jf, item.j, item.f]


def _format(values: list[float | None], signed: bool = False) -> str:
    spec = "+6.1f" if signed else "6.1f"
    return " ".join(f"{'-':>6}" if v is None else f"{v:{spec}}" for v in values)


def comparison_table(results: dict[str, Scores]) -> str:
    """One row per sequence and one overall (every object of every sequence, as
    overall_score): J&F, J, F (percent) of each decoder (labels: the dict's keys, in order) and,
    with two decoders, the second minus the first."""
    labels = list(results)
    rows = list(zip(*(sequences for sequences, _ in results.values())))
    objects = next(iter(results.values()))[1].objects
    overall_name = f"overall ({objects} objects)"
    width = max(len(overall_name), *(len(row[0].name) for row in rows))
    titles = labels + (["difference"] if len(labels) == 2 else [])
    lines = [
        (f"{'':<{width}}" + "".join(f"  {title:^20}" for title in titles)).rstrip(),
        f"{'sequence':<{width}}" + f"  {'J&F':>6} {'J':>6} {'F':>6}" * len(titles),
    ]

    def line(name: str, items) -> str:
        cells = [_cells(item) for item in items]
        text = "".join(f"  {_format(c)}" for c in cells)
        if len(cells) == 2:
            diff = [None if a is None or b is None else b - a for a, b in zip(*cells)]
            text += f"  {_format(diff, signed=True)}"
        return f"{name:<{width}}{text}"

    lines += [line(row[0].name, row) for row in rows]
    lines.append(line(overall_name, [overall for _, overall in results.values()]))
    note = "percent; '-': no object in the scored frames"
    if len(labels) == 2:
        note += f"; difference: {labels[1]} minus {labels[0]} (positive: {labels[1]} better)"
    return "\n".join([*lines, note])


def comparison_record(results: dict[str, Scores], **settings) -> dict:
    """Each decoder's results_record (settings: results_record's keyword arguments but pred,
    which is settings["preds"][label]) and the overall differences, second minus first."""
    preds = settings.pop("preds")
    record = {
        label: results_record(sequences, overall, pred=preds[label], **settings)
        for label, (sequences, overall) in results.items()
    }
    if len(results) == 2:
        first, second = (record[label] for label in results)
        record["difference"] = {k: second[k] - first[k] for k in ("J&F", "J", "F")}
    return record


__all__ = ["comparison_record", "comparison_table"]
