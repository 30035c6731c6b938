"""Gaussian-process surrogates: one exact GP per objective, batched, fitted by MAP.

Model (Rasmussen & Williams 2006, ch. 2 and 5), per objective ``j`` on inputs in the unit
cube and outputs standardised per objective (constant outputs get unit scale):

    f_j ~ GP(c_j, s_j * k_52(x, x'; l_j)),   y = f_j(x) + eps,  eps ~ N(0, noise_j)

with the Matern-5/2 ARD kernel ``k_52(r) = (1 + sqrt5 r + 5 r^2 / 3) exp(-sqrt5 r)``,
``r^2 = sum_i (x_i - x'_i)^2 / l_ji^2``.

Priors (maximum a posteriori fit):

- lengthscales: LogNormal(sqrt2 + log(d) / 2, sqrt3), the dimension-scaled prior of
  Hvarfner, Hellsten & Nardi 2024 ("Vanilla Bayesian optimization performs great in high
  dimensions"), which keeps the model from over-fitting as ``d`` grows;
- noise variance: LogNormal(-4, 1) (same paper; ``noise_prior`` changes it, and the
  acquisition uses the wider LogNormal(-2, 1.5) for objectives declared noisy), plus a
  floor of 1e-6 for numerical stability with duplicate inputs;
- outputscale: LogNormal(0, 1), weakly centred on the unit variance of standardised data;
- constant mean: Normal(0, 1).

Fit: the negative log marginal likelihood minus the log priors, minimised with scipy's
L-BFGS-B in float64 over an unconstrained vector (logs of the positive parameters) with
box bounds. The gradient of the log priors comes from torch autograd; the gradient of the
marginal likelihood uses the closed form
``dNLL/dtheta = tr((K^-1 - alpha alpha^T) dK/dtheta) / 2`` (Rasmussen & Williams eq. 5.9)
with the analytic kernel partials contracted in one fused numba pass, which avoids
differentiating the Cholesky factorisation and is several times faster than autograd
through it (checked against finite differences in the tests). Several starts (defaults, a
short and a long lengthscale, and ``warm_start``) are screened by their loss and only the
best is refined. Any failure falls back to the default hyper-parameters; fitting never
raises on degenerate data (n = 1, duplicates, constant outputs).

Many observations (more than ``FIT_SUBSET``): the hyper-parameters are fitted on
``FIT_SUBSET`` of them, evenly spaced in the order given (the subset-of-data estimate,
Rasmussen & Williams 2006, sec. 8.3.1), and the GP then conditions on all of them. Each
step of the fit factorises an n x n matrix, so a long study's proposals would otherwise
grow with n^3 per step, for d + 3 hyper-parameters per objective that several hundred
points already estimate. The subset is drawn again only every ``FIT_REFRESH``
observations (:func:`fit_subset`) and standardised by its own mean and sd (the GP's units
then; any units give the same model in raw units), so between two draws the fitting
problem -- the subset's inputs and outputs, the priors -- is the same, and a fit whose
problem equals that of its warm start (a digest of it, ``fit_key`` in
:meth:`GP.model_state`) takes that result instead of optimising again: in a running study
one proposal in ``FIT_REFRESH`` pays for the fit. The fit's kernel matrices there come
from the fused numba pass and their factorisations and inverses from scipy's LAPACK
(``dpotrf``, ``dpotrs``, ``dpotri``). The GP's own factor and its inverse are those of the
observations up to the subset's latest draw (LAPACK's ``dpotrf`` and triangular inverse),
with each later observation bordered on in O(n^2) (Golub & Van Loan 2013, "Matrix
Computations", sec. 4.2): the hyper-parameters are the same until the next draw, so a
running study's next GP borders one row onto the last one's factor (kept in a small
memo; the result does not depend on it, to the last bit, so a resumed study proposes
the same). The posterior variance's product and its gradient's use BLAS's triangular
product, half the arithmetic of a general one. Up to ``FIT_SUBSET`` observations none of
this applies.

The GPyTorch library is deliberately not used for the fit: for n <= 200 its per-call
overhead dominates, and a hand-written batched Cholesky path is several times faster.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import math
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np
import scipy.linalg
import scipy.linalg.blas
import scipy.optimize
import torch

from mobo.vecmath import EXP_NEG_MIN, exp_neg

try:
    from threadpoolctl import ThreadpoolController as _ThreadpoolController
except ImportError:  # pragma: no cover - optional
    _ThreadpoolController = None

__all__ = ["GP", "fit_gp", "matern52", "posterior_many", "posterior_torch_many",
           "single_threaded", "subset_share"]

_DTYPE = torch.float64
_NOISE_FLOOR = 1e-6
_SQRT5 = math.sqrt(5.0)

# bounds of the unconstrained parameters (logs), chosen wide enough never to bind in
# sensible fits but to keep L-BFGS-B away from overflow
_MIN_LENGTHSCALE = 5e-3
_LOG_LS_BOUNDS = (math.log(_MIN_LENGTHSCALE), math.log(2e2))
_LOG_OS_BOUNDS = (math.log(1e-4), math.log(1e2))
_LOG_NOISE_BOUNDS = (math.log(1e-9), math.log(10.0))
_MEAN_BOUNDS = (-10.0, 10.0)
_FTOL = 1e-6
# jitter added to a kernel matrix that fails to factorise, relative to its mean diagonal,
# tried in turn until one factorises
_JITTERS = (1e-8, 1e-6, 1e-4, 1e-2, 1e0)
# the most observations the hyper-parameters are fitted on (see the module docstring):
# up to this many every fit uses them all; on development seeds of a 400-evaluation study
# (results/fit_subset_dev.md) a subset of 256 cost hypervolume there and saved no time
FIT_SUBSET = 512
# past FIT_SUBSET the subset is drawn again only every FIT_REFRESH observations (see the
# module docstring): between two draws the fit's data are the same, and so is its result
FIT_REFRESH = 32
# the most factorisations, and bytes of them, kept for the next GP's construction (see
# _factors): a study's objectives, its feasibility and threshold classifiers, a fantasy
FACTOR_MEMO_ENTRIES = 4
FACTOR_MEMO_BYTES = 2**29
# LogNormal (loc, scale) priors on the noise variance of standardised outputs: nearly
# noise-free observations by default (Hvarfner et al. 2024), and a wider prior centred on
# ~13% of the output variance for objectives declared noisy, since the narrow prior makes
# the GP interpolate the noise (chosen on development seeds of noisy Branin-Currin)
NOISE_PRIOR = (-4.0, 1.0)
NOISY_NOISE_PRIOR = (-2.0, 1.5)


_single_depth = threading.local()
_controller: Any = None


def _blas_limit() -> contextlib.AbstractContextManager[Any]:
    """One-thread BLAS limit; the scan of the loaded libraries is done once per process (it
    is too slow to repeat at every call)."""
    global _controller
    if _ThreadpoolController is None:  # pragma: no cover - threadpoolctl missing
        return contextlib.nullcontext()
    if _controller is None:
        _controller = _ThreadpoolController()
    return _controller.limit(limits=1)


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Run torch, BLAS and numba parallel regions on one thread inside the block.

    The matrices here are small (n <= a few hundred) and the acquisition calls its kernels
    on a handful of points at a time; on shared or busy cores, waking thread pools costs far
    more than it saves (under load, a multi-threaded OpenBLAS turned scipy's L-BFGS-B step
    from microseconds into milliseconds per call, and a parallel numba EHVI kernel on a few
    points spent orders of magnitude more CPU time than a serial one). Re-entrant; previous
    settings are restored when the outermost block exits.
    """
    depth = getattr(_single_depth, "value", 0)
    if depth:
        _single_depth.value = depth + 1
        try:
            yield
        finally:
            _single_depth.value = depth
        return
    previous = torch.get_num_threads()
    previous_numba = numba.get_num_threads()
    _single_depth.value = 1
    torch.set_num_threads(1)
    numba.set_num_threads(1)
    try:
        with _blas_limit():
            yield
    finally:
        torch.set_num_threads(previous)
        numba.set_num_threads(previous_numba)
        _single_depth.value = 0


