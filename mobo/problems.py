"""Toy multi-objective test problems, all in the minimisation convention.

They ship with the library (as BoTorch ships its test functions) so that a study can be
tried and benchmarked without a real black box: ``python -m mobo.run --problem zdt1``
runs one, and :mod:`mobo.tasks` registers each as a built-in task.

Every problem carries its search space (a :class:`mobo.Space`), a reference point and
the known maximum hypervolume with respect to that reference point, so a run can be
scored by its log10 hypervolume gap ``log10(max_hv - HV(evaluated points))``.

Problems and sources
--------------------
- BraninCurrin: Branin (rescaled to [0, 1]^2) and Currin's exponential function
  (Belakaria et al., "Max-value entropy search for multi-objective BO", 2019).
- ZDT1, ZDT2, ZDT3: Zitzler, Deb & Thiele, "Comparison of multiobjective evolutionary
  algorithms: empirical results", Evolutionary Computation 8(2), 2000.
- DTLZ1, DTLZ2: Deb, Thiele, Laumanns & Zitzler, "Scalable test problems for
  evolutionary multiobjective optimization", 2005.
- VehicleSafety, CarSideImpact: Tanabe & Ishibuchi, "An easy-to-use real-world
  multi-objective optimization problem suite", Applied Soft Computing 89, 2020.
- C2-DTLZ2: Deb & Jain, "An evolutionary many-objective optimization algorithm using
  reference-point-based nondominated sorting approach, part II", IEEE TEVC 18(4), 2014,
  with the constraint in the form BoTorch's ``C2DTLZ2`` uses.
- ``branincurrin_noisy``: BraninCurrin with Gaussian observation noise of standard
  deviation (15.19, 0.63), about 5% of each objective's range, as in BoTorch's
  multi-objective tutorial. The hypervolume gap is always scored on noise-free values.
- ``mixed``: a mixed-space problem of this package (two floats, an integer and a
  three-way categorical); see :func:`mixed` for its definition and for how its maximum
  hypervolume was computed.

Reference points and maximum hypervolumes are the values BoTorch's test functions use
(``botorch.test_functions.multi_objective``), with two exceptions where BoTorch's value
is below the true maximum (a good run could then show a negative gap):

- DTLZ1: BoTorch subtracts ``1 / 2**m`` from ``400**m``, but the region that the linear
  front ``sum(f) = 0.5`` does not dominate inside ``[0, 400]^m`` is a simplex of volume
  ``0.5**m / m!``; we use ``400**m - 0.5**m / m!`` (larger by 0.125 for m = 2).
- C2-DTLZ2: BoTorch's 0.3996406 is an NSGA-II estimate; :func:`c2dtlz2_max_hv` gives the
  exact 0.4000567 in closed form.

The DTLZ, ZDT and C2-DTLZ2 values are exact; BraninCurrin, VehicleSafety and
CarSideImpact are BoTorch's approximations from finite fronts (possibly a hair below the
supremum, so :func:`hv_gap` clips the gap at a small positive floor).

Inputs: :meth:`Problem.evaluate` takes raw (decoded) inputs, one column per parameter
in ``space.names`` order; for a categorical the column holds the index of the choice.
Constraints follow ``g(x) <= 0`` is feasible; calling a constrained problem on an
infeasible point raises :class:`InfeasibleError`, which is how an optimiser that only
sees failures (mobo: a failed trial) learns of infeasibility.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
from scipy.integrate import quad
from scipy.optimize import brentq

from mobo.space import Categorical, Float, Int, Space

ArrayFn = Callable[[np.ndarray], np.ndarray]


class InfeasibleError(RuntimeError):
    """Raised when a constrained problem is evaluated at an infeasible point."""


@dataclass(frozen=True, eq=False)
class Problem:
    """One benchmark problem (minimise every objective).

    Attributes:
        name: registry name, e.g. ``"zdt1"`` (with ``_d8`` etc. for non-default sizes).
        space: the search space; Floats ``x0..x{d-1}`` with the problem's bounds, or mixed.
        objective_names: ``("f0", "f1", ...)``, length m.
        ref_point: (m,) reference point, minimisation convention.
        max_hv: maximum hypervolume dominated inside ``ref_point`` (None if unknown).
        n_constraints: number of constraint outputs c (0 when unconstrained).
        noise_std: (m,) observation noise standard deviations, or None if noise-free.
        fn: (n, d) raw inputs -> (n, m) noise-free objectives.
        constraint_fn: (n, d) raw inputs -> (n, c) constraint values (feasible iff <= 0).
        noise_seed: seeds the observation noise; a point's noise draw is a function of
            ``(noise_seed, x)``, so runs are reproducible even across process pools.
        choices: categorical parameter name -> its choices (column holds the index).
    """

    name: str
    space: Space
    objective_names: tuple[str, ...]
    ref_point: np.ndarray
    max_hv: float | None
    n_constraints: int = 0
    noise_std: np.ndarray | None = None
    fn: ArrayFn | None = None
    constraint_fn: ArrayFn | None = None
    noise_seed: int = 0
    choices: Mapping[str, tuple[Any, ...]] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        """Number of parameters (raw columns), not the encoded dimension."""
        return len(self.space.names)

    @property
    def num_objectives(self) -> int:
        return len(self.objective_names)

    def evaluate(self, X: np.ndarray) -> np.ndarray:
        """Noise-free objectives: (n, d) raw inputs -> (n, m)."""
        if self.fn is None:
            raise ValueError(f"problem {self.name!r} has no objective function")
        X = self._check(X)
        return np.asarray(self.fn(X), dtype=np.float64).reshape(X.shape[0], -1)

    def constraints(self, X: np.ndarray) -> np.ndarray:
        """Constraint values: (n, d) raw inputs -> (n, c); a row is feasible iff all <= 0."""
        X = self._check(X)
        if self.constraint_fn is None:
            return np.zeros((X.shape[0], 0))
        return np.asarray(self.constraint_fn(X), dtype=np.float64).reshape(X.shape[0], -1)

    def is_feasible(self, X: np.ndarray) -> np.ndarray:
        """(n, d) raw inputs -> (n,) bool."""
        return np.all(self.constraints(X) <= 0.0, axis=1)

    def noise(self, X: np.ndarray) -> np.ndarray:
        """The observation noise a point receives: (n, d) raw inputs -> (n, m).

        Zero for noise-free problems. Deterministic in ``(noise_seed, x)``.
        """
        X = self._check(X)
        m = self.num_objectives
        if self.noise_std is None:
            return np.zeros((X.shape[0], m))
        out = np.empty((X.shape[0], m))
        for i, row in enumerate(X):
            digest = hashlib.blake2b(np.ascontiguousarray(row).tobytes(), digest_size=8)
            rng = np.random.default_rng([self.noise_seed, int.from_bytes(digest.digest())])
            out[i] = rng.standard_normal(m) * self.noise_std
        return out

    def observe(self, X: np.ndarray) -> np.ndarray:
        """Observed objectives (noise-free values plus :meth:`noise`): (n, d) -> (n, m)."""
        return self.evaluate(X) + self.noise(X)

    def to_array(self, params: Mapping[str, Any]) -> np.ndarray:
        """One parameter dict -> (d,) raw row (categoricals as choice indices)."""
        row = np.empty(self.dim)
        for j, name in enumerate(self.space.names):
            if name not in params:
                raise ValueError(f"missing parameter {name!r} for problem {self.name!r}")
            value = params[name]
            if name in self.choices:
                try:
                    row[j] = self.choices[name].index(value)
                except ValueError:
                    raise ValueError(
                        f"parameter {name!r}: {value!r} is not one of {self.choices[name]}"
                    ) from None
            else:
                row[j] = float(value)
        return row

    def from_array(self, row: np.ndarray) -> dict[str, Any]:
        """(d,) raw row -> parameter dict (inverse of :meth:`to_array`)."""
        out: dict[str, Any] = {}
        for j, name in enumerate(self.space.names):
            if name in self.choices:
                out[name] = self.choices[name][int(round(row[j]))]
            else:
                out[name] = float(row[j])
        return out

    @property
    def constraint_names(self) -> tuple[str, ...]:
        """Names under which :meth:`metrics` reports the constraint values."""
        return tuple(f"constraint_{j}" for j in range(self.n_constraints))

    def metrics(self, params: Mapping[str, Any]) -> dict[str, float]:
        """Objectives and constraint values of one point by parameter name, infeasible or
        not (for optimisers that model the constraints; feasible iff every one <= 0)."""
        x = self.to_array(params)[None, :]
        out = {name: float(v)
               for name, v in zip(self.objective_names, self.observe(x)[0], strict=True)}
        out.update({name: float(v)
                    for name, v in zip(self.constraint_names, self.constraints(x)[0],
                                       strict=True)})
        return out

    def __call__(self, params: Mapping[str, Any]) -> dict[str, float]:
        """Evaluate one point by parameter name (with noise if the problem is noisy).

        Raises:
            InfeasibleError: a constraint is violated.
        """
        x = self.to_array(params)[None, :]
        if self.n_constraints and not self.is_feasible(x)[0]:
            raise InfeasibleError(f"{self.name}: constraint violated at {dict(params)}")
        y = self.observe(x)[0]
        return {name: float(v) for name, v in zip(self.objective_names, y, strict=True)}

    def with_noise_seed(self, seed: int) -> Problem:
        """A copy whose observation noise comes from ``seed``."""
        return replace(self, noise_seed=int(seed))

    def _check(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != self.dim:
            raise ValueError(f"X: expected shape (n, {self.dim}), got {np.shape(X)}")
        return X


def hv_gap(max_hv: float, hv: float, floor: float = 1e-12) -> float:
    """log10 of the hypervolume gap, clipped at ``floor`` (approximate max HVs can be
    exceeded by a hair)."""
    return math.log10(max(max_hv - hv, floor))


# ---------------------------------------------------------------------------------------
# Objective functions: (n, d) raw inputs -> (n, m), minimisation.


def _branin_currin(X: np.ndarray) -> np.ndarray:
    u, v = X[:, 0], X[:, 1]
    x1 = 15.0 * u - 5.0
    x2 = 15.0 * v
    b = 5.1 / (4.0 * math.pi**2)
    c = 5.0 / math.pi
    t = 1.0 / (8.0 * math.pi)
    branin = (x2 - b * x1**2 + c * x1 - 6.0) ** 2 + 10.0 * (1.0 - t) * np.cos(x1) + 10.0
    with np.errstate(divide="ignore"):
        # v = 0 gives exp(-inf) = 0, the limit of Currin's factor
        factor = 1.0 - np.exp(-1.0 / (2.0 * v))
    numer = 2300.0 * u**3 + 1900.0 * u**2 + 2092.0 * u + 60.0
    denom = 100.0 * u**3 + 500.0 * u**2 + 4.0 * u + 20.0
    currin = factor * numer / denom
    return np.stack([branin, currin], axis=1)


def _zdt_g(X: np.ndarray) -> np.ndarray:
    return 1.0 + 9.0 * X[:, 1:].mean(axis=1)


def _zdt1(X: np.ndarray) -> np.ndarray:
    f0 = X[:, 0]
    g = _zdt_g(X)
    return np.stack([f0, g * (1.0 - np.sqrt(f0 / g))], axis=1)


def _zdt2(X: np.ndarray) -> np.ndarray:
    f0 = X[:, 0]
    g = _zdt_g(X)
    return np.stack([f0, g * (1.0 - (f0 / g) ** 2)], axis=1)


def _zdt3(X: np.ndarray) -> np.ndarray:
    f0 = X[:, 0]
    g = _zdt_g(X)
    r = f0 / g
    return np.stack([f0, 1.0 - np.sqrt(r) - r * np.sin(10.0 * math.pi * f0)], axis=1)


def _dtlz_position(X: np.ndarray, m: int, scale: np.ndarray, kind: str) -> np.ndarray:
    """Shared DTLZ structure: objective i uses the first m-1-i position variables."""
    n = X.shape[0]
    F = np.empty((n, m))
    pos = X[:, : m - 1]
    for i in range(m):
        k = m - 1 - i
        if kind == "linear":
            f = 0.5 * scale * np.prod(pos[:, :k], axis=1)
            if i > 0:
                f = f * (1.0 - pos[:, k])
        else:
            angle = 0.5 * math.pi * pos
            f = scale * np.prod(np.cos(angle[:, :k]), axis=1)
            if i > 0:
                f = f * np.sin(angle[:, k])
        F[:, i] = f
    return F


def _dtlz1(X: np.ndarray, m: int) -> np.ndarray:
    Z = X[:, m - 1 :] - 0.5
    k = Z.shape[1]
    g = 100.0 * (k + np.sum(Z**2 - np.cos(20.0 * math.pi * Z), axis=1))
    return _dtlz_position(X, m, 1.0 + g, "linear")


def _dtlz2(X: np.ndarray, m: int) -> np.ndarray:
    g = np.sum((X[:, m - 1 :] - 0.5) ** 2, axis=1)
    return _dtlz_position(X, m, 1.0 + g, "spherical")


def _c2dtlz2_constraint(X: np.ndarray, m: int, r: float = 0.2) -> np.ndarray:
    """Feasible (<= 0) near each axis end of the unit sphere front or near its centre."""
    F = _dtlz2(X, m)
    sq = F**2
    total = sq.sum(axis=1, keepdims=True)
    # distance^2 to the i-th unit vector minus the allowance, per i
    near_axis = (F - 1.0) ** 2 + (total - sq) - (m - 1) * r**2
    near_centre = np.sum((F - 1.0 / math.sqrt(m)) ** 2, axis=1) - m * r**2
    return np.minimum(near_axis.min(axis=1), near_centre)[:, None]


def _vehicle_safety(X: np.ndarray) -> np.ndarray:
    x1, x2, x3, x4, x5 = X.T
    mass = 1640.2823 + 2.3573285 * x1 + 2.3220035 * x2 + 4.5688768 * x3
    mass = mass + 7.7213633 * x4 + 4.4559504 * x5
    accel = (
        6.5856
        + 1.15 * x1
        - 1.0427 * x2
        + 0.9738 * x3
        + 0.8364 * x4
        - 0.3695 * x1 * x4
        + 0.0861 * x1 * x5
        + 0.3628 * x2 * x4
        - 0.1106 * x1**2
        - 0.3437 * x3**2
        + 0.1764 * x4**2
    )
    intrusion = (
        -0.0551
        + 0.0181 * x1
        + 0.1024 * x2
        + 0.0421 * x3
        - 0.0073 * x1 * x2
        + 0.024 * x2 * x3
        - 0.0118 * x2 * x4
        - 0.0204 * x3 * x4
        - 0.008 * x3 * x5
        - 0.0241 * x2**2
        + 0.0109 * x4**2
    )
    return np.stack([mass, accel, intrusion], axis=1)


def _car_side_impact(X: np.ndarray) -> np.ndarray:
    x1, x2, x3, x4, x5, x6, x7 = X.T
    weight = 1.98 + 4.9 * x1 + 6.67 * x2 + 6.98 * x3 + 4.01 * x4 + 1.78 * x5 + 1e-5 * x6 + 2.73 * x7
    force = 4.72 - 0.5 * x4 - 0.19 * x2 * x3
    v_mbp = 10.58 - 0.674 * x1 * x2 - 0.67275 * x2
    v_fd = 16.45 - 0.489 * x3 * x7 - 0.843 * x5 * x6
    velocity = 0.5 * (v_mbp + v_fd)
    # the fourth objective is the total violation of the ten design constraints
    slack = np.stack(
        [
            -0.16 + 0.3717 * x2 * x4 + 0.0092928 * x3,
            0.059
            + 0.0159 * x1 * x2
            + 0.06486 * x1
            + 0.019 * x2 * x7
            - 0.0144 * x3 * x5
            - 0.0154464 * x6,
            0.106
            - 0.00817 * x5
            + 0.0587118 * x1
            - 0.03099 * x2 * x6
            + 0.018 * x2 * x7
            - 0.030408 * x3
            + 0.00364 * x5 * x6
            + 0.018 * x2**2,
            -0.42 + 0.61 * x2 + 0.031296 * x3 + 0.031872 * x7 - 0.227 * x2**2,
            3.02 - 3.818 * x3 + 4.2 * x1 * x2 - 1.27296 * x6 + 2.68065 * x7,
            -3.31728 - 2.95 * x3 + 5.057 * x1 * x2 + 3.795 * x2 + 3.4431 * x7,
            -14.36 + 9.9 * x2 + 4.4505 * x1,
            4.0 - force,
            9.9 - v_mbp,
            15.7 - v_fd,
        ],
        axis=1,
    )
    violation = np.sum(np.maximum(-slack, 0.0), axis=1)
    return np.stack([weight, force, velocity, violation], axis=1)


# Mixed problem: each category has its own trade-off curve and its own optimal (x1, n).
MIXED_SHAPES: tuple[str, ...] = ("convex", "linear", "concave")
_MIXED_CENTRE = np.array([0.2, 0.5, 0.75])  # optimal x1 per shape
_MIXED_BEST_N = np.array([7, 3, 10])  # optimal n per shape


def _mixed_curves(t: np.ndarray) -> np.ndarray:
    """(n,) -> (n, 3): each shape's trade-off curve h_s(t) at its optimum (g = 1)."""
    return np.stack([1.0 - np.sqrt(t), 0.68 * (1.0 - t), 0.62 * (1.0 - t**2)], axis=1)


