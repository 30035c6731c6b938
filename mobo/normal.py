"""Special functions of the standard normal distribution, compiled with numba for the EHVI
kernels of :mod:`mobo.improvement`.

Notation: phi and Phi are the standard normal density and distribution function,
Q = 1 - Phi the upper tail, R(x) = Q(x) / phi(x) the Mills ratio, h(z) = z Phi(z) + phi(z)
the expected-improvement function (E[(z - Z)^+] for Z ~ N(0, 1)) and
g(x) = 1 - x R(x) = h(-x) / phi(x). Every function here takes and returns scalars.

Scalar functions for the log-space kernel, accurate in the far tails:

- :func:`mills` and :func:`mills_log`: R and g from erfc below x = 4 and, above it, from
  Laplace's continued fraction R(x) = 1/(x + 1/(x + 2/(x + ...))), which gives
  g = 1 / (f_0 f_1) (f_k the k-th tail of the fraction) without the cancellation of
  1 - x R(x).
- :func:`log1mexp`: log(1 - e^x) with Maechler's (2012, "Accurately computing
  log(1 - exp(-|a|))") switch between log(-expm1 x) and log1p(-exp x) at -log 2.
- :func:`log_psi`: log psi and its partials, psi(l, u, mu, s) = E[(u - max(Y, l))^+] for
  Y ~ N(mu, s^2), one side of an EHVI box term (Emmerich, Yang, Deutz, Wang & Fonseca
  2016; Yang, Emmerich, Deutz & Baeck 2019). It is finite wherever psi > 0 even when psi
  underflows, in the spirit of the log-EI of Ament, Daulton, Eriksson, Balandat & Bakshy
  2023 ("Unexpected improvements to expected improvement"): log h(z) for z < 0 is
  -z^2/2 - log sqrt(2 pi) + log g(-z); differences h(b) - h(a) are formed where they
  cancel least, with a log1mexp when the mean lies above the box, as (b - a) minus a small
  correction when it lies below, and from a Taylor series around the midpoint when the
  box is thin compared with the standard deviation.

Functions the block kernels inline into loops that the compiler vectorises (no table
look-ups, no library calls; exp itself is :func:`mobo.vecmath.exp_neg`):

- :func:`g_fast`: g on [0, Z_ZERO) as one polynomial of degree 24 in t, an affine image of
  u = (x - a) / (x + a) in [-1, 1], times (1 - u)^2 = (2a / (x + a))^2, which carries g's
  decay like 1 / x^2. The coefficients (:data:`G_COEF`) come from Chebyshev interpolation
  of a double-precision g at import time. Relative error below 5e-14 (the tests check it
  against 30-digit arithmetic), so s phi(z) g(|z|), the small one of E[(c - Y)^+] and
  E[(Y - c)^+], keeps its relative accuracy deep in the tails.
- :func:`q_small`: Q(x) for 0 <= x <= 1/4 from its Taylor series (:data:`Q_SERIES`), where
  R = (1 - g) / x would cancel.

These two are compiled with one liberty, fusing a multiply and an add into one FMA
instruction (numba's fastmath "contract" flag alone: no reassociation, no assumptions about
inf or NaN). A fused multiply-add rounds once instead of twice, so it costs no accuracy,
and it shortens the polynomials by half. The scalar functions stay strict: their
differences are arranged around exact cancellations that a fused operation could tip.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.polynomial import chebyshev
from scipy.special import erfcx

__all__ = [
    "G_COEF",
    "INV_SQRT_2PI",
    "Q_SERIES",
    "Z_ZERO",
    "g_fast",
    "log1mexp",
    "log_psi",
    "mills",
    "mills_log",
    "phi",
    "q_small",
    "upper_tail",
]

_SQRT2 = math.sqrt(2.0)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_LN2 = math.log(2.0)
# below this x the Mills ratio comes from erfc directly (g loses at most ~1.2 digits to
# cancellation); above it from the continued fraction, which converges to full double
# precision within 40 terms for x >= 4 and 20 terms for x >= 8
_CF_FROM = 4.0
# a box is "thin" when its half-width w (in standard deviations) satisfies
# w (1 + |c|) < _THIN, c its centre; the midpoint series is then exact to ~1e-16
_THIN = 1e-2


# ---------------------------------------------------------------------------------------
# scalar functions, accurate in the tails
# ---------------------------------------------------------------------------------------


@njit(cache=True)
def phi(z: float) -> float:  # pragma: no cover - numba
    """The standard normal density."""
    return INV_SQRT_2PI * math.exp(-0.5 * z * z)


@njit(cache=True)
def upper_tail(z: float) -> float:  # pragma: no cover - numba
    """Q(z) = 1 - Phi(z), accurate for large z."""
    return 0.5 * math.erfc(z / _SQRT2)


@njit(cache=True)
def mills_log(x: float) -> tuple[float, float]:  # pragma: no cover - numba
    """(log R(x), log g(x)) for x >= 0: R = Q / phi (Mills ratio), g = 1 - x R = h(-x) / phi(x)."""
    if x == np.inf:
        return -np.inf, -np.inf
    if x < _CF_FROM:
        r = upper_tail(x) / phi(x)
        return math.log(r), math.log(1.0 - x * r)
    n = 40 if x < 8.0 else 20
    f1 = x
    for k in range(n - 1, 0, -1):
        f1 = x + (k + 1) / f1
    f0 = x + 1.0 / f1
    lf0 = math.log(f0)
    return -lf0, -lf0 - math.log(f1)


@njit(cache=True)
def mills(x: float) -> tuple[float, float]:  # pragma: no cover - numba
    """(R(x), g(x)) for x >= 0, as in :func:`mills_log`."""
    if x == np.inf:
        return 0.0, 0.0
    if x < _CF_FROM:
        r = upper_tail(x) / phi(x)
        return r, 1.0 - x * r
    n = 40 if x < 8.0 else 20
    f1 = x
    for k in range(n - 1, 0, -1):
        f1 = x + (k + 1) / f1
    f0 = x + 1.0 / f1
    return 1.0 / f0, 1.0 / f0 / f1


@njit(cache=True)
def log1mexp(x: float) -> float:  # pragma: no cover - numba
    """log(1 - exp(x)) for x <= 0 (Maechler 2012's switch at -log 2)."""
    if x > -_LN2:
        return math.log(-math.expm1(x))
    return math.log1p(-math.exp(x))


@njit(cache=True)
def log_psi(
    l: float, u: float, mu: float, s: float
) -> tuple[float, float, float]:  # pragma: no cover
    """(log psi, d log psi / d mu, d log psi / d s) for one box side, l < u (l may be -inf)."""
    if s <= 0.0:
        lo = mu if mu > l else l
        v = u - lo
        if v <= 0.0:
            return -np.inf, 0.0, 0.0
        return math.log(v), (-1.0 / v if mu > l else 0.0), 0.0
    b = (u - mu) / s
    if l == -np.inf:
        if b >= 0.0:
            q = upper_tail(b)
            pb = phi(b)
            psi = (u - mu) * (1.0 - q) + s * pb
            return math.log(psi), -(1.0 - q) / psi, pb / psi
        x = -b
        if x == np.inf:
            return -np.inf, 0.0, 0.0
        log_r, log_g = mills_log(x)
        lp = math.log(s) - 0.5 * x * x - _LOG_SQRT_2PI + log_g
        # Phi(b) / h(b) = R / g and phi(b) / h(b) = 1 / g, both without underflow
        return lp, -math.exp(log_r - log_g) / s, math.exp(-log_g) / s

    w = 0.5 * (u - l) / s
    c = (0.5 * u + 0.5 * l - mu) / s
    if w * (1.0 + abs(c)) < _THIN:
        # h(b) - h(a) = int_a^b Phi = 2 w [Phi(c) - w^2 c phi(c) / 6 + w^4 (3c - c^3) phi(c) / 120]
        if c < -1.0:
            log_r, _ = mills_log(-c)
            log_cdf = -0.5 * c * c - _LOG_SQRT_2PI + log_r
            rho = math.exp(-log_r)
        else:
            cdf = 1.0 - upper_tail(c)
            log_cdf = math.log(cdf)
            rho = phi(c) / cdf
        w2 = w * w
        c2 = c * c
        eps = w2 * rho * (-c / 6.0 + w2 * (3.0 * c - c * c2) / 120.0)
        lp = math.log(u - l) + log_cdf + math.log1p(eps)
        # (Phi(b) - Phi(a)) / D and (phi(b) - phi(a)) / D from the same expansion
        e_cdf = rho * (1.0 + w2 * ((c2 - 1.0) / 6.0 + w2 * (c2 * c2 - 6.0 * c2 + 3.0) / 120.0))
        e_pdf = rho * (
            -c + w2 * ((3.0 * c - c * c2) / 6.0 + w2 * c * (-c2 * c2 + 10.0 * c2 - 15.0) / 120.0)
        )
        return lp, -e_cdf / (s * (1.0 + eps)), e_pdf / (s * (1.0 + eps))

    a = (l - mu) / s
    if a >= 0.0:
        # mean below the box: psi = (u - l) - (E[(Y - l)^+] - E[(Y - u)^+]), the
        # correction at most half the width, so no cancellation
        _, ga = mills(a)
        _, gb = mills(b)
        pa = phi(a)
        pb = phi(b)
        width = u - l
        t = s * (pa * ga - pb * gb)
        psi = width - t
        d_mu = upper_tail(b) - upper_tail(a)
        return math.log(width) + math.log1p(-t / width), d_mu / psi, (pb - pa) / psi
    if b <= 0.0:
        # mean above the box: everything in logs relative to h(b)
        if b == -np.inf:
            return -np.inf, 0.0, 0.0
        xb = -b
        xa = -a
        log_rb, log_gb = mills_log(xb)
        log_ra, log_ga = mills_log(xa)
        lpdf_b = -0.5 * xb * xb - _LOG_SQRT_2PI
        lpdf_a = -0.5 * xa * xa - _LOG_SQRT_2PI
        lhb = lpdf_b + log_gb
        lha = lpdf_a + log_ga
        big_l = lhb + log1mexp(lha - lhb)
        lcdf_b = lpdf_b + log_rb
        lcdf_a = lpdf_a + log_ra
        e_cdf = math.exp(lcdf_b - big_l) * -math.expm1(lcdf_a - lcdf_b)
        e_pdf = math.exp(lpdf_b - big_l) * -math.expm1(lpdf_a - lpdf_b)
        return math.log(s) + big_l, -e_cdf / s, e_pdf / s
    # a < 0 < b: both terms of H(u) - H(l) are formed without cancellation
    q = upper_tail(b)
    pb = phi(b)
    hu = (u - mu) * (1.0 - q) + s * pb
    ra, ga = mills(-a)
    pa = phi(a)
    psi = hu - s * pa * ga
    return math.log(psi), (pa * ra - (1.0 - q)) / psi, (pb - pa) / psi


# ---------------------------------------------------------------------------------------
# vectorisable functions for the block kernels
# ---------------------------------------------------------------------------------------

# |z| beyond which the tail probability and the density are treated as 0 (phi(37.5) is
# already below the smallest normal double)
Z_ZERO = 37.5
# g_fast: x = _G_A (1 + u) / (1 - u), polynomial degree _G_DEGREE
_G_A = 6.0
_G_DEGREE = 24
_U_TOP = (Z_ZERO - _G_A) / (Z_ZERO + _G_A)
# t = _T_SCALE * u + _T_SHIFT maps u in [-1, _U_TOP] onto [-1, 1]
_T_SCALE = 2.0 / (_U_TOP + 1.0)
_T_SHIFT = (1.0 - _U_TOP) / (1.0 + _U_TOP)
# Taylor coefficients of Q(x) = 1/2 - phi(0) sum_k (-1)^k x^(2k+1) / (2^k k! (2k+1)), used
# below x = 1/4 (truncation after 9 terms below 4e-19), where R = (1 - g) / x would cancel
Q_SERIES = np.array([(-1.0) ** k / (2.0**k * math.factorial(k) * (2 * k + 1))
                     for k in range(9)]) * INV_SQRT_2PI


def _mills_g_exact(x: np.ndarray) -> np.ndarray:
    """g(x) = 1 - x R(x) to ~1e-16: directly below 1, by 400 terms of the continued
    fraction above (converged to double precision there)."""
    x = np.asarray(x, dtype=np.float64)
    direct = 1.0 - x * math.sqrt(0.5 * math.pi) * erfcx(x / _SQRT2)
    xc = np.maximum(x, 1.0)
    f1 = xc.copy()
    for k in range(399, 0, -1):
        f1 = xc + (k + 1) / f1
    f0 = xc + 1.0 / f1
    return np.where(x < 1.0, direct, 1.0 / (f0 * f1))


def _g_coefficients() -> np.ndarray:
    """(_G_DEGREE + 1,) power-basis coefficients in t of g(x) / (1 - u)^2: Chebyshev
    interpolation at the Chebyshev points of t."""
    k = np.arange(_G_DEGREE + 1)
    t = np.cos(np.pi * (k + 0.5) / (_G_DEGREE + 1))
    u = (t - _T_SHIFT) / _T_SCALE
    x = _G_A * (1.0 + u) / (1.0 - u)
    cheb = chebyshev.chebfit(t, _mills_g_exact(x) / (1.0 - u) ** 2, _G_DEGREE)
    return np.ascontiguousarray(chebyshev.cheb2poly(cheb))


G_COEF = _g_coefficients()


@njit(cache=True, inline="always", error_model="numpy", fastmath={"contract"})
def g_fast(x: float, c: np.ndarray) -> float:  # pragma: no cover - numba
    """g(x) for 0 <= x < Z_ZERO from the polynomial above; ``c`` is G_COEF."""
    u = (x - _G_A) / (x + _G_A)
    t = _T_SCALE * u + _T_SHIFT
    # Estrin's scheme, written out (a loop here would be the innermost one and stop the
    # vectorisation of the loop over the block): a dependency chain of 6 multiply-adds
    # instead of Horner's 24
    t2 = t * t
    t4 = t2 * t2
    t8 = t4 * t4
    t16 = t8 * t8
    a0 = c[0] + c[1] * t
    a1 = c[2] + c[3] * t
    a2 = c[4] + c[5] * t
    a3 = c[6] + c[7] * t
    a4 = c[8] + c[9] * t
    a5 = c[10] + c[11] * t
    a6 = c[12] + c[13] * t
    a7 = c[14] + c[15] * t
    a8 = c[16] + c[17] * t
    a9 = c[18] + c[19] * t
    a10 = c[20] + c[21] * t
    a11 = c[22] + c[23] * t
    b0 = a0 + a1 * t2
    b1 = a2 + a3 * t2
    b2 = a4 + a5 * t2
    b3 = a6 + a7 * t2
    b4 = a8 + a9 * t2
    b5 = a10 + a11 * t2
    d0 = b0 + b1 * t4
    d1 = b2 + b3 * t4
    d2 = b4 + b5 * t4
    e0 = d0 + d1 * t8
    e1 = d2 + c[24] * t8  # degree 16 + 8 = 24
    p = e0 + e1 * t16
    w = 1.0 - u
    return p * (w * w)


@njit(cache=True, inline="always", error_model="numpy", fastmath={"contract"})
def q_small(x: float, c: np.ndarray) -> float:  # pragma: no cover - numba
    """Q(x) = 1 - Phi(x) for 0 <= x <= 1/4 from its Taylor series; ``c`` is Q_SERIES."""
    x2 = x * x
    p = c[8]
    p = p * x2 + c[7]
    p = p * x2 + c[6]
    p = p * x2 + c[5]
    p = p * x2 + c[4]
    p = p * x2 + c[3]
    p = p * x2 + c[2]
    p = p * x2 + c[1]
    p = p * x2 + c[0]
    return 0.5 - x * p

