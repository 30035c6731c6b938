"""Output warping: a monotone increasing transform of each objective before the GP fit.

A stationary GP with one outputscale fits a flat plateau and large swings elsewhere with
the same variance, and so predicts wide uncertainty on the plateau. Fitting the GP to
monotone transforms of the observations instead of the raw values is the idea of warped
GPs (Snelson, Rasmussen & Ghahramani 2004, "Warped Gaussian processes"), where the warp is
learned with the GP; here, as in HEBO (Cowen-Rivers et al. 2022, "HEBO: pushing the
limits of sample-efficient hyper-parameter optimisation"), the warp is fitted to the
observed values alone, before and apart from the GP. Two warps are offered:

- ``"rank"``: the normal scores of the mid-ranks, ``Phi^-1((rank - 0.5) / n)`` with tied
  values sharing the mean of their ranks, so the GP sees only the order of the
  observations. Between observed values the warp interpolates linearly; beyond them it
  continues the end segments' lines, so that a reference point or a fantasy outside the
  observed range still maps to a sensible value on the same side.
- ``"yeo-johnson"``: the power transform of Yeo & Johnson (2000, "A new family of power
  transformations to improve normality or symmetry") of the standardised values, with
  lambda by maximum likelihood (as HEBO does for its outputs), then standardised again.

Every warp is strictly increasing, so it preserves dominance and which points beat the
reference point, and the hypervolume improvement computed on warped values (front,
reference point and predictions all warped) is an improvement in *warped units*: it
ranks candidates by a different volume than the raw one, which is the point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.optimize
from scipy.special import ndtri

__all__ = ["WARPS", "RankWarp", "Warp", "YeoJohnsonWarp", "check_warp", "fit_warp",
           "warp_columns", "yeo_johnson_llf"]

# the names accepted for ``warp`` (None: no warp)
WARPS = ("rank", "yeo-johnson")
# lambda of the Yeo-Johnson transform is searched in this interval: wide enough for any
# skew a standardised sample shows, narrow enough that (1 + |u|)^lambda cannot overflow
_LAMBDA_BOUNDS = (-5.0, 5.0)
# |lambda| (or |2 - lambda|) below this uses the logarithmic limit of the transform
_LAMBDA_EPS = 1e-10


def check_warp(warp: object) -> str | None:
    """``warp`` if it names a warp (or is None), else ValueError."""
    if warp is None or (isinstance(warp, str) and warp in WARPS):
        return warp
    raise ValueError(f"warp: expected None or one of {list(WARPS)}, got {warp!r}")


class Warp:
    """A strictly increasing map of one objective's values (minimised scale) to warped units."""

    def __call__(self, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """The values whose warp is ``z``."""
        raise NotImplementedError

    def derivative(self, y: np.ndarray) -> np.ndarray:
        """d warp / d y at ``y`` (positive)."""
        raise NotImplementedError


class RankWarp(Warp):
    """Normal scores of mid-ranks, piecewise linear between the observed values.

    Args:
        y: the observed values (n >= 1; ties allowed).
    """

    def __init__(self, y: np.ndarray) -> None:
        y = np.asarray(y, dtype=np.float64).ravel()
        if len(y) == 0 or not np.all(np.isfinite(y)):
            raise ValueError("rank warp: needs at least one finite value")
        n = len(y)
        knots, counts = np.unique(y, return_counts=True)
        below = np.cumsum(counts) - counts
        mid_rank = below + (counts + 1) / 2.0  # 1-based, ties share the mean rank
        self.knots = knots
        self.scores = ndtri((mid_rank - 0.5) / n)
        if len(knots) == 1:
            # a single value has no slope of its own; the unit is then its magnitude, so
            # a reference point a fraction of it away maps that fraction away
            slope = 1.0 / max(abs(float(knots[0])), 1.0)
            self.slopes = np.array([slope])
        else:
            self.slopes = np.diff(self.scores) / np.diff(knots)

    def __call__(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        k, s = self.knots, self.scores
        z = np.interp(y, k, s)
        z = np.where(y < k[0], s[0] + self.slopes[0] * (y - k[0]), z)
        return np.where(y > k[-1], s[-1] + self.slopes[-1] * (y - k[-1]), z)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        k, s = self.knots, self.scores
        y = np.interp(z, s, k)
        y = np.where(z < s[0], k[0] + (z - s[0]) / self.slopes[0], y)
        return np.where(z > s[-1], k[-1] + (z - s[-1]) / self.slopes[-1], y)

    def derivative(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        if len(self.knots) == 1:
            return np.full(y.shape, self.slopes[0])
        # segment i spans knots i..i+1; the ends continue the first and last segments
        seg = np.clip(np.searchsorted(self.knots, y, side="right") - 1, 0, len(self.slopes) - 1)
        return self.slopes[seg]


def _yj(u: np.ndarray, lam: float) -> np.ndarray:
    """The Yeo-Johnson transform psi(lambda, u), elementwise."""
    pos = u >= 0
    up = np.log1p(np.where(pos, u, 0.0))  # log(1 + u) on the non-negative side
    un = np.log1p(np.where(pos, 0.0, -u))  # log(1 - u) on the negative side
    if abs(lam) < _LAMBDA_EPS:
        zp = up
    else:
        zp = np.expm1(lam * up) / lam
    if abs(2.0 - lam) < _LAMBDA_EPS:
        zn = -un
    else:
        zn = -np.expm1((2.0 - lam) * un) / (2.0 - lam)
    return np.where(pos, zp, zn)


def _yj_inverse(z: np.ndarray, lam: float) -> np.ndarray:
    """u such that psi(lambda, u) = z (z within the transform's range)."""
    pos = z >= 0
    zp = np.where(pos, z, 0.0)
    zn = np.where(pos, 0.0, z)
    if abs(lam) < _LAMBDA_EPS:
        up = np.expm1(zp)
    else:
        up = np.expm1(np.log1p(lam * zp) / lam)
    if abs(2.0 - lam) < _LAMBDA_EPS:
        un = -np.expm1(-zn)
    else:
        un = -np.expm1(np.log1p(-(2.0 - lam) * zn) / (2.0 - lam))
    return np.where(pos, up, un)


def _yj_derivative(u: np.ndarray, lam: float) -> np.ndarray:
    """d psi(lambda, u) / d u: (1 + u)^(lambda - 1) for u >= 0, (1 - u)^(1 - lambda) below."""
    pos = u >= 0
    return np.where(pos, np.exp((lam - 1.0) * np.log1p(np.where(pos, u, 0.0))),
                    np.exp((1.0 - lam) * np.log1p(np.where(pos, 0.0, -u))))


def yeo_johnson_llf(u: np.ndarray, lam: float) -> float:
    """Profile log-likelihood of lambda for a normal model of psi(lambda, u) (Yeo & Johnson
    2000): -n/2 log var(psi) + (lambda - 1) sum sign(u) log(1 + |u|), up to a constant;
    -inf when the transformed values do not vary."""
    u = np.asarray(u, dtype=np.float64).ravel()
    var = float(np.var(_yj(u, lam)))
    if not var > 0.0:
        return -math.inf
    jac = float(np.sum(np.sign(u) * np.log1p(np.abs(u))))
    return -0.5 * len(u) * math.log(var) + (lam - 1.0) * jac


def _mle_lambda(u: np.ndarray) -> float:
    """lambda maximising :func:`yeo_johnson_llf` within the bounds (1 when u is constant)."""
    lo, hi = _LAMBDA_BOUNDS
    grid = np.linspace(lo, hi, 41)
    values = np.array([yeo_johnson_llf(u, float(lam)) for lam in grid])
    if not np.isfinite(values).any():
        return 1.0  # no variation to normalise: the identity
    # a coarse grid first, so that a bounded Brent search starts in the best basin
    i = int(np.argmax(values))
    step = grid[1] - grid[0]
    a, b = max(lo, grid[i] - step), min(hi, grid[i] + step)
    res = scipy.optimize.minimize_scalar(lambda lam: -yeo_johnson_llf(u, lam),
                                         bounds=(a, b), method="bounded",
                                         options={"xatol": 1e-8})
    best = float(res.x)
    return best if -float(res.fun) >= values[i] else float(grid[i])


class YeoJohnsonWarp(Warp):
    """Standardise, Yeo-Johnson transform with lambda by maximum likelihood, standardise.

    Args:
        y: the observed values (n >= 1).
    """

    def __init__(self, y: np.ndarray) -> None:
        y = np.asarray(y, dtype=np.float64).ravel()
        if len(y) == 0 or not np.all(np.isfinite(y)):
            raise ValueError("yeo-johnson warp: needs at least one finite value")
        self.loc = float(y.mean())
        sd = float(y.std())
        self.scale = sd if sd > 0.0 else 1.0
        u = (y - self.loc) / self.scale
        self.lam = _mle_lambda(u)
        psi = _yj(u, self.lam)
        self.z_loc = float(psi.mean())
        sd = float(psi.std())
        self.z_scale = sd if sd > 0.0 else 1.0

    def __call__(self, y: np.ndarray) -> np.ndarray:
        u = (np.asarray(y, dtype=np.float64) - self.loc) / self.scale
        return (_yj(u, self.lam) - self.z_loc) / self.z_scale

    def inverse(self, z: np.ndarray) -> np.ndarray:
        psi = np.asarray(z, dtype=np.float64) * self.z_scale + self.z_loc
        return _yj_inverse(psi, self.lam) * self.scale + self.loc

    def derivative(self, y: np.ndarray) -> np.ndarray:
        u = (np.asarray(y, dtype=np.float64) - self.loc) / self.scale
        return _yj_derivative(u, self.lam) / (self.scale * self.z_scale)


def fit_warp(y: np.ndarray, warp: str) -> Warp:
    """The warp named ``warp`` (one of :data:`WARPS`) fitted to the values ``y``."""
    if check_warp(warp) is None:
        raise ValueError("warp: expected one of the warps, got None")
    return RankWarp(y) if warp == "rank" else YeoJohnsonWarp(y)


def warp_columns(Y: np.ndarray, ref: np.ndarray | None, columns: Sequence[int], warp: str
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """``Y`` (n, m, n >= 1) and ``ref`` (m,, optional) with each of ``columns`` warped by a
    warp fitted to that column of ``Y``; the other columns unchanged (copies)."""
    Y = np.array(Y, dtype=np.float64)
    ref = None if ref is None else np.array(ref, dtype=np.float64)
    for j in columns:
        w = fit_warp(Y[:, j], warp)
        if ref is not None:
            ref[j] = float(w(ref[j]))
        Y[:, j] = w(Y[:, j])
    return Y, ref
