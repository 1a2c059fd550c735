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
    """One row per sequence and one overall: J&F, J, F (percent) of each decoder (labels: the
    dict's keys, in order) and, with two decoders, the second minus the first."""
    labels = list(results)
    rows = list(zip(*(sequences for sequences, _ in results.values())))
    width = max(len("overall"), *(len(row[0].name) for row in rows))
    head = "".join(f"  {label + ' J&F / J / F':>20}" for label in labels)
    if len(labels) == 2:
        head += f"  {'difference':>20}"
    lines = [f"{'sequence':<{width}}{head}"]

    def line(name: str, items) -> str:
        cells = [_cells(item) for item in items]
        text = "".join(f"  {_format(c):>20}" for c in cells)
        if len(cells) == 2:
            diff = [None if a is None or b is None else b - a for a, b in zip(*cells)]
            text += f"  {_format(diff, signed=True):>20}"
        return f"{name:<{width}}{text}"

    lines += [line(row[0].name, row) for row in rows]
    lines.append(line("overall", [overall for _, overall in results.values()]))
    return "\n".join(lines)


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
