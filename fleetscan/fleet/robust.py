"""Robust statistics on ragged data, vectorised: medians, MADs and leave-one-out medians.

Missing entries are NaN everywhere. `np.sort` puts NaN last, so after sorting a row (or column) the
finite values come first and the median is picked by index from the count of finite values: one sort
per statistic, no Python loop over groups, and never a NumPy "all-NaN slice" warning.

>>> import numpy as np
>>> nan_median(np.array([[3.0, 1.0, np.nan], [np.nan, np.nan, np.nan]])).tolist()
[2.0, nan]
>>> loo_median(np.array([[1.0], [2.0], [10.0]]))[:, 0].tolist()
[6.0, 5.5, 1.5]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

MAD_TO_SIGMA = 1.4826  # σ of a normal distribution = 1.4826 × its median absolute deviation
LOO_EXACT_MAX = 512  # up to this many peers the leave-one-out MAD is exact (an n² computation)
LOO_CELLS = 1 << 22  # n² × groups cells computed at once for exact leave-one-out MADs


def sorted_median(sorted_rows: Floats, counts: Ints) -> Floats:
    """Medians of rows already sorted with their `counts[i]` finite values first (NaN when 0).

    >>> sorted_median(np.array([[1.0, 2.0, 9.0, np.nan]]), np.array([3])).tolist()
    [2.0]
    """
    if sorted_rows.shape[1] == 0:
        return np.full(sorted_rows.shape[0], np.nan)
    c = counts.astype(np.int64)
    lo = np.clip((c - 1) // 2, 0, None)[:, None]
    hi = np.clip(c // 2, 0, sorted_rows.shape[1] - 1)[:, None]
    a = np.take_along_axis(sorted_rows, lo, axis=1)[:, 0]
    b = np.take_along_axis(sorted_rows, hi, axis=1)[:, 0]
    out: Floats = np.where(c > 0, (a + b) / 2.0, np.nan)
    return out


def nan_median(rows: Floats) -> Floats:
    """Median of each row's finite values (NaN for a row with none)."""
    counts = np.isfinite(rows).sum(axis=1)
    return sorted_median(np.sort(rows, axis=1), counts)


def median_1d(values: Floats) -> float:
    """Median of the finite values of a 1-D array; NaN when there are none."""
    return float(nan_median(values[None, :])[0])


def mad_1d(values: Floats, centre: float) -> float:
    """Median absolute deviation of the finite values from `centre` (NaN when there are none)."""
    return median_1d(np.abs(values - centre))


def loo_median(x: Floats) -> Floats:
    """For every entry of each column, the median of the *other* finite entries of that column.

    A NaN entry is not part of its column, so its "leave-one-out" median is the whole column's.
    Where nothing is left, the result is NaN. One sort per call, whatever the shape.
    """
    n, width = x.shape
    finite = np.isfinite(x)
    order = np.argsort(x, axis=0, kind="stable")
    ranked = np.take_along_axis(x, order, axis=0)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(n)[:, None], x.shape), axis=0)
    m = finite.sum(axis=0)[None, :]
    left = np.where(finite, m - 1, m)  # how many values remain once this one is set aside
    k1 = np.clip((left - 1) // 2, 0, None)
    k2 = np.clip(left // 2, 0, None)
    i1 = np.minimum(k1 + (finite & (k1 >= rank)), max(n - 1, 0))
    i2 = np.minimum(k2 + (finite & (k2 >= rank)), max(n - 1, 0))
    a = np.take_along_axis(ranked, i1, axis=0)
    b = np.take_along_axis(ranked, i2, axis=0)
    out: Floats = np.where(left > 0, (a + b) / 2.0, np.nan)
    return out


def loo_mad(values: Floats, centres: Floats) -> Floats:
    """For each i, the MAD of the other finite values around `centres[i]` (its leave-one-out median).

    Exact up to `LOO_EXACT_MAX` finite values. Above that one value moves a MAD by under 1/500, and
    every entry gets the MAD of all values around their median (O(n), no n² matrix).

    >>> loo_mad(np.array([1.0, 2.0, 3.0, 100.0]), np.array([3.0, 3.0, 2.0, 2.0])).tolist()
    [1.0, 2.0, 1.0, 1.0]
    """
    if int(np.isfinite(values).sum()) <= LOO_EXACT_MAX:
        dev = np.abs(values[None, :] - centres[:, None])
        np.fill_diagonal(dev, np.nan)  # set each value itself aside
        return nan_median(dev)
    centre = median_1d(values)
    return np.full(len(centres), mad_1d(values, centre))


def loo_mad_columns(x: Floats, centres: Floats) -> Floats:
    """`loo_mad` for every column of `x` (NaN entries are not part of their column) at once.

    >>> x = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, np.nan], [100.0, np.nan]])
    >>> loo_mad_columns(x, loo_median(x)).tolist()
    [[1.0, 0.0], [2.0, 0.0], [1.0, 0.0], [1.0, 0.0]]
    """
    m, width = x.shape
    if m <= LOO_EXACT_MAX and m * m * width <= LOO_CELLS:
        dev = np.abs(x[None, :, :] - centres[:, None, :])  # [i, j, column]: x_j around centre_i
        dev[np.arange(m), np.arange(m), :] = np.nan  # set each value itself aside
        flat = dev.transpose(0, 2, 1).reshape(m * width, m)
        return nan_median(flat).reshape(m, width)
    out = np.full(x.shape, np.nan)
    for c in range(width):
        out[:, c] = loo_mad(x[:, c], centres[:, c])
    return out


def pack_groups(labels: Sequence[str]) -> Ints:
    """Row indexes laid out one group per column (`-1` padding), groups in first-seen order.

    >>> pack_groups(["a", "b", "a"]).tolist()
    [[0, 1], [2, -1]]
    """
    rows: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        rows.setdefault(label, []).append(i)
    height = max((len(r) for r in rows.values()), default=0)
    slots = np.full((height, len(rows)), -1, dtype=np.int64)
    for c, members in enumerate(rows.values()):
        slots[: len(members), c] = members
    return slots