def matern52(X1: torch.Tensor, X2: torch.Tensor, lengthscale: torch.Tensor) -> torch.Tensor:
    """Matern-5/2 correlation between ``X1`` (q, d) and ``X2`` (n, d), lengthscale (m, d).

    Returns ``(m, q, n)``. Distances via ``|a|^2 + |b|^2 - 2 a.b`` (a matrix product), with
    a clamp so the square root has a finite gradient at coincident points.
    """
    Z1 = X1.unsqueeze(0) / lengthscale.unsqueeze(1)
    Z2 = X2.unsqueeze(0) / lengthscale.unsqueeze(1)
    d2 = (Z1 * Z1).sum(-1).unsqueeze(-1) + (Z2 * Z2).sum(-1).unsqueeze(-2) \
        - 2.0 * Z1 @ Z2.transpose(-1, -2)
    r = _SQRT5 * torch.sqrt(d2.clamp_min(1e-30))
    return (1.0 + r + r * r / 3.0) * torch.exp(-r)


# The fused kernels below loop over the points b < a of one row in their innermost loops,
# written so that the compiler vectorises them: inputs stored one coordinate per row
# (contiguous in b), the exponential from mobo.vecmath (a library exp call would serialise
# the loop; a distance beyond its range gives 0, as exp's underflow would), and sums over
# b kept per b and added up once at the end (a running sum over b is a reduction, which
# the compiler may not reorder into vector lanes).


@numba.njit(cache=True, error_model="numpy", fastmath={"contract"})
def _fit_kernel(X: np.ndarray, ls: np.ndarray, os: np.ndarray, noise: np.ndarray,
                K: np.ndarray, R: np.ndarray) -> None:  # pragma: no cover - numba
    """Fill K (m, n, n) = os k_52(r) + noise I and R = sqrt5 r, one fused pass per pair."""
    m, n, d = ls.shape[0], X.shape[0], X.shape[1]
    XT = np.ascontiguousarray(X.T)
    inv = np.empty(d)
    d2 = np.empty(n)
    for j in range(m):
        for t in range(d):
            inv[t] = 1.0 / ls[j, t]
        for a in range(n):
            d2[:a] = 0.0
            for t in range(d):
                xa = X[a, t]
                for b in range(a):
                    z = (xa - XT[t, b]) * inv[t]
                    d2[b] += z * z
            for b in range(a):
                r = math.sqrt(5.0 * d2[b])
                v = os[j] * (1.0 + r + r * r / 3.0) * exp_neg(max(-r, EXP_NEG_MIN))
                K[j, a, b] = v if r <= -EXP_NEG_MIN else 0.0
                R[j, a, b] = r
            K[j, a, a] = os[j] + noise[j]
            R[j, a, a] = 0.0
        # the upper triangle mirrors the lower one
        for a in range(n):
            for b in range(a + 1, n):
                K[j, a, b] = K[j, b, a]
                R[j, a, b] = R[j, b, a]


@numba.njit(cache=True, error_model="numpy", fastmath={"contract"})
def _fit_kernel_grad(X: np.ndarray, ls: np.ndarray, os: np.ndarray, R: np.ndarray,
                     G: np.ndarray, g_ls: np.ndarray, g_os: np.ndarray) -> None:  # pragma: no cover
    """Contract G = dNLL/dK (m, n, n, symmetric) with dK/dlog l (m, d) and dK/dlog s (m,).

    dK_ab/dlog l_t = s (5/3) (1 + sqrt5 r) exp(-sqrt5 r) (x_at - x_bt)^2 / l_t^2 (the 1/r
    of dr/dl cancels); dK_ab/dlog s = K_ab without the noise.
    """
    m, n, d = ls.shape[0], X.shape[0], X.shape[1]
    XT = np.ascontiguousarray(X.T)
    inv = np.empty(d)
    gsum = np.empty(n)
    w = np.empty(n)
    acc_ls = np.empty((d, n))  # per coordinate t and point b: the sum over a > b
    acc_os = np.empty(n)
    for j in range(m):
        for t in range(d):
            inv[t] = 1.0 / ls[j, t]
        acc_ls[:] = 0.0
        acc_os[:] = 0.0
        diag = 0.0
        for a in range(n):
            diag += G[j, a, a]
            for b in range(a):
                # G[j, b, a] is a strided read: gathered once here, not per coordinate
                gsum[b] = G[j, a, b] + G[j, b, a]
            for b in range(a):
                r = R[j, a, b]
                e = exp_neg(max(-r, EXP_NEG_MIN))
                e = e if r <= -EXP_NEG_MIN else 0.0
                acc_os[b] += gsum[b] * (1.0 + r + r * r / 3.0) * e
                w[b] = gsum[b] * (5.0 / 3.0) * (1.0 + r) * e
            for t in range(d):
                xa = X[a, t]
                for b in range(a):
                    z = (xa - XT[t, b]) * inv[t]
                    acc_ls[t, b] += w[b] * z * z
        for t in range(d):
            g_ls[j, t] = os[j] * acc_ls[t].sum()
        g_os[j] = os[j] * (diag + acc_os.sum())