def _mixed(X: np.ndarray) -> np.ndarray:
    t, x1, n = X[:, 0], X[:, 1], X[:, 2]
    s = np.rint(X[:, 3]).astype(np.int64)
    g = 1.0 + 4.0 * (x1 - _MIXED_CENTRE[s]) ** 2 + 0.15 * np.abs(n - _MIXED_BEST_N[s])
    h = np.take_along_axis(_mixed_curves(t), s[:, None], axis=1)[:, 0]
    return np.stack([t, g * h], axis=1)


def mixed_max_hv() -> float:
    """Maximum hypervolume of the ``mixed`` problem w.r.t. (1.1, 1.1), computed numerically.

    Every objective pair is ``(t, g h_s(t))`` with ``g >= 1`` and ``g = 1`` exactly at the
    shape's own ``(x1, n)``; any other choice raises the second objective at the same first
    one, so it is dominated. The Pareto front is therefore the lower envelope
    ``E(t) = min_s h_s(t)`` for ``t`` in [0, 1], a decreasing curve with ``E(1) = 0``, and
    the dominated region is ``{E(t) <= f1 <= 1.1, 0 <= t <= 1}`` plus the strip
    ``1 <= t <= 1.1``, so ``max HV = 1.21 - integral_0^1 E(t) dt``. The envelope's
    switching points (where two curves cross) are found with Brent's method and the
    integral is taken piecewise with adaptive Gauss-Kronrod quadrature (scipy ``quad``).
    A dense sample of the front converges to this value from below (tested).
    """
    def winner(t: float) -> int:
        return int(np.argmin(_mixed_curves(np.array([t]))[0]))

    # locate switches of the argmin on a fine grid, then refine each by root finding
    grid = np.linspace(0.0, 1.0, 4001)[1:-1]
    which = np.argmin(_mixed_curves(grid), axis=1)
    breaks = [0.0]
    for i in np.flatnonzero(np.diff(which)):
        a, b = int(which[i]), int(which[i + 1])

        def diff(t: float, a: int = a, b: int = b) -> float:
            h = _mixed_curves(np.array([t]))[0]
            return float(h[a] - h[b])

        breaks.append(brentq(diff, grid[i], grid[i + 1], xtol=1e-15))
    breaks.append(1.0)
    area = 0.0
    for lo, hi in zip(breaks[:-1], breaks[1:], strict=True):
        s = winner(0.5 * (lo + hi))
        area += quad(
            lambda t, s=s: float(_mixed_curves(np.array([t]))[0, s]),
            lo,
            hi,
            epsabs=1e-14,
            epsrel=1e-14,
        )[0]
    return 1.21 - area


