"""The n lowest-scoring images of a set, kept while the set streams by (for the overlay PNGs)."""

from __future__ import annotations

import heapq
import math


class WorstImages:
    """The n images of a set with the lowest score (ties: the earlier image is kept; a NaN score,
    which would break the ordering, ranks below every number)."""

    def __init__(self, n: int):
        self.n = n
        # (-score, -index, item): heap[0] is the kept image with the highest score
        self.heap: list[tuple[float, int, dict]] = []

    def wants(self, score: float, index: int) -> bool:
        score = _ranked(score)
        return self.n > 0 and (len(self.heap) < self.n or (-score, -index) > self.heap[0][:2])

    def add(self, score: float, index: int, item: dict) -> None:
        entry = (-_ranked(score), -index, item)
        if len(self.heap) < self.n:
            heapq.heappush(self.heap, entry)
        else:
            heapq.heapreplace(self.heap, entry)

    def sorted(self) -> list[dict]:
        return [item for _, _, item in sorted(self.heap, key=lambda e: (-e[0], -e[1]))]


def _ranked(score: float) -> float:
    return -math.inf if math.isnan(score) else score
