"""Exact dominated hypervolume and disjoint box decompositions of the non-dominated region.

All objectives are minimised. A point counts only if it is strictly better than the
reference point ``ref`` in every objective.

Hypervolume, by number of objectives m:

- m = 1: ``ref - min(y)``.
- m = 2: sort by the first objective and sweep, O(n log n).
- m = 3: sweep along the third objective keeping the two-dimensional staircase of the
  points seen so far as a sorted array (the dimension-sweep of Beume, Fonseca,
  Lopez-Ibanez, Paquete & Vahrenhold 2009, with an array instead of a balanced tree:
  O(n log n) comparisons plus O(n^2) worst-case element moves, which are memmoves and
  negligible at the sizes used here). The volume is accumulated as a sum of disjoint
  boxes (a staircase step times the slab it survived), so every term is non-negative and
  there is no cancellation.
- m >= 4: the dimension-sweep recursion of the HSO family (While, Hingston, Barone &
  Huband 2006): sweep along the last objective and multiply each slab's thickness by the
  (m-1)-dimensional hypervolume of the points below it, down to the 3-D case, O(n^(m-2)
  log n). For m = 4 the points are sorted by the third objective once, so each slab costs
  one linear 3-D sweep.

Box decomposition (``nondominated_boxes``): disjoint boxes covering the non-dominated
region N = { z <= ref : no counted front point f has f <= z }, the region in which exact
EHVI integrates (Emmerich, Yang, Deutz, Wang & Fonseca 2016; Yang, Emmerich, Deutz &
Baeck 2019).

- m = 2: the p + 1 vertical strips between consecutive front points.
- m = 3: the same sweep as the 3-D hypervolume. Each step of the staircase owns one
  strip ``[a_i, a_(i+1)) x (-inf, b_i)``; when a point is inserted only the strip to its
  left and the strips of the points it removes change, so those are closed (emitted as
  boxes spanning the third-objective interval they lived through) and at most two are
  opened. At most 3p + 1 boxes, O(p) as in Lacour, Klamroth & Fonseca 2017.
- m >= 4: sweep along the last objective over the (m-1)-dimensional decomposition of the
  points below each level; a box of that decomposition stays open across levels as long as
  it is unchanged and is emitted when it disappears. Correct for every m, with more boxes
  than the optimal constructions.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from mobo.pareto import _check_points, is_nondominated

__all__ = ["hypervolume", "nondominated_boxes"]


def _check_ref(ref: np.ndarray, m: int) -> np.ndarray:
    ref = np.asarray(ref, dtype=np.float64)
    if ref.ndim != 1 or ref.shape[0] != m:
        raise ValueError(f"ref must have shape ({m},) to match the objectives, got {ref.shape}")
    if not np.isfinite(ref).all():
        raise ValueError(f"ref must be finite, got {ref.tolist()}")
    return np.ascontiguousarray(ref)


@njit(cache=True)
def _inside(Y: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, bool]:  # pragma: no cover
    """Rows of Y strictly better than ref in every objective, and whether one has a -inf."""
    n, m = Y.shape
    P = np.empty((n, m), dtype=np.float64)
    c = 0
    neginf = False
    for i in range(n):
        ok = True
        for j in range(m):
            if not Y[i, j] < ref[j]:
                ok = False
                break
        if ok:
            for j in range(m):
                P[c, j] = Y[i, j]
                if Y[i, j] == -np.inf:
                    neginf = True
            c += 1
    return P[:c], neginf


def _counted(Y: np.ndarray, ref: np.ndarray, name: str) -> np.ndarray:
    """Rows of Y strictly better than ref in every objective; -inf in such a row is an error."""
    P, neginf = _inside(Y, ref)
    if neginf:
        raise ValueError(f"{name} has -inf in a point inside the reference box: unbounded volume")
    return P


# ---------------------------------------------------------------------------------------
# hypervolume kernels
# ---------------------------------------------------------------------------------------


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
def _stair_find(sa: np.ndarray, s: int, a: float) -> int:  # pragma: no cover - numba
    """First index in the sorted sa[:s] whose value is >= a (binary search)."""
    lo = 0
    hi = s
    while lo < hi:
        mid = (lo + hi) // 2
        if sa[mid] < a:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _stair_replace(
    sa: np.ndarray, sb: np.ndarray, st: np.ndarray, s: int, pos: int, q: int,
    a: float, b: float, z: float,
) -> int:  # pragma: no cover - numba
    """Replace staircase steps ``pos..q-1`` (the ones the new point dominates; none when
    ``q == pos``) by the single step (a, b) opened at level z; returns the new length."""
    removed = q - pos
    if removed == 0:
        for j in range(s - 1, pos - 1, -1):
            sa[j + 1] = sa[j]
            sb[j + 1] = sb[j]
            st[j + 1] = st[j]
    elif removed > 1:
        shift = removed - 1
        for j in range(q, s):
            sa[j - shift] = sa[j]
            sb[j - shift] = sb[j]
            st[j - shift] = st[j]
    sa[pos] = a
    sb[pos] = b
    st[pos] = z
    return s - removed + 1


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
    Y = _check_points(Y)
    ref = _check_ref(ref, Y.shape[1])
    P = _counted(Y, ref, "Y")
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


# ---------------------------------------------------------------------------------------
# box decomposition of the non-dominated region
# ---------------------------------------------------------------------------------------


@njit(cache=True)
def _boxes3d(
    P: np.ndarray, r0: float, r1: float, r2: float
) -> tuple[np.ndarray, np.ndarray, int]:  # pragma: no cover - numba
    """Disjoint boxes of the 3-D non-dominated region; P: (p, 3) inside the reference box.

    Staircase strips are [a_i, a_(i+1)) x (-inf, b_i), plus a leading strip
    (-inf, a_0) x (-inf, r1) stored at index 0 with a = -inf, b = r1.
    """
    p = P.shape[0]
    cap = 3 * p + 1
    lo = np.empty((cap, 3), dtype=np.float64)
    hi = np.empty((cap, 3), dtype=np.float64)
    K = 0
    order = np.argsort(P[:, 2], kind="mergesort")
    sa = np.empty(p + 2, dtype=np.float64)
    sb = np.empty(p + 2, dtype=np.float64)
    st = np.empty(p + 2, dtype=np.float64)
    sa[0] = -np.inf
    sb[0] = r1
    st[0] = -np.inf
    s = 1
    for k in range(p):
        i = order[k]
        a = P[i, 0]
        b = P[i, 1]
        z = P[i, 2]
        # the sentinel's a = -inf < a, so pos >= 1
        pos = _stair_find(sa, s, a)
        if sb[pos - 1] <= b:
            continue
        if pos < s and sa[pos] == a and sb[pos] <= b:
            continue
        right = sa[pos] if pos < s else r0
        if z > st[pos - 1]:
            lo[K, 0] = sa[pos - 1]
            lo[K, 1] = -np.inf
            lo[K, 2] = st[pos - 1]
            hi[K, 0] = right
            hi[K, 1] = sb[pos - 1]
            hi[K, 2] = z
            K += 1
        st[pos - 1] = z
        q = pos
        while q < s and sb[q] >= b:
            if z > st[q]:
                lo[K, 0] = sa[q]
                lo[K, 1] = -np.inf
                lo[K, 2] = st[q]
                hi[K, 0] = sa[q + 1] if q + 1 < s else r0
                hi[K, 1] = sb[q]
                hi[K, 2] = z
                K += 1
            q += 1
        s = _stair_replace(sa, sb, st, s, pos, q, a, b, z)
    for j in range(s):
        if r2 > st[j]:
            lo[K, 0] = sa[j]
            lo[K, 1] = -np.inf
            lo[K, 2] = st[j]
            hi[K, 0] = sa[j + 1] if j + 1 < s else r0
            hi[K, 1] = sb[j]
            hi[K, 2] = r2
            K += 1
    return lo, hi, K


@njit(cache=True)
def _boxes2d(
    P: np.ndarray, order: np.ndarray, r0: float, r1: float
) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - numba
    """Strips of the 2-D non-dominated region; order sorts P lexicographically."""
    p = order.shape[0]
    lo = np.full((p + 1, 2), -np.inf)
    hi = np.empty((p + 1, 2), dtype=np.float64)
    hi[0, 1] = r1
    K = 0
    best = r1
    for k in range(p):
        i = order[k]
        # lexicographic order: a point is non-dominated iff it beats the running minimum
        if P[i, 1] < best:
            hi[K, 0] = P[i, 0]
            K += 1
            lo[K, 0] = P[i, 0]
            hi[K, 1] = P[i, 1]
            best = P[i, 1]
    hi[K, 0] = r0
    return lo[: K + 1], hi[: K + 1]


def _boxes(P: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decomposition for counted points P (p, m), m >= 2."""
    m = P.shape[1]
    if m == 2:
        return _boxes2d(P, np.lexsort((P[:, 1], P[:, 0])), ref[0], ref[1])
    if m == 3:
        lo, hi, K = _boxes3d(np.ascontiguousarray(P), ref[0], ref[1], ref[2])
        return lo[:K].copy(), hi[:K].copy()
    P = P[is_nondominated(P)]
    levels = np.unique(P[:, m - 1])
    sub_ref = ref[: m - 1]
    # open boxes of the (m-1)-dimensional slice: (lower, upper) as a hashable key -> the
    # last-objective level at which the box appeared
    full = tuple(np.full(m - 1, -np.inf).tolist() + sub_ref.tolist())
    opened: dict[tuple[float, ...], float] = {full: -np.inf}
    out_lo: list[list[float]] = []
    out_hi: list[list[float]] = []

    def close(key: tuple[float, ...], start: float, stop: float) -> None:
        if stop > start:
            out_lo.append(list(key[: m - 1]) + [start])
            out_hi.append(list(key[m - 1 :]) + [stop])

    for t in levels:
        below = P[P[:, m - 1] <= t, : m - 1]
        lo, hi = _boxes(below, sub_ref)
        current = {tuple(lo[k].tolist() + hi[k].tolist()) for k in range(lo.shape[0])}
        for key in [key for key in opened if key not in current]:
            close(key, opened.pop(key), float(t))
        for key in current:
            if key not in opened:
                opened[key] = float(t)
    for key, start in opened.items():
        close(key, start, float(ref[m - 1]))
    return np.array(out_lo, dtype=np.float64).reshape(-1, m), np.array(
        out_hi, dtype=np.float64
    ).reshape(-1, m)