# Computed by mixed_max_hv() (tests check it is reproduced and approached from below).
MIXED_MAX_HV = 0.8975398807089348


def _hv2d(Y: np.ndarray, ref: np.ndarray) -> float:
    """Exact 2-D hypervolume by a sweep over points sorted by the first objective."""
    Y = Y[np.all(Y < ref, axis=1)]
    if Y.shape[0] == 0:
        return 0.0
    Y = Y[np.lexsort((Y[:, 1], Y[:, 0]))]
    hv = 0.0
    best = ref[1]
    for f0, f1 in Y:
        if f1 < best:
            hv += (ref[0] - f0) * (best - f1)
            best = f1
    return float(hv)


# ---------------------------------------------------------------------------------------
# Factories.


def _float_space(bounds: list[tuple[float, float]]) -> Space:
    return Space([Float(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)])


def _names(m: int) -> tuple[str, ...]:
    return tuple(f"f{i}" for i in range(m))


def _suffix(base: str, **sizes: tuple[int, int]) -> str:
    """Registry name: base, plus ``_d8`` / ``_m3`` parts for non-default sizes."""
    parts = [base]
    for key, (value, default) in sizes.items():
        if value != default:
            parts.append(f"{key}{value}")
    return "_".join(parts)


def branincurrin() -> Problem:
    """Branin-Currin, d = 2, m = 2, ref (18, 6)."""
    return Problem(
        name="branincurrin",
        space=_float_space([(0.0, 1.0)] * 2),
        objective_names=_names(2),
        ref_point=np.array([18.0, 6.0]),
        max_hv=59.36011874867746,
        fn=_branin_currin,
    )


