"""Rank and error statistics for scoring predictions against measurements."""

from __future__ import annotations

import numpy as np


def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties sharing their average rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=float)
    sorted_vals = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_vals[j + 1] == sorted_vals[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def pearson(x: list[float], y: list[float]) -> float:
    """Pearson's r = cov(x, y) / (σx·σy); NaN when either side is constant or n < 2."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's ρ: Pearson's r of the ranks (ties get average ranks)."""
    return pearson(list(ranks(np.asarray(x, float))), list(ranks(np.asarray(y, float))))


def mape(predicted: list[float], measured: list[float]) -> float:
    """Mean absolute percentage error, 100·mean(|p − m| / m), over measured > 0."""
    pairs = [(p, m) for p, m in zip(predicted, measured) if m > 0]
    if not pairs:
        return float("nan")
    return 100.0 * sum(abs(p - m) / m for p, m in pairs) / len(pairs)
