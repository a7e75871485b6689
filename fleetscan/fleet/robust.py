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

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

MAD_TO_SIGMA = 1.4826  # σ of a normal distribution = 1.4826 × its median absolute deviation


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

    Exact, in O(n log n): see `grouped_loo_mad`.

    >>> loo_mad(np.array([1.0, 2.0, 3.0, 100.0]), np.array([3.0, 3.0, 2.0, 2.0])).tolist()
    [1.0, 2.0, 1.0, 1.0]
    """
    return grouped_loo_mad(values, centres, np.zeros(len(values), np.int64))


def loo_mad_columns(x: Floats, centres: Floats) -> Floats:
    """`loo_mad` for every column of `x` (NaN entries are not part of their column) at once.

    >>> x = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, np.nan], [100.0, np.nan]])
    >>> loo_mad_columns(x, loo_median(x)).tolist()
    [[1.0, 0.0], [2.0, 0.0], [1.0, 0.0], [1.0, 0.0]]
    """
    n, width = x.shape
    codes = np.repeat(np.arange(width, dtype=np.int64), n)
    flat = grouped_loo_mad(x.T.ravel(), centres.T.ravel(), codes)
    out: Floats = flat.reshape(width, n).T
    return out


@dataclass(frozen=True, eq=False)
class _Ranked:
    """Values sorted by (group, value), finite values of each group first: `start` and `m` are,
    per entry, where its group begins in `ranked` and how many finite values the group holds."""

    ranked: Floats  # sorted values, plus one NaN sentinel at the end
    rank: Ints  # each entry's place within its group
    start: Ints
    m: Ints
    finite: Bools


def _rank_groups(values: Floats, codes: Ints) -> _Ranked:
    finite = np.isfinite(values)
    order = np.lexsort((values, codes))  # NaN sorts last within each group
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    sizes = np.bincount(codes, minlength=n_groups)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    m = np.bincount(codes[finite], minlength=n_groups).astype(np.int64)
    rank = np.empty(len(values), np.int64)
    rank[order] = np.arange(len(values)) - starts[codes[order]]
    ranked = np.append(values[order], np.nan)
    return _Ranked(ranked, rank, starts[codes], m[codes], finite)


def grouped_loo_median(values: Floats, codes: Ints) -> Floats:
    """For every entry, the median of the *other* finite entries of its group (`codes`, 0..G-1).

    A NaN entry is not part of its group, so its "leave-one-out" median is the whole group's; NaN
    where nothing is left. Removing one value moves the median by at most one rank, so it is read
    off the sorted group by index: one sort, no padding, whatever the group sizes.

    >>> grouped_loo_median(np.array([1.0, 2.0, 10.0, 4.0]), np.array([0, 0, 0, 1])).tolist()
    [6.0, 5.5, 1.5, nan]
    """
    r = _rank_groups(values, codes)
    left = r.m - r.finite  # how many values remain once this one is set aside
    k1 = np.clip((left - 1) // 2, 0, None)
    k2 = np.clip(left // 2, 0, None)
    i1 = r.start + k1 + (r.finite & (k1 >= r.rank))
    i2 = r.start + k2 + (r.finite & (k2 >= r.rank))
    last = len(r.ranked) - 1
    a = r.ranked[np.minimum(i1, last)]
    b = r.ranked[np.minimum(i2, last)]
    out: Floats = np.where(left > 0, (a + b) / 2.0, np.nan)
    return out


def grouped_median(values: Floats, codes: Ints) -> Floats:
    """For every entry, the median of its group's finite values (NaN when there are none).

    >>> grouped_median(np.array([1.0, np.nan, 10.0, 4.0]), np.array([0, 0, 0, 1])).tolist()
    [5.5, 5.5, 5.5, 4.0]
    """
    r = _rank_groups(values, codes)
    last = len(r.ranked) - 1
    a = r.ranked[np.minimum(r.start + np.clip((r.m - 1) // 2, 0, None), last)]
    b = r.ranked[np.minimum(r.start + r.m // 2, last)]
    out: Floats = np.where(r.m > 0, (a + b) / 2.0, np.nan)
    return out


def grouped_loo_mad(values: Floats, centres: Floats, codes: Ints) -> Floats:
    """For every entry, the median of |other finite values of its group - its centre|.

    Exact, in O(n log n). Around a centre c the k smallest deviations are k neighbours in sorted
    order, so the k-th smallest deviation is found by a binary search over windows of k sorted
    values (`_kth_deviation`). Setting the entry's own deviation d aside shifts a rank by one:
    the r-th of the rest is the r-th of all when d is above it, else the (r+1)-th.

    >>> grouped_loo_mad(np.array([1.0, 2.0, 3.0, 9.0]), np.array([2.5, 3.0, 2.0, 2.0]),
    ...                 np.array([0, 0, 0, 1])).tolist()
    [0.5, 1.0, 0.5, nan]
    """
    r = _rank_groups(values, codes)
    left = r.m - r.finite
    a = np.clip((left - 1) // 2, 0, None)
    second = left % 2 == 0  # an even count: the median averages ranks a and a + 1
    with np.errstate(invalid="ignore"):
        own = np.where(r.finite, np.abs(values - centres), np.inf)
        d0, d1, d2 = (_kth_deviation(r, centres, a + j) for j in range(3))
        lower = np.where(own > d0, d0, d1)  # own = inf (a NaN entry) keeps the plain ranks
        upper = np.where(own > d1, d1, d2)
    out: Floats = np.where(left > 0, (lower + np.where(second, upper, lower)) / 2.0, np.nan)
    return out


def _kth_deviation(r: _Ranked, centres: Floats, k: Ints) -> Floats:
    """Per entry, the (k+1)-th smallest |x - centre| over its group's finite values (NaN if none).

    The k+1 values nearest c are the sorted window [lo, lo + k] with the smallest
    max(c - x[lo], x[lo + k] - c); the right side grows and the left shrinks with lo, so the best
    window is where they cross: a binary search, vectorised over all entries at once.
    """
    ok = (k < r.m) & np.isfinite(centres)
    span = np.where(ok, k, 0)
    lo = np.zeros(len(k), np.int64)
    hi = np.where(ok, r.m - span, 0)  # the first lo with right >= left lies in [0, m - k]
    c = np.where(ok, centres, 0.0)
    last = len(r.ranked) - 1
    while True:
        active = lo < hi
        if not active.any():
            break
        mid = np.where(active, (lo + hi) // 2, 0)
        right = r.ranked[np.minimum(r.start + mid + span, last)] - c
        left = c - r.ranked[np.minimum(r.start + mid, last)]
        crossed = active & (right >= left)
        hi = np.where(crossed, mid, hi)
        lo = np.where(active & ~crossed, mid + 1, lo)

    def width(at: Ints, valid: Bools) -> Floats:
        i = np.where(valid, at, 0)
        w = np.maximum(
            c - r.ranked[np.minimum(r.start + i, last)],
            r.ranked[np.minimum(r.start + i + span, last)] - c,
        )
        out: Floats = np.where(valid, w, np.inf)
        return out

    best = np.minimum(width(lo, lo <= r.m - 1 - span), width(lo - 1, lo >= 1))
    result: Floats = np.where(ok, best, np.nan)
    return result