def branincurrin_noisy(noise_std: tuple[float, float] = (15.19, 0.63)) -> Problem:
    """Branin-Currin with Gaussian observation noise (default sd 15.19 and 0.63)."""
    return replace(
        branincurrin(), name="branincurrin_noisy", noise_std=np.asarray(noise_std, float)
    )


def _zdt(kind: str, fn: ArrayFn, max_hv: float, d: int) -> Problem:
    if d < 2:
        raise ValueError(f"d: {kind} needs d >= 2, got {d}")
    return Problem(
        name=_suffix(kind, d=(d, 4)),
        space=_float_space([(0.0, 1.0)] * d),
        objective_names=_names(2),
        ref_point=np.array([11.0, 11.0]),
        max_hv=max_hv,
        fn=fn,
    )


def zdt1(d: int = 4) -> Problem:
    """ZDT1 (convex front), ref (11, 11), max HV 120 + 2/3."""
    return _zdt("zdt1", _zdt1, 120.0 + 2.0 / 3.0, d)


def zdt2(d: int = 4) -> Problem:
    """ZDT2 (concave front), ref (11, 11), max HV 120 + 1/3."""
    return _zdt("zdt2", _zdt2, 120.0 + 1.0 / 3.0, d)


def zdt3(d: int = 4) -> Problem:
    """ZDT3 (disconnected front), ref (11, 11), max HV 128.7781161306908."""
    return _zdt("zdt3", _zdt3, 128.77811613069076, d)