def nondominated_boxes(front: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint boxes whose union is the region not dominated by ``front`` (minimisation).

    The region is N = { z <= ref : no counted front point f has f <= z }, where a point
    counts if it is strictly better than ``ref`` in every objective. Boxes are half-open in
    spirit: they overlap only on boundaries of measure zero.

    Args:
        front: (p, m) points; dominated, duplicate and non-counted rows are ignored, so any
            point set may be passed. NaN is an error, and so is -inf in a counted row.
        ref: (m,) finite reference point.

    Returns:
        ``(lower, upper)``, each (K, m), with ``lower < upper`` elementwise; entries of
        ``lower`` may be -inf; ``upper <= ref``. With no counted point, K = 1 and the box
        is (-inf, ..., -inf) to ``ref``. For m = 2, K = p' + 1 (p' the number of distinct
        non-dominated counted points); for m = 3, K <= 3p' + 1.
    """
    front = _check_points(front, "front")
    m = front.shape[1]
    ref = _check_ref(ref, m)
    P = _counted(front, ref, "front")
    if P.shape[0] == 0:
        return np.full((1, m), -np.inf), ref[None, :].copy()
    if m == 1:
        return np.full((1, 1), -np.inf), np.array([[P[:, 0].min()]])
    return _boxes(P, ref)
