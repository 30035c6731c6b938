"""Non-dominated filtering and non-dominated sorting (minimisation).

A point ``a`` dominates ``b`` when ``a <= b`` in every objective and ``a < b`` in at least
one.

Algorithms:

- ``is_nondominated`` for two objectives: sort lexicographically, then one sweep keeping
  the running minimum of the second objective (Kung, Luccio & Preparata 1975), O(n log n).
- ``is_nondominated`` for three objectives: the same sweep with the running minimum
  replaced by the two-dimensional staircase of the last two objectives, kept as a sorted
  array (Kung et al. 1975): O(n log n) comparisons plus array moves.
- ``is_nondominated`` for four or more objectives and ``nondominated_sort``: the
  efficient non-dominated sort with sequential search (ENS-SS, Zhang, Tian, Cheng & Jin
  2015). Points are visited in lexicographic order, so a point can only be dominated by
  points visited before it; each point is compared with the members of the current fronts
  only. Worst case O(m n^2), usually far less.

Duplicates: ``is_nondominated`` keeps only the first occurrence of an exact duplicate row
(so the returned front has no repeated rows); ``nondominated_sort`` follows the dominance
relation, under which equal rows do not dominate each other, so duplicates share a rank.
Hence ``nondominated_sort(Y) == 0`` equals ``is_nondominated(Y)`` when ``Y`` has no
duplicate rows and is a superset of it otherwise.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["is_nondominated", "nondominated_sort"]


def _check_points(Y: np.ndarray, name: str = "Y") -> np.ndarray:
    """Validate an (n, m) array of objective values and return it as contiguous float64."""
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n, m), got shape {Y.shape}")
    if Y.shape[1] < 1:
        raise ValueError(f"{name} must have at least one objective column, got shape {Y.shape}")
    if np.isnan(Y).any():
        rows = np.flatnonzero(np.isnan(Y).any(axis=1))
        raise ValueError(f"{name} contains NaN in row(s) {rows[:10].tolist()}")
    return np.ascontiguousarray(Y)


def _lex_order(Y: np.ndarray) -> np.ndarray:
    """Indices sorting the rows of Y lexicographically (first column most significant).

    ``np.lexsort`` is stable, so among equal rows the original order is kept, which makes
    "first occurrence" of a duplicate well defined.
    """
    return np.lexsort(Y.T[::-1])


@njit(cache=True)
def _nd_sweep_2d(Y: np.ndarray, order: np.ndarray) -> np.ndarray:  # pragma: no cover - numba
    n = order.shape[0]
    keep = np.zeros(n, dtype=np.bool_)
    best = np.inf
    for k in range(n):
        i = order[k]
        # lexicographic order: every earlier point has a smaller-or-equal first objective,
        # so i survives iff its second objective beats all earlier ones strictly.
        if k == 0 or Y[i, 1] < best:
            keep[i] = True
            best = Y[i, 1]
    return keep


@njit(cache=True)
def _nd_staircase_3d(Y: np.ndarray, order: np.ndarray) -> np.ndarray:  # pragma: no cover
    n = order.shape[0]
    keep = np.zeros(n, dtype=np.bool_)
    # non-dominated staircase of the (second, third) objectives of the points kept so far:
    # sa strictly ascending, sb strictly descending
    sa = np.empty(n, dtype=np.float64)
    sb = np.empty(n, dtype=np.float64)
    s = 0
    for k in range(n):
        i = order[k]
        b = Y[i, 1]
        c = Y[i, 2]
        # every earlier point has a smaller-or-equal first objective, so i is weakly
        # dominated iff some step has sa <= b and sb <= c; the last step with sa <= b has
        # the smallest sb among them
        lo = 0
        hi = s
        while lo < hi:
            mid = (lo + hi) // 2
            if sa[mid] <= b:
                lo = mid + 1
            else:
                hi = mid
        if lo > 0 and sb[lo - 1] <= c:
            continue
        keep[i] = True
        # first step with sa >= b; the steps from there with sb >= c are now dominated
        q0 = lo
        while q0 > 0 and sa[q0 - 1] >= b:
            q0 -= 1
        q = q0
        while q < s and sb[q] >= c:
            q += 1
        removed = q - q0
        if removed == 0:
            for j in range(s - 1, q0 - 1, -1):
                sa[j + 1] = sa[j]
                sb[j + 1] = sb[j]
        elif removed > 1:
            for j in range(q, s):
                sa[j - removed + 1] = sa[j]
                sb[j - removed + 1] = sb[j]
        s = s - removed + 1
        sa[q0] = b
        sb[q0] = c
    return keep


@njit(cache=True)
def _weakly_dominates(Y: np.ndarray, a: int, b: int) -> bool:  # pragma: no cover - numba
    for j in range(Y.shape[1]):
        if Y[a, j] > Y[b, j]:
            return False
    return True


@njit(cache=True)
def _dominates(Y: np.ndarray, a: int, b: int) -> bool:  # pragma: no cover - numba
    strict = False
    for j in range(Y.shape[1]):
        if Y[a, j] > Y[b, j]:
            return False
        if Y[a, j] < Y[b, j]:
            strict = True
    return strict


@njit(cache=True)
def _nd_first_front(Y: np.ndarray, order: np.ndarray) -> np.ndarray:  # pragma: no cover
    n = order.shape[0]
    keep = np.zeros(n, dtype=np.bool_)
    front = np.empty(n, dtype=np.int64)
    size = 0
    for k in range(n):
        i = order[k]
        dominated = False
        # newest members first: they are lexicographically closest, hence the likeliest
        # dominators, which ends the scan early.
        for t in range(size - 1, -1, -1):
            if _weakly_dominates(Y, front[t], i):
                dominated = True
                break
        if not dominated:
            keep[i] = True
            front[size] = i
            size += 1
    return keep


@njit(cache=True)
def _ens_ss(Y: np.ndarray, order: np.ndarray) -> np.ndarray:  # pragma: no cover - numba
    n = order.shape[0]
    rank = np.empty(n, dtype=np.int64)
    # fronts as singly linked lists, newest member at the head
    head = np.full(n, -1, dtype=np.int64)
    nxt = np.full(n, -1, dtype=np.int64)
    n_fronts = 0
    for k in range(n):
        i = order[k]
        f = 0
        while f < n_fronts:
            dominated = False
            j = head[f]
            while j != -1:
                if _dominates(Y, j, i):
                    dominated = True
                    break
                j = nxt[j]
            if not dominated:
                break
            f += 1
        if f == n_fronts:
            n_fronts += 1
        rank[i] = f
        nxt[i] = head[f]
        head[f] = i
    return rank


def is_nondominated(Y: np.ndarray) -> np.ndarray:
    """Mask of the non-dominated rows of ``Y`` (minimisation).

    Args:
        Y: (n, m) objective values; +-inf allowed, NaN is an error.

    Returns:
        (n,) bool, True for rows no other row dominates. Of several identical
        non-dominated rows only the first is marked True.
    """
    Y = _check_points(Y)
    n, m = Y.shape
    if n == 0:
        return np.zeros(0, dtype=bool)
    order = _lex_order(Y)
    if m == 1:
        keep = np.zeros(n, dtype=bool)
        keep[order[0]] = True
        return keep
    if m == 2:
        return _nd_sweep_2d(Y, order)
    if m == 3:
        return _nd_staircase_3d(Y, order)
    return _nd_first_front(Y, order)


def nondominated_sort(Y: np.ndarray) -> np.ndarray:
    """Non-dominated front rank of every row of ``Y`` (minimisation).

    Rank 0 is the non-dominated set, rank 1 the non-dominated set of the rest, and so on
    (the ranking of Deb, Pratap, Agarwal & Meyarivan 2002), computed with ENS-SS.

    Args:
        Y: (n, m) objective values; +-inf allowed, NaN is an error.

    Returns:
        (n,) int64 ranks. Identical rows get the same rank.
    """
    Y = _check_points(Y)
    n = Y.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    return _ens_ss(Y, _lex_order(Y))