def _check_dtlz(kind: str, d: int, m: int) -> None:
    if m < 2:
        raise ValueError(f"m: {kind} needs at least 2 objectives, got {m}")
    if d <= m:
        raise ValueError(f"d: {kind} needs d > m (m = {m}), got {d}")


def dtlz1(d: int = 6, m: int = 2) -> Problem:
    """DTLZ1 (linear front sum(f) = 0.5), ref 400 per objective."""
    _check_dtlz("dtlz1", d, m)
    return Problem(
        name=_suffix("dtlz1", d=(d, 6), m=(m, 2)),
        space=_float_space([(0.0, 1.0)] * d),
        objective_names=_names(m),
        ref_point=np.full(m, 400.0),
        max_hv=400.0**m - 0.5**m / math.factorial(m),
        fn=partial(_dtlz1, m=m),
    )


def _dtlz2_max_hv(m: int, ref: float = 1.1) -> float:
    """ref^m minus the positive-orthant part of the unit m-ball."""
    ball = math.pi ** (m / 2) / math.gamma(m / 2 + 1)
    return ref**m - ball / 2**m


def dtlz2(d: int = 6, m: int = 2) -> Problem:
    """DTLZ2 (spherical front), ref 1.1 per objective."""
    _check_dtlz("dtlz2", d, m)
    return Problem(
        name=_suffix("dtlz2", d=(d, 6), m=(m, 2)),
        space=_float_space([(0.0, 1.0)] * d),
        objective_names=_names(m),
        ref_point=np.full(m, 1.1),
        max_hv=_dtlz2_max_hv(m),
        fn=partial(_dtlz2, m=m),
    )


