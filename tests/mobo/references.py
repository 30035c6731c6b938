"""Slow, obviously correct references and test inputs shared by the tests of the numba
kernels (test_normal, test_boxes, test_volume, test_improvement)."""

from __future__ import annotations

import itertools

import mpmath as mp
import numpy as np

# the special-function references below need more than double precision (the kernels are
# checked to ~1e-14 relative); mpmath's precision is global, so it is set here once for
# every test module that imports these references
mp.mp.dps = 60


# ---------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------


def random_front(rng: np.random.Generator, p: int, m: int) -> np.ndarray:
    """p mutually non-dominated points: 1 minus points on the positive orthant of the
    unit sphere."""
    x = np.abs(rng.standard_normal((p, m)))
    return 1.0 - x / np.linalg.norm(x, axis=1, keepdims=True)


def degenerate_fronts(rng: np.random.Generator, m: int) -> dict[str, np.ndarray]:
    base = random_front(rng, 4, m)
    ref = np.ones(m)
    on_ref = base.copy()
    on_ref[0, 0] = ref[0]  # equal to ref in one coordinate: not counted
    outside = np.vstack([base[:2], base[2:] + 0.8])  # beyond ref in some coordinates
    dominated = np.vstack([base, base[:2] + 0.05, base[:1] + 0.01])
    return {
        "random": random_front(rng, 6, m),
        "empty": np.empty((0, m)),
        "single": base[:1],
        "duplicates": np.vstack([base[:3], base[:3], base[1:2]]),
        "on_ref": on_ref,
        "outside_ref": outside,
        "dominated": dominated,
    }


def degenerate_sets(m: int, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    ref = np.full(m, 1.0)
    base = np.round(rng.random((8, m)) * 4) / 4  # many ties in every coordinate
    on_ref = rng.random((5, m))
    on_ref[np.arange(5), rng.integers(0, m, 5)] = 1.0  # equal to ref in one coordinate
    outside = rng.random((6, m)) * 1.6  # some points beyond ref
    dup = np.repeat(rng.random((3, m)), 3, axis=0)
    return [
        (np.zeros((0, m)), ref),
        (np.full((1, m), 0.5), ref),
        (np.full((1, m), 1.0), ref),
        (base, ref),
        (on_ref, ref),
        (outside, ref),
        (dup, ref),
        (np.vstack([base, dup, on_ref, outside]), ref),
        (random_front(rng, 10, m), ref),
        (rng.random((10, m)) * 1e6, np.full(m, 1e6)),
        (rng.random((10, m)) * 1e-6, np.full(m, 1e-6)),
    ]


def cells_alone(values: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per row of integer-valued ``values`` (k, m), the number of unit cells of the box
    [min(values), ``ref``] (integer) that it dominates and no other row does, each cell
    named by its lower corner: the exact volume a row alone dominates, for integer data."""
    lo = values.min(axis=0)
    axes = [np.arange(a, b) for a, b in zip(lo, ref, strict=True)]
    count = np.zeros(len(values))
    for corner in np.array(np.meshgrid(*axes, indexing="ij")).reshape(len(ref), -1).T:
        owners = [i for i, v in enumerate(values) if np.all(v <= corner)]
        if len(owners) == 1:
            count[owners[0]] += 1
    return count


def psi_cases(rng: np.random.Generator) -> list[tuple[float, float, float, float]]:
    """(l, u, mu, s) covering: l = -inf, mean above / below / inside the box, thin boxes
    against huge std, far tails, tiny std."""
    cases = []
    for _ in range(150):
        l = -np.inf if rng.random() < 0.3 else rng.uniform(-2, 2)
        width = 10 ** rng.uniform(-8, 1)
        u = rng.uniform(-2, 2) if l == -np.inf else l + width
        s = 10 ** rng.uniform(-4, 3)
        mu = u + s * rng.choice([-1, 1]) * 10 ** rng.uniform(-3, 2.5)
        cases.append((l, u, mu, s))
    cases += [
        (0.0, 1.0, 0.5, 1e-300),
        (0.0, 1.0, -3.0, 1e-300),
        (-np.inf, 1.0, 1.0 + 40.0, 1.0),
        (0.0, 1.0, 1.0 + 300.0, 1.0),
        (0.0, 1e-9, 50.0, 1.0),
        (0.0, 1e-9, -50.0, 1.0),
        (0.0, 1.0, 0.5, 1e9),
        (-1e-12, 1e-12, 3.0, 1.0),
    ]
    return cases


# ---------------------------------------------------------------------------------------
# slow references
# ---------------------------------------------------------------------------------------


def grid_boxes(front: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-dominated cells of the grid of all front coordinates, ref and -inf per axis."""
    m = ref.shape[0]
    inside = front[(front < ref).all(axis=1)] if front.size else front.reshape(0, m)
    axes = [np.unique(np.concatenate([[-np.inf], inside[:, j], [ref[j]]])) for j in range(m)]
    lower, upper = [], []
    for cell in itertools.product(*[range(len(a) - 1) for a in axes]):
        lo = np.array([axes[j][c] for j, c in enumerate(cell)])
        hi = np.array([axes[j][c + 1] for j, c in enumerate(cell)])
        if not (inside <= lo).all(axis=1).any():
            lower.append(lo)
            upper.append(hi)
    return np.array(lower), np.array(upper)


def mp_h(z: mp.mpf) -> mp.mpf:
    if abs(z) > 1e6:  # h(z) = max(z, 0) up to exp(-5e11)
        return max(z, mp.mpf(0))
    return z * mp.ncdf(z) + mp.npdf(z)


def mp_psi(l: float, u: float, mu: float, s: float) -> mp.mpf:
    """E[(u - max(Y, l))^+] for Y ~ N(mu, s^2), in 60-digit arithmetic."""
    mu, s, u = mp.mpf(mu), mp.mpf(s), mp.mpf(u)
    hb = mp_h((u - mu) / s)
    ha = mp.mpf(0) if l == -np.inf else mp_h((mp.mpf(l) - mu) / s)
    return s * (hb - ha)