@numba.njit(cache=True, error_model="numpy", fastmath={"contract"})
def _cross_kernel(Xq: np.ndarray, X: np.ndarray, ls: np.ndarray, os: np.ndarray,
                  out: np.ndarray) -> None:  # pragma: no cover - numba
    """Fill out (m, q, n) = os k_52 between ``Xq`` (q, d) and ``X`` (n, d), fused per pair
    (vectorised over the n training points, see above)."""
    m, q, n, d = ls.shape[0], Xq.shape[0], X.shape[0], X.shape[1]
    inv = np.empty(d)
    zq = np.empty(d)
    ZT = np.empty((d, n))
    d2 = np.empty(n)
    for j in range(m):
        for t in range(d):
            # both sides scaled by the same reciprocal: a training input repeated in Xq
            # is at distance exactly 0
            inv[t] = 1.0 / ls[j, t]
            for b in range(n):
                ZT[t, b] = X[b, t] * inv[t]
        for a in range(q):
            for t in range(d):
                zq[t] = Xq[a, t] * inv[t]
            d2[:] = 0.0
            for t in range(d):
                for b in range(n):
                    z = zq[t] - ZT[t, b]
                    d2[b] += z * z
            for b in range(n):
                r = math.sqrt(5.0 * d2[b])
                e = exp_neg(max(-r, EXP_NEG_MIN))
                k = os[j] * (1.0 + r + r * r / 3.0) * e
                out[j, a, b] = k if r <= -EXP_NEG_MIN else 0.0


class _Hyper:
    """Unconstrained parameter layout: per objective [log l (d), log s, log noise', mean]."""

    def __init__(self, m: int, d: int, min_lengthscale: float = _MIN_LENGTHSCALE,
                 noise_prior: tuple[float, float] = NOISE_PRIOR) -> None:
        self.m, self.d = m, d
        self.noise_prior = noise_prior
        self.ls_bounds = (math.log(min_lengthscale), _LOG_LS_BOUNDS[1])
        self.ls_mu = math.sqrt(2.0) + 0.5 * math.log(d)
        self.ls_sigma = math.sqrt(3.0)

    @property
    def width(self) -> int:
        return self.d + 3

    def default(self, log_ls: float | None = None) -> np.ndarray:
        th = np.zeros((self.m, self.width))
        # the prior median is exp(ls_mu) (several unit-cube widths); start shorter so the
        # optimiser begins where the data can pull it, not on the flat long-scale plateau
        th[:, : self.d] = math.log(0.5) if log_ls is None else log_ls
        th[:, self.d] = 0.0
        th[:, self.d + 1] = -4.0
        th[:, self.d + 2] = 0.0
        return th

    def bounds(self) -> list[tuple[float, float]]:
        one = [self.ls_bounds] * self.d + [_LOG_OS_BOUNDS, _LOG_NOISE_BOUNDS, _MEAN_BOUNDS]
        return one * self.m

    def clip(self, th: np.ndarray) -> np.ndarray:
        b = np.array(self.bounds()).reshape(self.m, self.width, 2)
        return np.clip(th, b[..., 0], b[..., 1])

    def unpack(self, th: torch.Tensor) -> tuple[torch.Tensor, ...]:
        d = self.d
        ls = torch.exp(th[:, :d])
        os = torch.exp(th[:, d])
        noise = torch.exp(th[:, d + 1]) + _NOISE_FLOOR
        mean = th[:, d + 2]
        return ls, os, noise, mean

    def log_prior_and_grad(self, th: np.ndarray) -> tuple[float, np.ndarray]:
        """The log prior density of ``th`` (m, width) and its gradient (m, width), in closed form:
        LogNormal priors on the lengthscales, the outputscale and the noise, N(0, 1) on the
        mean (without its normalising constant).

        For x = exp(t) with x ~ LogNormal(mu, sigma): log p = -t - (t - mu)^2 / (2 sigma^2)
        + const, so d/dt = -1 - (t - mu) / sigma^2. The noise is exp(t) + floor, so its
        log-density is taken at x = exp(t) + floor and d/dt gains the factor exp(t) / x.
        The mean's N(0, 1) gives -c^2 / 2 and -c. (The fit calls this at every L-BFGS-B
        step; autograd through a torch form cost more than the kernel matrices.)
        """
        d = self.d
        half_log_2pi = 0.5 * math.log(2 * math.pi)
        grad = np.empty_like(th)
        t = th[:, :d]
        z = (t - self.ls_mu) / self.ls_sigma
        lp = float(np.sum(-t - math.log(self.ls_sigma) - half_log_2pi - 0.5 * z * z))
        grad[:, :d] = -1.0 - z / self.ls_sigma
        t = th[:, d]
        lp += float(np.sum(-t - half_log_2pi - 0.5 * t * t))
        grad[:, d] = -1.0 - t
        mu, sigma = self.noise_prior
        e = np.exp(th[:, d + 1])
        x = e + _NOISE_FLOOR
        lx = np.log(x)
        z = (lx - mu) / sigma
        lp += float(np.sum(-lx - math.log(sigma) - half_log_2pi - 0.5 * z * z))
        grad[:, d + 1] = (e / x) * (-1.0 - z / sigma)
        c = th[:, d + 2]
        lp -= float(0.5 * np.sum(c * c))
        grad[:, d + 2] = -c
        return lp, grad