def c2dtlz2_max_hv(r: float = 0.2, ref: float = 1.1) -> float:
    """Exact maximum hypervolume of 2-objective C2-DTLZ2 (closed form).

    The unconstrained front is the quarter circle ``f0^2 + f1^2 = 1`` (all other
    variables at 0.5), and a feasible point off it is dominated by the feasible circle
    point on the same ray, so the constrained front is the feasible part of the circle:
    three arcs, ``f1 >= 1 - r^2 / 2`` (near the f1 axis), ``f0 + f1 >= (2 - 2 r^2) / sqrt 2``
    (near the centre) and ``f0 >= 1 - r^2 / 2`` (near the f0 axis). With ``u = f0`` the
    hypervolume is ``integral_0^ref (ref - L(u)) du``, where ``L(u)`` is the smallest f1 of
    a front point with ``f0 <= u``: ``sqrt(1 - u^2)`` on an arc, and constant at the end of
    the previous arc across a gap. ``integral sqrt(1 - u^2) = (u sqrt(1 - u^2) + asin u) / 2``.
    """
    hi = 1.0 - r**2 / 2.0
    s = (2.0 - 2.0 * r**2) / math.sqrt(2.0)
    half = math.sqrt(2.0 - s**2)
    arcs = [(0.0, math.sqrt(1.0 - hi**2)), ((s - half) / 2.0, (s + half) / 2.0), (hi, 1.0)]

    def prim(u: float) -> float:
        return 0.5 * (u * math.sqrt(max(1.0 - u * u, 0.0)) + math.asin(u))

    def circle_area(a: float, b: float) -> float:
        return prim(b) - prim(a)

    hv = 0.0
    for k, (a, b) in enumerate(arcs):
        hv += ref * (b - a) - circle_area(a, b)
        nxt = arcs[k + 1][0] if k + 1 < len(arcs) else ref
        hv += (nxt - b) * (ref - math.sqrt(max(1.0 - b * b, 0.0)))
    return hv


