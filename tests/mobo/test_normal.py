"""The normal special functions of mobo.normal against 60-digit (mpmath) arithmetic, on
random points, at the ends of their ranges and in every branch."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from numba import njit

from mobo.normal import G_COEF, Q_SERIES, Z_ZERO, g_fast, log_psi, q_small
from tests.mobo.references import mp_psi, psi_cases

# the kernels inline these into their loops; thin wrappers call them from Python
_g_fast = njit(lambda x, c: g_fast(x, c))
_q_small = njit(lambda x, c: q_small(x, c))


def test_vectorisable_special_functions_against_mpmath() -> None:
    """The block kernels' own g = 1 - x R(x) and small-x upper tail against 30-digit
    arithmetic, on random points and at the ends of their ranges (their exp:
    tests/mobo/test_vecmath.py)."""
    rng = np.random.default_rng(11)
    xs = np.concatenate([rng.uniform(0, Z_ZERO, 400), rng.uniform(0, 2, 100),
                         10.0 ** rng.uniform(-12, 0, 50), [0.0, 0.5, 1.0, 6.0, Z_ZERO - 1e-9]])
    for x in xs:
        r = mp.ncdf(-mp.mpf(x)) / mp.npdf(mp.mpf(x))
        want = 1 - x * r
        got = _g_fast(float(x), G_COEF)
        assert abs(got - want) <= 5e-14 * want, (x, got, float(want))
    for x in np.concatenate([rng.uniform(0, 0.25, 200), [0.0, 0.25, 1e-12]]):
        want = mp.ncdf(-mp.mpf(x))
        assert abs(_q_small(float(x), Q_SERIES) - want) <= 4e-16 * want, x


def test_log_psi_every_branch_against_mpmath() -> None:
    # the kernels send only the sides they cannot trust in linear space to log_psi, so
    # its branches are checked here one by one as well as on the random cases
    branch_cases = [
        (-np.inf, 1.0, 0.5, 0.3),  # l = -inf, mean below u
        (-np.inf, 1.0, 5.0, 0.3),  # l = -inf, mean 13 std above u
        (-np.inf, 1.0, 1e3, 1.0),  # ... 1000 std above u
        (0.0, 1e-6, 3.0, 1.0),  # thin box, centre in the lower tail
        (0.0, 1e-6, -0.5, 1.0),  # thin box, centre above the mean
        (0.0, 1e-6, -100.0, 1.0),  # thin box far above the mean
        (0.0, 1.0, -0.5, 0.3),  # mean below the box
        (0.0, 1.0, -30.0, 0.3),  # far below
        (0.0, 1.0, 2.0, 0.3),  # mean above the box
        (0.0, 1.0, 60.0, 0.3),  # far above
        (0.0, 1.0, 0.5, 0.3),  # mean inside the box
        (0.0, 1.0, 0.999, 0.3),
        (0.0, 1.0, 1e-3, 1e-4),
    ]
    rng = np.random.default_rng(9)
    for l, u, mu, s in branch_cases + psi_cases(rng):
        lp, d_mu, d_s = log_psi(l, u, mu, s)
        exact = mp_psi(l, u, mu, s)
        if exact == 0:
            continue
        label = f"l={l} u={u} mu={mu} s={s}"
        want = float(mp.log(exact))
        assert abs(lp - want) <= 1e-9 * max(1.0, abs(want)), (label, lp, want)
        if s < 1e-200 or abs(u - mu) / s > 1e5:
            continue  # mpmath's derivative of a 1e-200-wide kink is not informative
        want_mu = float(mp.diff(lambda x, a=(l, u, s): mp.log(mp_psi(a[0], a[1], x, a[2])), mu))
        want_s = float(mp.diff(lambda x, a=(l, u, mu): mp.log(mp_psi(*a, x)), s))
        assert d_mu == pytest.approx(want_mu, rel=1e-8, abs=1e-12 / s), (label, d_mu, want_mu)
        assert d_s == pytest.approx(want_s, rel=1e-8, abs=1e-12 / s), (label, d_s, want_s)
    # the deterministic limit
    assert log_psi(0.0, 1.0, 0.5, 0.0) == (math.log(0.5), -2.0, 0.0)
    assert log_psi(0.0, 1.0, -1.0, 0.0) == (0.0, 0.0, 0.0)
    assert log_psi(-np.inf, 1.0, 2.0, 0.0)[0] == -np.inf
