"""How near a Hungarian matching is to a tie (the bf16 tests assert theirs are set apart)."""

import numpy as np
from scipy.optimize import linear_sum_assignment


def second_best_gap(cost) -> float:
    """How much more the cheapest assignment without one of the best's pairs costs."""
    cost = np.asarray(cost, dtype=np.float64)
    rows, cols = linear_sum_assignment(cost)
    best, gap = cost[rows, cols].sum(), np.inf
    for row, col in zip(rows, cols):
        without = cost.copy()
        without[row, col] = 1e9
        rows2, cols2 = linear_sum_assignment(without)
        gap = min(gap, without[rows2, cols2].sum() - best)
    return float(gap)