def c2dtlz2(d: int = 4) -> Problem:
    """C2-DTLZ2 with 2 objectives: DTLZ2 restricted to three feasible patches of its
    front; ref (1.1, 1.1). Max HV from :func:`c2dtlz2_max_hv` (0.4000567, exact); BoTorch
    uses its NSGA-II estimate 0.3996406, which is 4.2e-4 too small."""
    _check_dtlz("c2dtlz2", d, 2)
    return Problem(
        name=_suffix("c2dtlz2", d=(d, 4)),
        space=_float_space([(0.0, 1.0)] * d),
        objective_names=_names(2),
        ref_point=np.full(2, 1.1),
        max_hv=c2dtlz2_max_hv(),
        n_constraints=1,
        fn=partial(_dtlz2, m=2),
        constraint_fn=partial(_c2dtlz2_constraint, m=2),
    )


def vehiclesafety() -> Problem:
    """Vehicle crash-worthiness: d = 5 in [1, 3]^5, m = 3 (mass, acceleration, intrusion)."""
    return Problem(
        name="vehiclesafety",
        space=_float_space([(1.0, 3.0)] * 5),
        objective_names=_names(3),
        ref_point=np.array([1864.72022, 11.81993945, 0.2903999384]),
        max_hv=246.81607081187002,
        fn=_vehicle_safety,
    )


