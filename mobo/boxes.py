"""Disjoint box decompositions of the region a point set does not dominate.

All objectives are minimised. A front point counts only if it is strictly better than the
reference point ``ref`` in every objective. The non-dominated region is
N = { z <= ref : no counted front point f has f <= z }, the region in which the exact
expected hypervolume improvement integrates (Emmerich, Yang, Deutz, Wang & Fonseca 2016;
Yang, Emmerich, Deutz & Baeck 2019): :func:`nondominated_boxes` writes it as a union of
disjoint axis-aligned boxes [lower_k, upper_k], each (K, m), where lower may be -inf.

- m = 1: one box (-inf, min f].
- m = 2: the p + 1 vertical strips between consecutive front points (Emmerich, Deutz &
  Klinkenberg 2011). Sorted by the first objective, x_1 < ... < x_p and y_1 > ... > y_p,
  strip i spans [x_i, x_(i+1)] x (-inf, y_i] with x_0 = -inf, y_0 = ref_2 and
  x_(p+1) = ref_1.
- m = 3: a sweep along the third objective keeping the two-dimensional staircase of the
  points seen so far as a sorted array (the dimension sweep of Beume, Fonseca,
  Lopez-Ibanez, Paquete & Vahrenhold 2009, which :mod:`mobo.volume` uses for the
  hypervolume). Each step of the staircase owns one strip [a_i, a_(i+1)) x (-inf, b_i);
  when a point is inserted only the strip to its left and the strips of the points it
  removes change, so those are closed (emitted as boxes spanning the third-objective
  interval they lived through) and at most two are opened. At most 3p + 1 boxes, O(p) as
  in Lacour, Klamroth & Fonseca 2017.
- m >= 4: a sweep along the last objective over the (m-1)-dimensional decomposition of the
  points below each level; a box of that decomposition stays open across levels as long
  as it is unchanged and is emitted when it disappears. Correct for every m, with more
  boxes than the optimal constructions.

For the EHVI kernels a decomposition is indexed once per front (:func:`decompose`,
:func:`boxes_from_bounds`): per axis the sorted distinct finite coordinates of all boxes,
grid (m, C), and each box side's position in it, so that a kernel evaluates its special
functions once per grid coordinate rather than once per box side.

The input checks shared with :func:`mobo.volume.hypervolume` live here as well.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from mobo.pareto import _check_points, is_nondominated

__all__ = ["Boxes", "boxes_from_bounds", "decompose", "nondominated_boxes"]


# ---------------------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------------------


def _check_ref(ref: np.ndarray, m: int, name: str) -> np.ndarray:
    """Validate a reference point for the m objectives of ``name``; contiguous float64."""
    ref = np.asarray(ref, dtype=np.float64)
    if ref.ndim != 1 or ref.shape[0] != m:
        raise ValueError(
            f"ref must have shape ({m},) to match the objectives of {name}, got {ref.shape}"
        )
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


def _counted_points(Y: np.ndarray, ref: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The input check of every function of a point set and a reference point.

    Args:
        Y: (n, m) objective values; NaN is an error, and so is -inf in a counted row.
        ref: (m,) finite reference point.
        name: what the caller calls ``Y``, for the error messages.

    Returns:
        (the (p, m) rows of Y strictly better than ref in every objective, ref), both
        contiguous float64.
    """
    Y = _check_points(Y, name)
    ref = _check_ref(ref, Y.shape[1], name)
    P, neginf = _inside(Y, ref)
    if neginf:
        raise ValueError(f"{name} has -inf in a point inside the reference box: unbounded volume")
    return P, ref


# ---------------------------------------------------------------------------------------
# staircase of a 3-D sweep (shared with the hypervolume)
# ---------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------
# boxes of the non-dominated region
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
    P, ref = _counted_points(front, ref, "front")
    m = P.shape[1]
    if P.shape[0] == 0:
        return np.full((1, m), -np.inf), ref[None, :].copy()
    if m == 1:
        return np.full((1, 1), -np.inf), np.array([[P[:, 0].min()]])
    return _boxes(P, ref)