def _standardise(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mu = Y.mean(axis=0)
    sd = Y.std(axis=0)
    # constant (or single) outputs: unit scale, so the model is the prior around the value
    sd = np.where(np.isfinite(sd) & (sd > 1e-12 * np.maximum(1.0, np.abs(mu))), sd, 1.0)
    return (Y - mu) / sd, mu, sd


def _cholesky(K: torch.Tensor) -> torch.Tensor:
    """Batched Cholesky with escalating jitter when the matrix is numerically singular."""
    L, info = torch.linalg.cholesky_ex(K)
    if not bool((info != 0).any()):
        return L
    n = K.shape[-1]
    eye = torch.eye(n, dtype=K.dtype)
    scale = K.diagonal(dim1=-2, dim2=-1).mean(-1).clamp_min(1e-12)[:, None, None]
    for jitter in _JITTERS:
        L, info = torch.linalg.cholesky_ex(K + jitter * scale * eye)
        if not bool((info != 0).any()):
            return L
    raise np.linalg.LinAlgError("kernel matrix is not positive definite")


def _cholesky_lapack(K: np.ndarray, jitter: bool = True) -> np.ndarray:
    """(m, n, n) lower Cholesky factors of ``K`` (m, n, n) by LAPACK's ``dpotrf``, with the
    escalating jitter of :func:`_cholesky` for a factor that fails (``jitter`` False:
    LinAlgError instead): the path for many observations, where scipy's LAPACK factorises
    faster than torch's on the machines of results/speed.md."""
    out = np.empty_like(K)
    for j, Kj in enumerate(K):
        c, info = scipy.linalg.lapack.dpotrf(Kj, lower=1)
        if info != 0 and not jitter:
            raise np.linalg.LinAlgError("kernel matrix is not positive definite")
        if info != 0:
            scale = max(float(np.mean(np.diag(Kj))), 1e-12)
            for eps in _JITTERS:
                c, info = scipy.linalg.lapack.dpotrf(
                    Kj + eps * scale * np.eye(len(Kj)), lower=1)
                if info == 0:
                    break
            else:
                raise np.linalg.LinAlgError("kernel matrix is not positive definite")
        out[j] = c
    return out


def subset_share(n: int) -> float:
    """The share of n observations that the hyper-parameters are fitted on: 1 up to
    ``FIT_SUBSET``, ``FIT_SUBSET / n`` past it."""
    return 1.0 if n <= FIT_SUBSET else FIT_SUBSET / n


def _large(n: int) -> bool:
    """Whether n observations take the paths for many (see the module docstring): above
    ``FIT_SUBSET``. Below it the computations are those of the versions before these paths,
    so that studies made with those reproduce to the last bit."""
    return n > FIT_SUBSET


def _inverse_factor_t(L: torch.Tensor) -> torch.Tensor:
    """(m, n, n) the transposed inverses of the lower Cholesky factors ``L`` (m, n, n).

    For many observations from LAPACK's triangular inverse (``dtrtri``: a third of the
    arithmetic of solving against the identity, and the cost of a GP's construction
    there); otherwise by that solve."""
    m, n, _ = L.shape
    if not _large(n):
        eye = torch.eye(n, dtype=_DTYPE).expand(m, n, n)
        return torch.linalg.solve_triangular(L, eye, upper=False).transpose(-1, -2).contiguous()
    return torch.from_numpy(_inverse_factors_lapack(L.numpy()))


def _inverse_factors_lapack(L: np.ndarray) -> np.ndarray:
    """(m, n, n) the transposed inverses of the lower triangular ``L`` (m, n, n) by LAPACK's
    ``dtrtri``; LinAlgError where one is singular."""
    out = np.empty_like(L)
    for j, factor in enumerate(L):
        inv, info = scipy.linalg.lapack.dtrtri(factor, lower=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"triangular inverse failed (info {info})")
        out[j] = np.tril(inv).T
    return out


@numba.njit(cache=True, error_model="numpy")
def _border(L: np.ndarray, U: np.ndarray, k: np.ndarray, noise: float,
            t: int) -> bool:  # pragma: no cover - numba
    """Row t of the lower Cholesky factor ``L`` (n, n) and column t of ``U`` = L^-T (n, n),
    in place, from their first t rows and columns (the factor of the first t
    observations) and ``k`` (t + 1,): the new observation's kernel values against the
    first t + 1 (itself last), noise-free. The bordered factorisation (Golub & Van Loan
    2013, sec. 4.2): l = L^-1 k solves forward, the new pivot is d = sqrt(k_t + noise -
    l.l), and the inverse gains the row (-l^T L^-1 / d, 1 / d). In exact arithmetic d^2 is
    at least the noise (the Schur complement of a kernel matrix plus noise); False, and
    nothing written, where rounding took it below half of that."""
    l = np.empty(t)
    ss = 0.0
    for i in range(t):
        s = k[i]
        for c in range(i):
            s -= L[i, c] * l[c]
        l[i] = s / L[i, i]
        ss += l[i] * l[i]
    d2 = k[t] + noise - ss
    if not d2 >= 0.5 * noise:
        return False
    d = math.sqrt(d2)
    for i in range(t):
        L[t, i] = l[i]
    L[t, t] = d
    # (L^-T l)_c = sum over i >= c of U[c, i] l_i: row c of U, read in order
    for c in range(t):
        s = 0.0
        for i in range(c, t):
            s += U[c, i] * l[i]
        U[c, t] = -s / d
    U[t, t] = 1.0 / d
    return True


@dataclass(frozen=True)
class _Factors:
    """A memo entry of :func:`_factors`: its key (the hyper-parameters' bytes and the
    first draw), inputs ``X`` (n, d) and the results ``L`` and ``U`` (m, n, n)."""

    theta: bytes
    base: int
    X: np.ndarray
    L: np.ndarray
    U: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.X.nbytes + self.L.nbytes + self.U.nbytes


_factor_memo: list[_Factors] = []  # most recent last
_factor_lock = threading.Lock()


def _memo_factors(theta: bytes, base: int, X: np.ndarray) -> _Factors | None:
    """The memo entry with the most rows whose key matches and whose inputs are the first
    rows of ``X`` (n, d), at least ``base`` of them; None if there is none."""
    with _factor_lock:
        found = [f for f in _factor_memo if f.theta == theta and f.base == base
                 and base <= len(f.X) <= len(X) and np.array_equal(f.X, X[: len(f.X)])]
    return max(found, key=lambda f: len(f.X), default=None)


def _remember_factors(entry: _Factors) -> None:
    """Keep ``entry``, forgetting the oldest entries beyond ``FACTOR_MEMO_ENTRIES`` or
    ``FACTOR_MEMO_BYTES``."""
    with _factor_lock:
        _factor_memo.append(entry)
        while _factor_memo and (len(_factor_memo) > FACTOR_MEMO_ENTRIES
                                or sum(f.nbytes for f in _factor_memo) > FACTOR_MEMO_BYTES):
            _factor_memo.pop(0)


def _full_factors(X: np.ndarray, ls: np.ndarray, os: np.ndarray, noise: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(m, n, n) lower Cholesky factors of the kernel matrices of ``X`` (n, d) plus noise,
    with jitter where one fails to factorise (:func:`_cholesky_lapack`), and their
    transposed inverses."""
    L = _cholesky_lapack(_noisy_kernel(X, ls, os, noise))
    return L, _inverse_factors_lapack(L)


def _noisy_kernel(X: np.ndarray, ls: np.ndarray, os: np.ndarray, noise: np.ndarray
                  ) -> np.ndarray:
    """(m, n, n) the kernel matrices of ``X`` (n, d) by the fused pass, plus the noise
    ``noise`` (m,) on their diagonals."""
    n = len(X)
    K = np.empty((len(os), n, n))
    _cross_kernel(X, X, ls, os, K)
    diag = np.arange(n)
    K[:, diag, diag] += noise[:, None]
    return K


def _factors(X: np.ndarray, theta: np.ndarray, ls: np.ndarray, os: np.ndarray,
             noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(m, n, n) lower Cholesky factors ``L`` of the kernel matrices of many observations
    ``X`` (n, d) plus noise, and their transposed inverses ``U`` (upper triangular).

    The first n' = :func:`_last_draw` (n) observations are factorised and inverted by
    LAPACK (``dpotrf``, ``dtrtri``), each later one bordered on in turn (:func:`_border`,
    O(n^2) each): between two draws of the fit subset the hyper-parameters ``theta``
    (m, d + 3) stay the same, and so does that start. The result is a function of the
    arguments alone, to the last bit; the memo of recent results (``FACTOR_MEMO_BYTES``)
    only shortens its computation: a study's next GP, one observation more, borders one
    row onto its last one instead of factorising n x n matrices again. A kernel matrix
    that does not factorise that way (rounding, near-duplicate inputs) is factorised
    whole, with jitter where needed (:func:`_full_factors`)."""
    n, m = len(X), len(os)
    base = _last_draw(n)
    key = theta.tobytes()
    known = _memo_factors(key, base, X)
    if known is not None and len(known.X) == n:
        return known.L, known.U  # the same inputs again (never written to: shared)
    L, U = np.zeros((m, n, n)), np.zeros((m, n, n))
    if known is None:
        start = base
        try:
            # no jitter here: rows bordered on later could not carry it
            L[:, :base, :base] = _cholesky_lapack(_noisy_kernel(X[:base], ls, os, noise),
                                                  jitter=False)
            U[:, :base, :base] = _inverse_factors_lapack(L[:, :base, :base])
        except np.linalg.LinAlgError:
            return _full_factors(X, ls, os, noise)
    else:
        start = len(known.X)
        L[:, :start, :start] = known.L
        U[:, :start, :start] = known.U
    for t in range(start, n):
        # each row's kernel values against its own prefix only, so that they are the same
        # numbers whichever row the computation started from
        k = np.empty((m, 1, t + 1))
        _cross_kernel(X[t : t + 1], X[: t + 1], ls, os, k)
        for j in range(m):
            if not _border(L[j], U[j], k[j, 0], float(noise[j]), t):
                return _full_factors(X, ls, os, noise)
    _remember_factors(_Factors(key, base, X.copy(), L, U))
    return L, U


def _upper_product(B: np.ndarray, U: np.ndarray, transpose: bool = False) -> np.ndarray:
    """(m, q, n) ``B[j] @ U[j]`` (or ``B[j] @ U[j].T`` with ``transpose``) for ``B``
    (m, q, n) and upper triangular ``U`` (m, n, n), by BLAS's triangular product (``dtrmm``:
    half the arithmetic and half the reads of a general product, which skips none of the
    triangle's zeros). It is posed as the transposed problem ``(U[j].T @ B[j].T).T``, whose
    operands are then the Fortran-ordered views BLAS reads in place: posed directly, each
    call would first copy the n x n factor into Fortran order."""
    out = np.empty(B.shape)
    with single_threaded():
        for j in range(len(B)):
            out[j] = scipy.linalg.blas.dtrmm(1.0, U[j].T, B[j].T, side=0, lower=1,
                                             trans_a=int(transpose)).T
    return out


class _UpperProduct(torch.autograd.Function):
    """Differentiable ``B @ U`` of :func:`_upper_product` in ``B`` (m, q, n) for a constant
    upper triangular ``U`` (m, n, n): the backward pass is the product with ``U``
    transposed, one more triangular product."""

    @staticmethod
    def forward(ctx: Any, B: torch.Tensor, U: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(U)
        return torch.from_numpy(_upper_product(B.detach().numpy(), U.numpy()))

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (U,) = ctx.saved_tensors
        return torch.from_numpy(_upper_product(grad.numpy(), U.numpy(), transpose=True)), None


class GP:
    """A fitted batch of independent GPs sharing inputs ``X`` (n, d), one per objective.

    Use :func:`fit_gp` to build one. ``posterior`` works in raw (unstandardised) units.
    """

    def __init__(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        theta: np.ndarray,
        y_mean: np.ndarray,
        y_scale: np.ndarray,
        *,
        fit_ok: bool = True,
        fit_key: str | None = None,
    ) -> None:
        self.X_np = np.ascontiguousarray(X, dtype=np.float64)
        self.n, self.d = self.X_np.shape
        self.m = np.shape(Y)[1]
        self.theta = np.asarray(theta, dtype=np.float64).reshape(self.m, self.d + 3)
        self.y_mean = np.asarray(y_mean, dtype=np.float64)
        self.y_scale = np.asarray(y_scale, dtype=np.float64)
        self.fit_ok = fit_ok
        # the identity of the hyper-parameters' fitting problem, for many observations
        # (see _fit); None otherwise
        self.fit_key = fit_key
        self._hyper = _Hyper(self.m, self.d)
        with torch.no_grad():
            th = torch.from_numpy(self.theta)
            self.lengthscale, self.outputscale, self.noise, self.mean = self._hyper.unpack(th)
            self.X = torch.from_numpy(self.X_np)
            # the factor L (m, n, n) and its cached inverse, transposed (upper triangular):
            # the posterior variance then needs one matrix product per batch of query
            # points instead of a triangular solve
            if _large(self.n):
                L_np, U_np = _factors(self.X_np, self.theta, self.lengthscale.numpy(),
                                      self.outputscale.numpy(), self.noise.numpy())
                self.L, self.Linv_T = torch.from_numpy(L_np), torch.from_numpy(U_np)
            else:
                K = self.outputscale[:, None, None] * matern52(self.X, self.X, self.lengthscale)
                K = K + torch.diag_embed(self.noise[:, None].expand(self.m, self.n))
                self.L = _cholesky(K)
                self.Linv_T = _inverse_factor_t(self.L)
        self._set_outputs(Y)
        self._scale_t = torch.from_numpy(self.y_scale)
        self._mean_t = torch.from_numpy(self.y_mean)

    # -------------------------------------------------------------- prediction
    def posterior_torch(self, Xq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Differentiable posterior of latent f at ``Xq`` (q, d) -> mean, std (q, m), raw units."""
        return posterior_torch_many([self], Xq)[0]

    def posterior(self, Xq: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and std of the latent f at ``Xq`` (q, d) -> (q, m) each, raw units."""
        return posterior_many([self], Xq, chunk)[0]

    def posterior_mean(self, Xq: np.ndarray, chunk: int = 4096) -> np.ndarray:
        """The mean of :meth:`posterior` at the same ``chunk`` (q, m), to the last bit,
        without its std: O(q n) instead of the variance's O(q n^2)."""
        means, _ = _posterior_chunks([self], Xq, chunk, with_std=False)
        return means[0]

    def sample_joint(self, Xq: np.ndarray, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        """Joint posterior samples of the latent f at ``Xq`` (q, d) -> (n_samples, q, m)."""
        Xq = np.atleast_2d(np.asarray(Xq, dtype=np.float64))
        q = len(Xq)
        with torch.no_grad():
            Xt = torch.from_numpy(Xq)
            Kq = self.outputscale[:, None, None] * matern52(Xt, self.X, self.lengthscale)
            Kqq = self.outputscale[:, None, None] * matern52(Xt, Xt, self.lengthscale)
            V = torch.linalg.solve_triangular(self.L, Kq.transpose(-1, -2), upper=False)
            mean_s = self.mean[:, None] + (Kq @ self.alpha.unsqueeze(-1)).squeeze(-1)
            C = Kqq - V.transpose(-1, -2) @ V
            C = 0.5 * (C + C.transpose(-1, -2))
            Lc = _cholesky(C + 1e-9 * torch.eye(q, dtype=_DTYPE))
        Z = rng.standard_normal((n_samples, self.m, q, 1))
        S = mean_s.numpy()[None, :, :] + (Lc.numpy()[None] @ Z)[..., 0]  # (s, m, q)
        return np.transpose(S, (0, 2, 1)) * self.y_scale + self.y_mean

    # -------------------------------------------------------------- conditioning
    def condition(self, X_new: np.ndarray, Y_new: np.ndarray) -> GP:
        """Same hyper-parameters and standardisation, data extended by (X_new, Y_new raw)."""
        X_new = np.atleast_2d(np.asarray(X_new, dtype=np.float64))
        Y_new = np.asarray(Y_new, dtype=np.float64).reshape(len(X_new), self.m)
        return GP(
            np.vstack([self.X_np, X_new]), np.vstack([self.Y_np, Y_new]), self.theta,
            self.y_mean, self.y_scale, fit_ok=self.fit_ok,
        )

    def given_latent(self, X: np.ndarray, F: np.ndarray) -> GP:
        """The posterior of f given its latent (noise-free) values ``F`` (k, m, raw units) at
        ``X`` (k, d): same hyper-parameters and standardisation, observation noise down to
        the numerical floor. With ``F`` a joint posterior sample at the observed inputs,
        this is the GP's posterior conditioned on that sample (the data add nothing once
        the latent values there are known)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        F = np.asarray(F, dtype=np.float64).reshape(len(X), self.m)
        theta = self.theta.copy()
        theta[:, self.d + 1] = -30.0  # exp(-30) ~ 1e-13: the noise floor alone remains
        return GP(X, F, theta, self.y_mean, self.y_scale, fit_ok=self.fit_ok)

    def given_latents(self, X: np.ndarray, Fs: Sequence[np.ndarray]) -> list[GP]:
        """:meth:`given_latent` for several value sets ``Fs`` (each (k, m)) at the same
        ``X``: the GPs differ only in their weights, so they share one kernel matrix and
        factorisation (built once), and :func:`posterior_many` computes their common
        posterior variance once."""
        if not len(Fs):
            return []
        first = self.given_latent(X, Fs[0])
        return [first] + [first.with_outputs(F) for F in Fs[1:]]

    def with_outputs(self, Y: np.ndarray) -> GP:
        """This GP with outputs ``Y`` (n, m, raw units) at the same inputs: same
        hyper-parameters, standardisation and factorisation (shared, not copied); only the
        weights are solved again."""
        new = copy.copy(self)
        new._set_outputs(np.asarray(Y, dtype=np.float64).reshape(self.n, self.m))
        return new

    def _set_outputs(self, Y: np.ndarray) -> None:
        """Outputs ``Y`` (n, m, raw units) and the weights alpha = K^-1 (y - mean) (m, n),
        standardised units, from the factorisation ``L``."""
        self.Y_np = np.ascontiguousarray(Y, dtype=np.float64)
        with torch.no_grad():
            Ys = (self.Y_np - self.y_mean) / self.y_scale
            self._Ys = torch.from_numpy(np.ascontiguousarray(Ys.T))  # (m, n)
            resid = (self._Ys - self.mean[:, None]).unsqueeze(-1)
            self.alpha = torch.cholesky_solve(resid, self.L).squeeze(-1)  # (m, n)

    # -------------------------------------------------------------- state
    def model_state(self) -> dict[str, Any]:
        """JSON-serialisable hyper-parameters (noise, outputscale, mean: standardised units)."""
        return {
            "lengthscales": self.lengthscale.numpy().tolist(),
            "outputscales": self.outputscale.numpy().tolist(),
            "noises": self.noise.numpy().tolist(),
            "means": self.mean.numpy().tolist(),
            "y_mean": self.y_mean.tolist(),
            "y_scale": self.y_scale.tolist(),
            "fit_ok": bool(self.fit_ok),
        } | ({} if self.fit_key is None else {"fit_key": self.fit_key})


def _theta_from_state(state: Mapping[str, Any] | None, m: int, d: int) -> np.ndarray | None:
    """Unconstrained vector from a previous ``model_state``; None if absent or mismatched."""
    if not isinstance(state, Mapping):
        return None
    try:
        ls = np.asarray(state["lengthscales"], dtype=np.float64)
        os = np.asarray(state["outputscales"], dtype=np.float64)
        noise = np.asarray(state["noises"], dtype=np.float64)
        mean = np.asarray(state["means"], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        return None
    if ls.shape != (m, d) or os.shape != (m,) or noise.shape != (m,) or mean.shape != (m,):
        return None
    if not (np.all(ls > 0) and np.all(os > 0) and np.all(noise > _NOISE_FLOOR)):
        return None
    if not np.all(np.isfinite(mean)):
        return None
    th = np.empty((m, d + 3))
    th[:, :d] = np.log(ls)
    th[:, d] = np.log(os)
    th[:, d + 1] = np.log(noise - _NOISE_FLOOR)
    th[:, d + 2] = mean
    return th


class _Objective:
    """Negative log posterior of the hyper-parameters and its gradient (float64)."""

    def __init__(self, X: np.ndarray, Ys: np.ndarray, hyper: _Hyper, *,
                 lapack: bool = False) -> None:
        """``lapack``: kernel matrices from the fused numba pass and their algebra from
        scipy's LAPACK (the path for many observations, see :func:`_cholesky_lapack`);
        otherwise torch's, as the versions before that path computed them."""
        self.lapack = lapack
        self.X_np = np.ascontiguousarray(X, dtype=np.float64)
        self.X = torch.from_numpy(self.X_np)
        self.Ys = torch.from_numpy(np.ascontiguousarray(Ys.T))  # (m, n)
        self.hyper = hyper
        self.n = X.shape[0]
        self.const = 0.5 * self.n * math.log(2 * math.pi) * hyper.m

    def _kernel(self, th: torch.Tensor) -> tuple[torch.Tensor, ...]:
        ls, os, noise, mean = self.hyper.unpack(th)
        K = os[:, None, None] * matern52(self.X, self.X, ls)
        K = K + torch.diag_embed(noise[:, None].expand(self.hyper.m, self.n))
        return K, mean

    def value(self, theta: np.ndarray) -> float:
        if self.lapack:
            return self._value_lapack(theta)
        with torch.no_grad():
            th = torch.from_numpy(theta.reshape(self.hyper.m, self.hyper.width))
            K, mean = self._kernel(th)
            L, info = torch.linalg.cholesky_ex(K)
            if bool((info != 0).any()):
                return math.inf
            r = (self.Ys - mean[:, None]).unsqueeze(-1)
            a = torch.linalg.solve_triangular(L, r, upper=False)
            nll = 0.5 * (a * a).sum() + torch.log(L.diagonal(dim1=-2, dim2=-1)).sum()
            log_prior, _ = self.hyper.log_prior_and_grad(theta.reshape(self.hyper.m,
                                                                      self.hyper.width))
            return float(nll + self.const - log_prior)

    def _value_lapack(self, theta: np.ndarray) -> float:
        """:meth:`value` by the fused kernel pass and LAPACK."""
        hyper = self.hyper
        th = theta.reshape(hyper.m, hyper.width)
        with torch.no_grad():
            ls, os, noise, mean = (t.numpy() for t in hyper.unpack(torch.from_numpy(th)))
        K = np.empty((hyper.m, self.n, self.n))
        _fit_kernel(self.X_np, ls, os, noise, K, np.empty_like(K))
        nll = 0.0
        for j in range(hyper.m):
            c, info = scipy.linalg.lapack.dpotrf(K[j], lower=1)
            if info != 0:
                return math.inf
            a = scipy.linalg.solve_triangular(c, self.Ys[j].numpy() - mean[j], lower=True)
            nll += 0.5 * float(a @ a) + float(np.log(np.diag(c)).sum())
        log_prior, _ = hyper.log_prior_and_grad(th)
        return float(nll + self.const - log_prior)

    def _factor_lapack(self, K: np.ndarray, resid: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The lower factors L (m, n, n) of ``K`` (m, n, n), the weights alpha = K^-1 resid
        (m, n) and the full inverses K^-1 (m, n, n), by LAPACK (``dpotrs``, ``dpotri``)."""
        L = _cholesky_lapack(K)
        alpha = np.empty_like(resid)
        inv = np.empty_like(K)
        for j, c in enumerate(L):
            x, info = scipy.linalg.lapack.dpotrs(c, resid[j][:, None], lower=1)
            Ki, info2 = scipy.linalg.lapack.dpotri(c, lower=1)
            if info != 0 or info2 != 0:
                raise np.linalg.LinAlgError(f"Cholesky solve failed (info {info}, {info2})")
            alpha[j] = x[:, 0]
            # dpotri fills the lower triangle; the upper one mirrors it
            low = np.tril(Ki)
            inv[j] = low + np.tril(low, -1).T
        return L, alpha, inv

    def value_and_grad(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        hyper = self.hyper
        m, d, n = hyper.m, hyper.d, self.n
        th = torch.from_numpy(theta.reshape(m, hyper.width))
        log_prior, g_prior = hyper.log_prior_and_grad(theta.reshape(m, hyper.width))
        with torch.no_grad():
            ls, os, noise, mean = hyper.unpack(th)
            ls_np, os_np, noise_np = ls.numpy(), os.numpy(), noise.numpy()
            K_np = np.empty((m, n, n))
            R_np = np.empty((m, n, n))
            _fit_kernel(self.X_np, ls_np, os_np, noise_np, K_np, R_np)
            resid = (self.Ys - mean[:, None]).unsqueeze(-1)
            if self.lapack:
                L_np, alpha_np, inv_np = self._factor_lapack(K_np, resid.squeeze(-1).numpy())
                L, inv = torch.from_numpy(L_np), torch.from_numpy(inv_np)
                alpha = torch.from_numpy(alpha_np).unsqueeze(-1)
            else:
                L = _cholesky(torch.from_numpy(K_np))
                alpha = torch.cholesky_solve(resid, L)  # (m, n, 1)
                inv = torch.cholesky_inverse(L)
            nll = 0.5 * (resid * alpha).sum() + torch.log(L.diagonal(dim1=-2, dim2=-1)).sum()
            G = 0.5 * (inv - alpha @ alpha.transpose(-1, -2))  # dNLL/dK
            g_ls = np.empty((m, d))
            g_os = np.empty(m)
            _fit_kernel_grad(self.X_np, ls_np, os_np, R_np, G.numpy(), g_ls, g_os)
            grad = np.empty((m, hyper.width))
            grad[:, :d] = g_ls
            grad[:, d] = g_os
            g_diag = G.diagonal(dim1=-2, dim2=-1).sum(-1).numpy()
            grad[:, d + 1] = (noise_np - _NOISE_FLOOR) * g_diag
            grad[:, d + 2] = -alpha.squeeze(-1).sum(-1).numpy()
            grad -= g_prior
            value = float(nll + self.const - log_prior)
        return value, grad.ravel()


def _shared(models: Sequence[GP]) -> bool:
    """Whether the models differ only in their weights (see :meth:`GP.with_outputs`)."""
    return all(g.L is models[0].L for g in models)


def posterior_torch_many(
    models: Sequence[GP], Xq: torch.Tensor
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Differentiable posteriors (mean, std), each (q, m) in raw units, of several GPs at
    ``Xq`` (q, d). GPs that share a factorisation share the kernel row, the variance and
    its backward pass; the means are one product each."""
    if not models:
        return []
    if not _shared(models):
        return [posterior_torch_many([g], Xq)[0] for g in models]
    g0 = models[0]
    Kq = g0.outputscale[:, None, None] * matern52(Xq, g0.X, g0.lengthscale)  # (m, q, n)
    if _large(g0.n):
        # with many observations the product and its backward pass are most of the
        # acquisition's refinement: BLAS's triangular product (see _upper_product)
        V = _UpperProduct.apply(Kq, g0.Linv_T)  # (m, q, n): rows of L^-1 k(x, X)
    else:
        V = Kq @ g0.Linv_T
    var_s = (g0.outputscale[:, None] - (V * V).sum(-1)).clamp_min(1e-12)
    std = torch.sqrt(var_s).T * g0._scale_t
    out = []
    for g in models:
        mean_s = g.mean[:, None] + (Kq @ g.alpha.unsqueeze(-1)).squeeze(-1)  # (m, q)
        out.append((mean_s.T * g._scale_t + g._mean_t, std))
    return out


def posterior_many(
    models: Sequence[GP], Xq: np.ndarray, chunk: int = 4096
) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`posterior_torch_many` without gradients, as arrays, the kernel rows in one
    fused pass (:func:`_cross_kernel`) and ``chunk`` query points at a time."""
    if not models:
        return []
    if not _shared(models):
        return [posterior_many([g], Xq, chunk)[0] for g in models]
    means, std = _posterior_chunks(models, Xq, chunk, with_std=True)
    assert std is not None
    return [(mean, std) for mean in means]


def _posterior_chunks(models: Sequence[GP], Xq: np.ndarray, chunk: int, with_std: bool
                      ) -> tuple[list[np.ndarray], np.ndarray | None]:
    """The means (each (q, m), raw units) of GPs that share a factorisation at ``Xq``
    (q, d), and their common std (q, m) with ``with_std`` (else None); ``chunk`` query
    points at a time. A mean is the same numbers with or without the std."""
    g0 = models[0]
    Xq = np.atleast_2d(np.asarray(Xq, dtype=np.float64))
    if Xq.ndim != 2 or Xq.shape[1] != g0.d:
        raise ValueError(f"Xq: expected shape (q, {g0.d}), got {Xq.shape}")
    means: list[list[np.ndarray]] = [[] for _ in models]
    stds: list[np.ndarray] = []
    ls = g0.lengthscale.numpy()
    os = g0.outputscale.numpy()
    with torch.no_grad(), single_threaded():
        for i in range(0, len(Xq), chunk):
            part = np.ascontiguousarray(Xq[i : i + chunk])
            Kq_np = np.empty((g0.m, len(part), g0.n))
            _cross_kernel(part, g0.X_np, ls, os, Kq_np)
            Kq = torch.from_numpy(Kq_np)
            if with_std:
                if _large(g0.n):
                    # with many observations this product is most of the screen's time
                    V = torch.from_numpy(_upper_product(Kq_np, g0.Linv_T.numpy()))
                else:
                    V = Kq @ g0.Linv_T
                var_s = (g0.outputscale[:, None] - (V * V).sum(-1)).clamp_min(1e-12)
                stds.append((torch.sqrt(var_s).T * g0._scale_t).numpy())
            for g, out in zip(models, means, strict=True):
                mean_s = g.mean[:, None] + (Kq @ g.alpha.unsqueeze(-1)).squeeze(-1)
                out.append((mean_s.T * g._scale_t + g._mean_t).numpy())
    if not len(Xq):
        empty = np.zeros((0, g0.m))
        return [empty for _ in models], empty if with_std else None
    return ([np.concatenate(out) for out in means],
            np.concatenate(stds) if with_std else None)


def fit_gp(
    X: np.ndarray,
    Y: np.ndarray,
    warm_start: Mapping[str, Any] | None = None,
    *,
    max_iter: int = 100,
    min_lengthscale: float = _MIN_LENGTHSCALE,
    noise_prior: tuple[float, float] = NOISE_PRIOR,
) -> GP:
    """Fit one GP per objective column of ``Y`` (n, m) on inputs ``X`` (n, d) by MAP.

    ``warm_start``: a previous :meth:`GP.model_state` (shapes must match, else ignored).
    ``min_lengthscale``: lower bound of the lengthscales. ``noise_prior``: (loc, scale) of
    the LogNormal prior on the standardised noise variance.
    Never raises on degenerate data: a failed fit keeps the default hyper-parameters
    (``model_state()["fit_ok"]`` is then False).
    """
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y[:, None]
    if X.ndim != 2 or Y.ndim != 2 or len(X) != len(Y) or len(X) == 0:
        raise ValueError(f"X, Y: need (n, d) and (n, m) with n >= 1, got {X.shape} and {Y.shape}")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(Y))):
        raise ValueError("X, Y: must be finite")
    with single_threaded():
        return _fit(X, Y, warm_start, max_iter, min_lengthscale, noise_prior)


def fit_subset(n: int, size: int | None = None, refresh: int | None = None) -> np.ndarray:
    """(min(n, size),) sorted distinct indices of n observations: the rows the
    hyper-parameters are fitted on. All of them up to ``size``; past it, ``size`` evenly
    spaced from the first to the last of the first n', where n' is n rounded down to
    ``size`` plus a multiple of ``refresh`` (so the rows change only every ``refresh``
    observations, and the newest fewer than ``refresh`` wait for the next draw).
    Defaults: ``FIT_SUBSET`` and ``FIT_REFRESH`` as they are at the call."""
    size = FIT_SUBSET if size is None else size
    if n <= size:
        return np.arange(n)
    return np.round(np.linspace(0, _last_draw(n, size, refresh) - 1, size)).astype(np.int64)


def _last_draw(n: int, size: int | None = None, refresh: int | None = None) -> int:
    """n' of :func:`fit_subset`: the observations its latest draw of the subset saw, n up to
    ``size``, past it ``size`` plus the largest multiple of ``refresh`` that keeps n' <= n.
    Defaults: ``FIT_SUBSET`` and ``FIT_REFRESH`` as they are at the call."""
    size = FIT_SUBSET if size is None else size
    refresh = FIT_REFRESH if refresh is None else refresh
    return n if n <= size else size + (n - size) // refresh * refresh


def _fit_key(X: np.ndarray, Y: np.ndarray, min_lengthscale: float,
             noise_prior: tuple[float, float]) -> str:
    """A digest of a fitting problem: inputs ``X`` (k, d), raw outputs ``Y`` (k, m) and the
    priors' settings; equal digests, equal problems (up to a hash collision)."""
    h = hashlib.blake2b(digest_size=16)
    for a in (X, Y, np.array([min_lengthscale, *noise_prior], dtype=np.float64)):
        a = np.ascontiguousarray(a, dtype=np.float64)
        h.update(np.array(a.shape, dtype=np.int64).tobytes())
        h.update(a.tobytes())
    return h.hexdigest()


def _fit(X: np.ndarray, Y: np.ndarray, warm_start: Mapping[str, Any] | None,
         max_iter: int, min_lengthscale: float, noise_prior: tuple[float, float]) -> GP:
    n, d = X.shape
    m = Y.shape[1]
    large = _large(n)
    rows = fit_subset(n)
    X_fit, Y_fit = X[rows], Y[rows]
    # many observations: the subset's own standardisation (units of the GP alone, which
    # conditions on all the data in them), so that the fitting problem depends on the
    # subset's rows only and a repeat of it is recognised by its key
    Ys, y_mean, y_scale = _standardise(Y_fit)
    if not 0.0 < min_lengthscale < math.exp(_LOG_LS_BOUNDS[1]):
        raise ValueError(f"min_lengthscale: must be in (0, {math.exp(_LOG_LS_BOUNDS[1])})")
    loc, scale = noise_prior
    if not (math.isfinite(loc) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"noise_prior: need a finite loc and scale > 0, got {noise_prior!r}")
    hyper = _Hyper(m, d, min_lengthscale, (float(loc), float(scale)))
    default = hyper.clip(hyper.default())
    key = _fit_key(X_fit, Y_fit, min_lengthscale, hyper.noise_prior) if large else None
    starts = [hyper.clip(th) for th in
              (default, hyper.default(math.log(0.15)), hyper.default(math.log(2.0)))]
    warm = _theta_from_state(warm_start, m, d)
    if warm is not None:
        starts.insert(0, hyper.clip(warm))
    best, best_val = default, math.inf
    try:
        if warm is not None and key is not None and isinstance(warm_start, Mapping) \
                and warm_start.get("fit_key") == key:
            # the same problem as the fit that gave the warm start: its result stands
            return GP(X, Y, warm, y_mean, y_scale,
                      fit_ok=bool(warm_start.get("fit_ok", True)), fit_key=key)
        obj = _Objective(X_fit, Ys, hyper, lapack=large)
        for th in starts:
            v = obj.value(th.ravel())
            if v < best_val:
                best, best_val = th, v
        if not math.isfinite(best_val):
            raise FloatingPointError("no finite starting point")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = scipy.optimize.minimize(
                obj.value_and_grad, best.ravel(), jac=True, method="L-BFGS-B",
                bounds=hyper.bounds(), options={"maxiter": max_iter, "ftol": _FTOL},
            )
        theta = res.x.reshape(m, hyper.width)
        ok = bool(np.all(np.isfinite(theta))) and math.isfinite(float(res.fun)) \
            and float(res.fun) <= best_val + 1e-9
        if not ok:
            theta = best
        return GP(X, Y, theta, y_mean, y_scale, fit_ok=ok, fit_key=key)
    except (RuntimeError, ValueError, FloatingPointError, np.linalg.LinAlgError):
        return GP(X, Y, default, y_mean, y_scale, fit_ok=False, fit_key=key)