def carsideimpact() -> Problem:
    """Car side impact: d = 7, m = 4 (weight, force, velocity, constraint violation)."""
    bounds = [
        (0.5, 1.5),
        (0.45, 1.35),
        (0.5, 1.5),
        (0.5, 1.5),
        (0.875, 2.625),
        (0.4, 1.2),
        (0.4, 1.2),
    ]
    return Problem(
        name="carsideimpact",
        space=_float_space(bounds),
        objective_names=_names(4),
        ref_point=np.array([45.4872, 4.5114, 13.3394, 10.3942]),
        max_hv=484.72654347642793,
        fn=_car_side_impact,
    )


def mixed() -> Problem:
    """A mixed-space problem: floats ``t``, ``x1`` in [0, 1], int ``n`` in 0..10 and a
    categorical ``shape`` in ("convex", "linear", "concave"); m = 2, ref (1.1, 1.1).

    With ``g = 1 + 4 (x1 - c_s)^2 + 0.15 |n - n_s|`` (``c_s``, ``n_s`` depend on the
    shape: (0.2, 7), (0.5, 3), (0.75, 10)) the objectives are

    - convex:  ``(t, g (1 - sqrt(t)))``
    - linear:  ``(0.1 + 0.9 t, 0.7 g (1 - t))``
    - concave: ``(0.45 + 0.55 t, 0.45 g (1 - t^2))``

    The Pareto front is made of pieces of all three curves (each at its own optimal
    ``x1`` and ``n``), so an optimiser must find the right integer and float for every
    category. Max HV: :data:`MIXED_MAX_HV`, computed by :func:`mixed_max_hv`.
    """
    space = Space(
        [
            Float("t", 0.0, 1.0),
            Float("x1", 0.0, 1.0),
            Int("n", 0, 10),
            Categorical("shape", list(MIXED_SHAPES)),
        ]
    )
    return Problem(
        name="mixed",
        space=space,
        objective_names=_names(2),
        ref_point=np.array([1.1, 1.1]),
        max_hv=MIXED_MAX_HV,
        fn=_mixed,
        choices={"shape": MIXED_SHAPES},
    )


PROBLEMS: dict[str, Callable[..., Problem]] = {
    "branincurrin": branincurrin,
    "branincurrin_noisy": branincurrin_noisy,
    "zdt1": zdt1,
    "zdt2": zdt2,
    "zdt3": zdt3,
    "dtlz1": dtlz1,
    "dtlz1_m3": partial(dtlz1, m=3),
    "dtlz2": dtlz2,
    "dtlz2_m3": partial(dtlz2, m=3),
    "c2dtlz2": c2dtlz2,
    "vehiclesafety": vehiclesafety,
    "carsideimpact": carsideimpact,
    "mixed": mixed,
}


def get_problem(name: str, **kwargs: Any) -> Problem:
    """Build a registered problem by (case-insensitive) name; kwargs (e.g. ``d=8``) are
    passed to its factory.

    Raises:
        ValueError: unknown name (the message lists the valid ones).
    """
    key = name.strip().lower().replace("-", "")
    if key not in PROBLEMS:
        raise ValueError(f"problem: unknown name {name!r}; valid: {', '.join(PROBLEMS)}")
    return PROBLEMS[key](**kwargs)