# ---------------------------------------------------------------------------------------
# boxes indexed for the EHVI kernels
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Boxes:
    """Disjoint boxes covering the non-dominated region, indexed for the kernels.

    Attributes:
        lower: (K, m) lower corners; entries may be -inf.
        upper: (K, m) finite upper corners, ``upper > lower``.
        grid: (m, C) the distinct finite coordinates of each axis, sorted, padded with +inf.
        counts: (m,) how many entries of each row of ``grid`` are used.
        lower_index: (K, m) position of ``lower`` in its axis' grid row, -1 for -inf.
        upper_index: (K, m) position of ``upper`` in its axis' grid row.
        strips: whether these are 2-D strips side by side (box k spans grid[0, k - 1] to
            grid[0, k], unbounded below on axis 1), which a fused kernel scores faster.
    """

    lower: np.ndarray
    upper: np.ndarray
    grid: np.ndarray
    counts: np.ndarray
    lower_index: np.ndarray
    upper_index: np.ndarray
    strips: bool = False

    @property
    def m(self) -> int:
        return int(self.lower.shape[1])

    def __len__(self) -> int:
        return int(self.lower.shape[0])


@njit(cache=True)
def _index_boxes(
    lower: np.ndarray, upper: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - numba
    """(grid (m, C), counts (m,), lower index (K, m), upper index (K, m)) of K boxes: per
    axis the sorted distinct finite coordinates, padded with +inf, and each box side's
    position in them (-1 for a lower bound of -inf)."""
    n_boxes, m = lower.shape
    rows = []
    for j in range(m):
        vals = np.empty(2 * n_boxes)
        k = 0
        for i in range(n_boxes):
            if np.isfinite(lower[i, j]):
                vals[k] = lower[i, j]
                k += 1
            vals[k] = upper[i, j]
            k += 1
        rows.append(np.unique(vals[:k]))
    width = 1
    for r in rows:
        width = max(width, r.size)
    grid = np.full((m, width), np.inf)
    counts = np.zeros(m, dtype=np.int64)
    lo_idx = np.full((n_boxes, m), -1, dtype=np.int64)
    up_idx = np.empty((n_boxes, m), dtype=np.int64)
    for j in range(m):
        r = rows[j]
        grid[j, : r.size] = r
        counts[j] = r.size
        for i in range(n_boxes):
            if np.isfinite(lower[i, j]):
                lo_idx[i, j] = np.searchsorted(r, lower[i, j])
            up_idx[i, j] = np.searchsorted(r, upper[i, j])
    return grid, counts, lo_idx, up_idx


def boxes_from_bounds(lower: np.ndarray, upper: np.ndarray) -> Boxes:
    """Index precomputed boxes ``[lower_k, upper_k]`` (each (K, m)) for the EHVI kernels.

    The boxes must be disjoint (up to boundaries) for the EHVI to be the sum of the box
    terms; this is not checked. ``lower`` may contain -inf; ``upper`` must be finite and
    greater than ``lower``.
    """
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    if lower.ndim != 2 or lower.shape[1] < 1:
        raise ValueError(f"lower must have shape (K, m), got {lower.shape}")
    if upper.shape != lower.shape:
        raise ValueError(f"upper must have the shape of lower {lower.shape}, got {upper.shape}")
    if np.isnan(lower).any() or np.isposinf(lower).any():
        raise ValueError("lower must not contain NaN or +inf")
    if not np.isfinite(upper).all():
        raise ValueError("upper must be finite")
    if not (upper > lower).all():
        raise ValueError("upper must be greater than lower in every coordinate")
    return _indexed(lower, upper)


def _indexed(lower: np.ndarray, upper: np.ndarray) -> Boxes:
    """:func:`boxes_from_bounds` without the checks (for bounds built here)."""
    lower = np.ascontiguousarray(lower, dtype=np.float64)
    upper = np.ascontiguousarray(upper, dtype=np.float64)
    grid, counts, lo_idx, up_idx = _index_boxes(lower, upper)
    k = np.arange(len(lower))
    strips = (lower.shape[1] == 2 and int(counts[0]) == len(lower)
              and bool(np.all(lo_idx[:, 0] == k - 1)) and bool(np.all(up_idx[:, 0] == k))
              and bool(np.all(lo_idx[:, 1] == -1)))
    return Boxes(
        lower=lower,
        upper=upper,
        grid=grid,
        counts=counts,
        lower_index=lo_idx,
        upper_index=up_idx,
        strips=strips,
    )


def decompose(front: np.ndarray, ref: np.ndarray) -> Boxes:
    """Disjoint boxes of the region not dominated by ``front`` inside ``ref``, indexed.

    Compute once per front and pass to :func:`mobo.improvement.ehvi_boxes` and friends for
    every batch of candidates. The boxes are those of :func:`nondominated_boxes` (for
    m = 2 the p + 1 strips, which the EHVI kernels recognise and score with a fused
    kernel).

    Args:
        front: (p, m) observed points, minimisation; p may be 0. Dominated, duplicate and
            points not strictly better than ``ref`` in every objective are ignored.
        ref: (m,) finite reference point.
    """
    return _indexed(*nondominated_boxes(front, ref))
