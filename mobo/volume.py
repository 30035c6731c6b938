"""Exact hypervolume dominated by a point set (minimisation).

All objectives are minimised. A point counts only if it is strictly better than the
reference point ``ref`` in every objective. Input: Y (n, m) and ref (m,); output: the
Lebesgue measure of { z <= ref : some counted row y has y <= z }.

Algorithms, by number of objectives m:

- m = 1: ``ref - min(y)``.
- m = 2: sort by the first objective and sweep, O(n log n).
- m = 3: sweep along the third objective keeping the two-dimensional staircase of the
  points seen so far as a sorted array (the dimension-sweep of Beume, Fonseca,
  Lopez-Ibanez, Paquete & Vahrenhold 2009, with an array instead of a balanced tree:
  O(n log n) comparisons plus O(n^2) worst-case element moves, which are memmoves and
  negligible at the sizes used here). The volume is accumulated as a sum of disjoint
  boxes (a staircase step times the slab it survived), so every term is non-negative and
  there is no cancellation. The staircase is the one :mod:`mobo.boxes` sweeps to
  decompose the non-dominated region in three dimensions.
- m >= 4: the dimension-sweep recursion of the HSO family (While, Hingston, Barone &
  Huband 2006): sweep along the last objective and multiply each slab's thickness by the
  (m-1)-dimensional hypervolume of the points below it, down to the 3-D case, O(n^(m-2)
  log n). For m = 4 the points are sorted by the third objective once, so each slab costs
  one linear 3-D sweep.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from mobo.boxes import _counted_points, _stair_find, _stair_replace
from mobo.pareto import is_nondominated

__all__ = ["contributions", "hypervolume"]


@njit(cache=True)
def _hv2d(P: np.ndarray, order: np.ndarray, r0: float, r1: float) -> float:  # pragma: no cover
    """P: (n, >=2) points inside the reference box; order: (k,) indices of the rows to use,
    sorted by P[:, 0]."""
    n = order.shape[0]
    vol = 0.0
    best = r1
    for k in range(n):
        i = order[k]
        b = P[i, 1]
        if b < best:
            # horizontal slab between the new and the previous best second objective
            vol += (r0 - P[i, 0]) * (best - b)
            best = b
    return vol


@njit(cache=True)
def _hv3d(
    P: np.ndarray, order: np.ndarray, r0: float, r1: float, r2: float
) -> float:  # pragma: no cover - numba
    """P: (n, >=3) points inside the reference box; order: (k,) indices of the rows to use,
    sorted by P[:, 2]."""
    n = order.shape[0]
    # staircase of the projections seen so far: a ascending, b strictly descending;
    # t[i] is the level at which step i's strip [a_i, a_(i+1)) x [b_i, r1] last changed.
    sa = np.empty(n + 1, dtype=np.float64)
    sb = np.empty(n + 1, dtype=np.float64)
    st = np.empty(n + 1, dtype=np.float64)
    s = 0
    vol = 0.0
    for k in range(n):
        i = order[k]
        a = P[i, 0]
        b = P[i, 1]
        z = P[i, 2]
        pos = _stair_find(sa, s, a)
        # skip points whose projection is weakly dominated: they add nothing
        if pos > 0 and sb[pos - 1] <= b:
            continue
        if pos < s and sa[pos] == a and sb[pos] <= b:
            continue
        # the left neighbour's strip is cut at a
        if pos > 0:
            right = sa[pos] if pos < s else r0
            vol += (right - sa[pos - 1]) * (r1 - sb[pos - 1]) * (z - st[pos - 1])
            st[pos - 1] = z
        # steps whose projection the new point dominates are closed
        q = pos
        while q < s and sb[q] >= b:
            right = sa[q + 1] if q + 1 < s else r0
            vol += (right - sa[q]) * (r1 - sb[q]) * (z - st[q])
            q += 1
        s = _stair_replace(sa, sb, st, s, pos, q, a, b, z)
    for j in range(s):
        right = sa[j + 1] if j + 1 < s else r0
        vol += (right - sa[j]) * (r1 - sb[j]) * (r2 - st[j])
    return vol


@njit(cache=True)
def _hv4d(P: np.ndarray, ref: np.ndarray) -> float:  # pragma: no cover - numba
    """Hypervolume of the first 4 columns of P (points inside the reference box)."""
    n = P.shape[0]
    if n == 0:
        return 0.0
    order4 = np.argsort(P[:, 3])
    rank4 = np.empty(n, dtype=np.int64)
    for k in range(n):
        rank4[order4[k]] = k
    # one sort by the third objective serves every slab: a slab's 3-D sweep visits the
    # points below it in this order
    order3 = np.argsort(P[:, 2])
    sub = np.empty(n, dtype=np.int64)
    vol = 0.0
    for k in range(n):
        upper = P[order4[k + 1], 3] if k + 1 < n else ref[3]
        depth = upper - P[order4[k], 3]
        if depth > 0.0:
            c = 0
            for t in range(n):
                if rank4[order3[t]] <= k:
                    sub[c] = order3[t]
                    c += 1
            vol += depth * _hv3d(P, sub[:c], ref[0], ref[1], ref[2])
    return vol


@njit(cache=True)
def _hv_sweep(P: np.ndarray, ref: np.ndarray, m: int) -> float:  # pragma: no cover - numba
    """Hypervolume of the first m columns of P (points inside the reference box), m >= 4."""
    n = P.shape[0]
    if n == 0:
        return 0.0
    if m == 4:
        return _hv4d(P, ref)
    order = np.argsort(P[:, m - 1])
    sorted_pts = np.empty((n, m - 1), dtype=np.float64)
    for k in range(n):
        for j in range(m - 1):
            sorted_pts[k, j] = P[order[k], j]
    vol = 0.0
    for k in range(n):
        upper = P[order[k + 1], m - 1] if k + 1 < n else ref[m - 1]
        depth = upper - P[order[k], m - 1]
        if depth > 0.0:
            vol += depth * _hv_sweep(sorted_pts[: k + 1], ref, m - 1)
    return vol


def hypervolume(Y: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume dominated by ``Y`` and bounded by ``ref`` (minimisation).

    Args:
        Y: (n, m) objective values. Rows not strictly better than ``ref`` in every
            objective do not count; dominated and duplicate rows are harmless. NaN is an
            error, and so is -inf in a counted row.
        ref: (m,) finite reference point.

    Returns:
        The Lebesgue measure of { z <= ref : some counted row y has y <= z }; 0.0 when no
        row counts.
    """
    P, ref = _counted_points(Y, ref, "Y")
    n, m = P.shape
    if n == 0:
        return 0.0
    if m == 1:
        return float(ref[0] - P[:, 0].min())
    # numpy's sort of a contiguous column is several times faster than numba's
    if m == 2:
        return float(_hv2d(P, np.argsort(P[:, 0]), ref[0], ref[1]))
    if m == 3:
        return float(_hv3d(P, np.argsort(P[:, 2]), ref[0], ref[1], ref[2]))
    if n > 1:
        # the recursion's cost grows with n^(m-3); dominated rows only slow it down
        P = np.ascontiguousarray(P[is_nondominated(P)])
    return float(_hv_sweep(P, ref, m))


def contributions(Y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """The hypervolume each row of ``Y`` alone dominates (its exclusive contribution):
    ``hypervolume(Y) - hypervolume(Y without the row)``, clipped at 0 against rounding.

    Args:
        Y: (n, m) objective values (minimisation), as for :func:`hypervolume`.
        ref: (m,) finite reference point.

    Returns:
        (n,) non-negative contributions: 0 for a row that does not count, that another row
        dominates, or that has a duplicate (the two share what they dominate); positive for
        every other row of a non-dominated set that beats ``ref``.
    """
    Y = np.asarray(Y, dtype=float)
    total = hypervolume(Y, ref)
    alone = np.array([total - hypervolume(np.delete(Y, i, axis=0), ref) for i in range(len(Y))])
    return np.maximum(alone, 0.0)
