"""Exact expected hypervolume improvement (EHVI) of independent Gaussian predictions.

All objectives are minimised. A candidate's prediction is Y = (Y_1, ..., Y_m) with
independent Y_j ~ N(mean_j, std_j^2); the improvement is the volume of the part of the
region N = { z <= ref : no counted front point f has f <= z } that Y dominates. Inputs:
mean and std (n, m) for n candidates, front (p, m), ref (m,); outputs: EHVI or log EHVI
(n,) and, for the ``_and_grad`` functions, their partials with respect to mean and std,
each (n, m).

Method (Emmerich, Deutz & Klinkenberg 2011; Emmerich, Yang, Deutz, Wang & Fonseca 2016;
Yang, Emmerich, Deutz & Baeck 2019): write N as a union of disjoint axis-aligned boxes
[l_k, u_k] (l_kj may be -inf). The improvement of a point y is

    HVI(y) = sum_k prod_j (u_kj - max(y_j, l_kj))^+ ,

and by independence of the Y_j

    EHVI = sum_k prod_j psi(l_kj, u_kj, mu_j, s_j),
    psi(l, u, mu, s) = E[(u - max(Y, l))^+] = H(u) - H(l),   H(c) = E[(c - Y)^+],

with H(c) = s h((c - mu) / s) and h(z) = z Phi(z) + phi(z) (the expected-improvement
function). The partials are d psi / d mu = Phi(a) - Phi(b) and d psi / d s = phi(b) - phi(a)
with a = (l - mu) / s, b = (u - mu) / s.

Decompositions come from :mod:`mobo.boxes`: for m = 2 the p + 1 vertical strips between
consecutive front points (Emmerich et al. 2011), for m >= 3 the boxes of
:func:`mobo.boxes.nondominated_boxes` (O(p) boxes for m = 3, as in Lacour, Klamroth &
Fonseca 2017). A decomposition is computed once per front (:func:`mobo.boxes.decompose`)
and shared by all candidates. For the strips, EHVI without gradients has a fused kernel:
consecutive strips share an edge, so each strip needs the special functions at one new
coordinate per axis, computed as the strips are visited, with no tables.

Linear-space kernel: boxes share their corner coordinates, so for each candidate H(c),
G(c) = E[(Y - c)^+], phi and (for gradients) the two tail probabilities are tabulated once
per distinct coordinate of each axis (O(m p) special-function evaluations rather than
O(m K)), and each box side is a difference of two table entries: H(u) - H(l) when the mean
lies above l, and (u - l) - (G(l) - G(u)) when it lies below, so that neither form
cancels badly. The tables are built for blocks of candidates at once, from arithmetic
alone (:func:`mobo.vecmath.exp_neg` and the polynomial :func:`mobo.normal.g_fast` for
g(x) = 1 - x R(x) = h(-x) / phi(x), R the Mills ratio; no table look-ups, no library
calls), so the compiler turns the loop over a block into SIMD instructions; g is
approximated directly, so the small one of H and G, s phi(z) g(|z|), keeps its relative
accuracy deep in the tails. The box sums of the linear kernel run over the same blocks.
Blocks are processed in parallel.

Log space (``log_ehvi``): far from the front every psi underflows although EHVI is positive.
Box terms are summed in linear space whenever every side comes out of the tables with full
relative accuracy and the product cannot underflow; the other box terms are computed as
sum_j log psi with the stable :func:`mobo.normal.log_psi` and combined by a log-sum-exp,
in the spirit of the log-EI of Ament, Daulton, Eriksson, Balandat & Bakshy 2023
("Unexpected improvements to expected improvement"); a set-aside box whose upper bound is
below 1e-16 / K of the linear sum is skipped. The linear part and the bounds are computed
for a whole block of candidates at once, as in the linear kernel; a candidate whose
set-aside boxes are all negligible (near the front, the common case) is done there, and
only the others are finished one at a time.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from mobo.boxes import Boxes, decompose
from mobo.normal import G_COEF, INV_SQRT_2PI, Q_SERIES, Z_ZERO, g_fast, log_psi, q_small
from mobo.vecmath import exp_neg

__all__ = [
    "ehvi",
    "ehvi_and_grad",
    "ehvi_boxes",
    "ehvi_boxes_and_grad",
    "log_ehvi",
    "log_ehvi_and_grad",
    "log_ehvi_boxes",
    "log_ehvi_boxes_and_grad",
]


# ---------------------------------------------------------------------------------------
# kernels (numba, parallel over candidates)
# ---------------------------------------------------------------------------------------

# Candidates are scored in blocks of _BLOCK, and every per-coordinate quantity is computed
# for a whole block at once, with no table look-up and no library call, so that LLVM turns
# the loop over the block into SIMD instructions (it does not vectorise gathers or calls to
# exp/erfc on x86 without a vector maths library). The two special functions this needs
# are :func:`mobo.vecmath.exp_neg` and :func:`mobo.normal.g_fast`.
#
# These functions and the linear kernel allow the compiler one liberty, fusing a multiply
# and an add into one FMA instruction (numba's fastmath "contract" flag alone: no
# reassociation, no assumptions about inf or NaN). A fused multiply-add rounds once instead
# of twice, so it costs no accuracy, and it shortens the polynomials by half. The log-space
# kernel's own arithmetic stays strict: its differences are arranged around exact
# cancellations that a fused operation could tip.
_BLOCK = 16
# blocks per parallel task (each task allocates its scratch space once)
_RUN = 16
# per block: H, G, Phi, 1 - Phi and phi, each (m, C, _BLOCK)
_Tables = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]

# a side computed in linear space is trusted for log EHVI when it is a normal number and
# the difference H(u) - H(l) keeps at least _KEEP of H(u) (or of s, below the mean)
_KEEP = 1e-4
# box products below this go to the log path rather than risk underflow
_TINY = 1e-280
# boxes set aside for the log path are skipped when an upper bound on their term is below
# _NEGLIGIBLE / K of the linear sum: together they change log EHVI by < 1e-16
_NEGLIGIBLE = 1e-16


@njit(cache=True, inline="always", error_model="numpy", fastmath={"contract"})
def _entry(
    c: float, mu: float, s: float, inv: float, gc: np.ndarray
) -> tuple[float, float, float, float, float, float, bool, bool]:  # pragma: no cover - numba
    """H(c) = E[(c - Y)^+] and G(c) = E[(Y - c)^+] for Y ~ N(mu, s^2), ``inv`` = 1 / s (1
    when s = 0), with what the gradient tables reuse: (H, G, phi(z), z, min(|z|,
    Z_ZERO), g(|z|), s > 0, s > 0 and |z| < Z_ZERO)."""
    d = c - mu
    live = s > 0.0
    z = d * inv
    az = min(abs(z), Z_ZERO)
    inside = live & (az < Z_ZERO)
    p = INV_SQRT_2PI * exp_neg(-0.5 * az * az)
    gz = g_fast(az, gc)
    small = s * p * gz if inside else 0.0  # s h(-|z|)
    up = z >= 0.0
    # a lane with s = 0 needs no case of its own: small = 0 and z has the sign of d there,
    # so these are max(d, 0) and max(-d, 0) (a select on s > 0 here made LLVM load
    # through gathers and halved the speed)
    h = d + small if up else small
    g = small if up else small - d
    return h, g, p, z, az, gz, live, inside


@njit(cache=True, error_model="numpy", fastmath={"contract"})
def _tables(
    mean: np.ndarray,
    std: np.ndarray,
    i0: int,
    grid: np.ndarray,
    counts: np.ndarray,
    gc: np.ndarray,
    qc: np.ndarray,
    grad: bool,
    tab: _Tables,
) -> None:  # pragma: no cover - numba
    """Per distinct coordinate c of each axis, for candidates i0 .. i0 + _BLOCK - 1 (lanes
    past the last candidate repeat it): tab[0] = H = E[(c - Y)^+], tab[1] = G =
    E[(Y - c)^+], tab[4] = phi(z) and, with ``grad``, tab[2] = Phi(z) and tab[3] =
    1 - Phi(z), z = (c - mu) / s. ``tab`` holds five (m, C, _BLOCK) arrays; ``gc`` is G_COEF and
    ``qc`` Q_SERIES."""
    last = mean.shape[0] - 1
    mu = np.empty(_BLOCK)
    sd = np.empty(_BLOCK)
    inv = np.empty(_BLOCK)
    for j in range(grid.shape[0]):
        # contiguous copies: strided loads would become gathers, which stop vectorisation
        for b in range(_BLOCK):
            mu[b] = mean[min(i0 + b, last), j]
            sd[b] = std[min(i0 + b, last), j]
            # one division per candidate and axis rather than one per table entry
            inv[b] = 1.0 / sd[b] if sd[b] > 0.0 else 1.0
        for t in range(counts[j]):
            c = grid[j, t]
            for b in range(_BLOCK):
                h, g, p, z, az, gz, live, inside = _entry(c, mu[b], sd[b], inv[b], gc)
                tab[0][j, t, b] = h
                tab[1][j, t, b] = g
                tab[4][j, t, b] = p if inside else 0.0
                if grad:
                    # the smaller tail probability; R = (1 - g) / x keeps ~15 digits from
                    # x = 1/4 up, the series below
                    e_series = q_small(az, qc)
                    e_ratio = p * (1.0 - gz) / max(az, 0.25)
                    e = e_series if az < 0.25 else e_ratio
                    e = e if inside else 0.0
                    # with s = 0 (e = 0): Phi = 1 exactly when d > 0
                    right = (z > 0.0) | (live & (z == 0.0))
                    tab[2][j, t, b] = 1.0 - e if right else e
                    tab[3][j, t, b] = e if right else 1.0 - e


@njit(cache=True, inline="always")
def _new_tables(m: int, n_grid: int) -> _Tables:  # pragma: no cover - numba
    """Room for one block's tables: five separate arrays, not one, because stores into one
    array at several offsets defeat LLVM's alias checks and so the vectorisation of
    :func:`_tables`."""
    return (np.empty((m, n_grid, _BLOCK)), np.empty((m, n_grid, _BLOCK)),
            np.empty((m, n_grid, _BLOCK)), np.empty((m, n_grid, _BLOCK)),
            np.empty((m, n_grid, _BLOCK)))


@njit(cache=True, inline="always")
def _side(
    j: int,
    li: int,
    ui: int,
    b: int,
    mu: float,
    grid: np.ndarray,
    tab: _Tables,
    grad: bool,
) -> tuple[float, float, float]:  # pragma: no cover - numba
    """(psi, d psi / d mu, d psi / d s) of box side [grid[j, li], grid[j, ui]] (li < 0:
    -inf) for lane ``b`` of the tables; the partials are 0 without ``grad`` (the tables
    then hold no Phi and 1 - Phi)."""
    if li < 0:
        v = tab[0][j, ui, b]
        if not grad:
            return v, 0.0, 0.0
        return v, -tab[2][j, ui, b], tab[4][j, ui, b]
    below = grid[j, li] >= mu
    if below:
        # mean below the box: the width minus a correction of at most half of it
        v = (grid[j, ui] - grid[j, li]) - (tab[1][j, li, b] - tab[1][j, ui, b])
    else:
        v = tab[0][j, ui, b] - tab[0][j, li, b]
    if not grad:
        return max(v, 0.0), 0.0, 0.0
    if below:
        dm = tab[3][j, ui, b] - tab[3][j, li, b]
    else:
        dm = tab[2][j, li, b] - tab[2][j, ui, b]
    return max(v, 0.0), dm, tab[4][j, ui, b] - tab[4][j, li, b]


# per block: mu, s (each (m, _BLOCK)); psi, d psi / d mu, d psi / d s (each (m, _BLOCK));
# running product, product of the other sides, linear sum, largest set-aside bound, bound
# product, all-sides-trusted flag (each (_BLOCK,)); gradient sums (each (m, _BLOCK))
_Scratch = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                 np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                 np.ndarray]


@njit(cache=True, inline="always")
def _new_scratch(m: int) -> _Scratch:  # pragma: no cover - numba
    return (np.empty((m, _BLOCK)), np.empty((m, _BLOCK)), np.empty((m, _BLOCK)),
            np.empty((m, _BLOCK)), np.empty((m, _BLOCK)), np.empty(_BLOCK),
            np.empty(_BLOCK), np.empty(_BLOCK), np.empty(_BLOCK), np.empty(_BLOCK),
            np.empty(_BLOCK), np.empty((m, _BLOCK)), np.empty((m, _BLOCK)))


@njit(cache=True, inline="always", error_model="numpy", fastmath={"contract"})
def _block_sums(
    mean: np.ndarray,
    std: np.ndarray,
    i0: int,
    grid: np.ndarray,
    lo_idx: np.ndarray,
    up_idx: np.ndarray,
    tab: _Tables,
    grad: bool,
    checked: bool,
    sc: _Scratch,
) -> None:  # pragma: no cover - numba
    """Sum the box terms of candidates i0 .. i0 + _BLOCK - 1 from their tables, all lanes
    at once: every loop over the block is innermost and branch-free, so it vectorises.

    Without ``checked``: sc[7] = EHVI and sc[11], sc[12] its partials. With ``checked``
    (the log kernel's fast path), only boxes whose sides all pass :func:`_side_checked`'s
    test and whose product exceeds _TINY are summed, as :func:`_log_ehvi_one` sums them
    in linear space, and sc[8] receives, per lane, the largest upper bound on a box set
    aside (lanes with s = 0 are not meaningful there).
    """
    n, m = mean.shape
    mu, sd, psi, dm, ds, prod, other, total, worst, bprod, okall, g_mean, g_std = sc
    for j in range(m):
        for b in range(_BLOCK):
            mu[j, b] = mean[min(i0 + b, n - 1), j]
            sd[j, b] = std[min(i0 + b, n - 1), j]
    total[:] = 0.0
    worst[:] = 0.0
    g_mean[:] = 0.0
    g_std[:] = 0.0
    for k in range(lo_idx.shape[0]):
        prod[:] = 1.0
        bprod[:] = 1.0
        okall[:] = 1.0
        for j in range(m):
            li = lo_idx[k, j]
            ui = up_idx[k, j]
            u = grid[j, ui]
            if li < 0:
                for b in range(_BLOCK):
                    psi[j, b] = tab[0][j, ui, b]
                    prod[b] *= psi[j, b]
                if grad:
                    for b in range(_BLOCK):
                        dm[j, b] = -tab[2][j, ui, b]
                        ds[j, b] = tab[4][j, ui, b]
                if checked:
                    for b in range(_BLOCK):
                        # (every load is made before the selects: a load inside a
                        # branch is compiled as a gather and stops the vectorisation)
                        v = psi[j, b]
                        ok = v > _TINY
                        # psi <= H(u) <= s phi(z_u) when u <= mu (h(z) <= phi(z), z <= 0)
                        bnd_low = sd[j, b] * tab[4][j, ui, b]
                        bnd_high = tab[0][j, ui, b] * (1.0 + 1e-12)
                        bnd = bnd_low if u <= mu[j, b] else bnd_high
                        bprod[b] *= v if ok else bnd
                        was = okall[b]
                        okall[b] = was if ok else 0.0
                continue
            lo = grid[j, li]
            width = u - lo
            for b in range(_BLOCK):
                # mean below the box: the width minus a correction of at most half of it;
                # above: H(u) - H(l); neither form cancels badly. Both are formed and one
                # is selected: loads inside a branch would be compiled as gathers
                v_below = width - (tab[1][j, li, b] - tab[1][j, ui, b])
                v_above = tab[0][j, ui, b] - tab[0][j, li, b]
                v = v_below if lo >= mu[j, b] else v_above
                psi[j, b] = max(v, 0.0)
                prod[b] *= psi[j, b]
            if grad:
                for b in range(_BLOCK):
                    dm_below = tab[3][j, ui, b] - tab[3][j, li, b]
                    dm_above = tab[2][j, li, b] - tab[2][j, ui, b]
                    dm[j, b] = dm_below if lo >= mu[j, b] else dm_above
                    ds[j, b] = tab[4][j, ui, b] - tab[4][j, li, b]
            if checked:
                for b in range(_BLOCK):
                    v = psi[j, b]
                    s = sd[j, b]
                    h_u = tab[0][j, ui, b]
                    # the criteria and bounds of _side_checked
                    keep_below = width >= _KEEP * s
                    keep_above = v >= _KEEP * h_u
                    ok = (v > _TINY) & (keep_below if lo >= mu[j, b] else keep_above)
                    bnd_low = s * tab[4][j, ui, b]
                    bnd_high = h_u * (1.0 + 1e-12)
                    bnd = min(bnd_low if u <= mu[j, b] else bnd_high, width)
                    bprod[b] *= v if ok else bnd
                    was = okall[b]
                    okall[b] = was if ok else 0.0
        if checked:
            for b in range(_BLOCK):
                # a box counts in linear space only if every side is trusted and the
                # product cannot underflow; otherwise it is set aside with its bound
                p = prod[b]
                w = worst[b]
                bp = bprod[b]
                counted = (okall[b] > 0.0) & (p > _TINY)
                okall[b] = 1.0 if counted else 0.0
                total[b] += p if counted else 0.0
                worst[b] = w if counted else max(w, bp)
        else:
            for b in range(_BLOCK):
                total[b] += prod[b]
        if grad:
            for j in range(m):
                other[:] = 1.0
                for jj in range(m):
                    if jj != j:
                        for b in range(_BLOCK):
                            other[b] *= psi[jj, b]
                if checked:
                    for b in range(_BLOCK):
                        other[b] *= okall[b]
                for b in range(_BLOCK):
                    g_mean[j, b] += dm[j, b] * other[b]
                    g_std[j, b] += ds[j, b] * other[b]


@njit(cache=True, parallel=True, error_model="numpy", fastmath={"contract"})
def _ehvi_kernel(
    mean: np.ndarray,
    std: np.ndarray,
    grid: np.ndarray,
    counts: np.ndarray,
    lo_idx: np.ndarray,
    up_idx: np.ndarray,
    gc: np.ndarray,
    qc: np.ndarray,
    grad: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - numba
    n, m = mean.shape
    n_grid = grid.shape[1]
    value = np.zeros(n)
    ng = n if grad else 0
    d_mean = np.zeros((ng, m))
    d_std = np.zeros((ng, m))
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    for run in prange((n_blocks + _RUN - 1) // _RUN):
        # scratch space once per run of blocks, not per block: allocation in the
        # parallel region costs about as much as scoring a block
        tab = _new_tables(m, n_grid)
        sc = _new_scratch(m)
        total, g_mean, g_std = sc[7], sc[11], sc[12]
        for blk in range(run * _RUN, min(n_blocks, (run + 1) * _RUN)):
            i0 = blk * _BLOCK
            _tables(mean, std, i0, grid, counts, gc, qc, grad, tab)
            _block_sums(mean, std, i0, grid, lo_idx, up_idx, tab, grad, False, sc)
            for b in range(min(_BLOCK, n - i0)):
                value[i0 + b] = total[b]
                if grad:
                    for j in range(m):
                        d_mean[i0 + b, j] = g_mean[j, b]
                        d_std[i0 + b, j] = g_std[j, b]
    return value, d_mean, d_std


@njit(cache=True, parallel=True, error_model="numpy", fastmath={"contract"})
def _strip_kernel(
    mean: np.ndarray, std: np.ndarray, grid: np.ndarray, up_idx: np.ndarray, gc: np.ndarray
) -> np.ndarray:  # pragma: no cover - numba
    """EHVI of n candidates (2 objectives) over the strips of :func:`mobo.boxes.decompose`,
    fused: the strips are visited in order of their left edge and each needs H and G at
    its right edge on axis 0 and H at its top on axis 1, computed on the spot for a block
    of candidates (no tables); the left edge's values are the previous strip's right
    edge's.
    Same arithmetic per side as :func:`_tables` and :func:`_block_sums`."""
    n = mean.shape[0]
    n_strips = up_idx.shape[0]
    value = np.zeros(n)
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    for run in prange((n_blocks + _RUN - 1) // _RUN):
        mu = np.empty((2, _BLOCK))
        sd = np.empty((2, _BLOCK))
        inv = np.empty((2, _BLOCK))
        prev_h = np.empty(_BLOCK)
        prev_g = np.empty(_BLOCK)
        total = np.empty(_BLOCK)
        for blk in range(run * _RUN, min(n_blocks, (run + 1) * _RUN)):
            i0 = blk * _BLOCK
            for j in range(2):
                for b in range(_BLOCK):
                    mu[j, b] = mean[min(i0 + b, n - 1), j]
                    sd[j, b] = std[min(i0 + b, n - 1), j]
                    inv[j, b] = 1.0 / sd[j, b] if sd[j, b] > 0.0 else 1.0
            total[:] = 0.0
            for k in range(n_strips):
                x = grid[0, k]
                y = grid[1, up_idx[k, 1]]
                lo = grid[0, k - 1] if k > 0 else -np.inf
                width = x - lo
                for b in range(_BLOCK):
                    hx, gx, _, _, _, _, _, _ = _entry(x, mu[0, b], sd[0, b], inv[0, b], gc)
                    hy, _, _, _, _, _, _, _ = _entry(y, mu[1, b], sd[1, b], inv[1, b], gc)
                    # the first strip is unbounded on the left: its side is H(x); the
                    # others as in _block_sums (both forms made, one selected)
                    v_below = width - (prev_g[b] - gx)
                    v_above = hx - prev_h[b]
                    v = v_below if lo >= mu[0, b] else v_above
                    psi = max(v, 0.0) if k > 0 else hx
                    total[b] += psi * hy
                    prev_h[b] = hx
                    prev_g[b] = gx
            for b in range(min(_BLOCK, n - i0)):
                value[i0 + b] = total[b]
    return value


@njit(cache=True, inline="always")
def _side_checked(
    j: int,
    li: int,
    ui: int,
    b: int,
    mu: float,
    s: float,
    grid: np.ndarray,
    tab: _Tables,
    grad: bool,
) -> tuple[float, float, float, bool, float]:  # pragma: no cover - numba
    """:func:`_side` plus whether its value is accurate to ~1e-12 relative (trusted for the
    log) and, if not, an upper bound on psi."""
    v, dm, ds = _side(j, li, ui, b, mu, grid, tab, grad)
    u = grid[j, ui]
    if s == 0.0:
        return v, dm, ds, True, v
    if li < 0:
        ok = v > _TINY
    elif grid[j, li] >= mu:
        ok = v > _TINY and u - grid[j, li] >= _KEEP * s
    else:
        ok = v > _TINY and v >= _KEEP * tab[0][j, ui, b]
    if ok:
        return v, dm, ds, True, v
    # psi <= H(u) <= s phi(z_u) when u <= mu (h(z) <= phi(z) for z <= 0), and psi <= u - l
    bound = s * tab[4][j, ui, b] if u <= mu else tab[0][j, ui, b] * (1.0 + 1e-12)
    if li >= 0:
        bound = min(bound, u - grid[j, li])
    return v, dm, ds, False, bound


@njit(cache=True, parallel=True, error_model="numpy")
def _log_ehvi_kernel(
    mean: np.ndarray,
    std: np.ndarray,
    grid: np.ndarray,
    counts: np.ndarray,
    lo_idx: np.ndarray,
    up_idx: np.ndarray,
    gc: np.ndarray,
    qc: np.ndarray,
    grad: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - numba
    n, m = mean.shape
    n_grid = grid.shape[1]
    value = np.empty(n)
    ng = n if grad else 0
    d_mean = np.zeros((ng, m))
    d_std = np.zeros((ng, m))
    n_boxes = lo_idx.shape[0]
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    for run in prange((n_blocks + _RUN - 1) // _RUN):
        tab = _new_tables(m, n_grid)
        sc = _new_scratch(m)
        total, worst, g_mean, g_std = sc[7], sc[8], sc[11], sc[12]
        for blk in range(run * _RUN, min(n_blocks, (run + 1) * _RUN)):
            i0 = blk * _BLOCK
            _tables(mean, std, i0, grid, counts, gc, qc, grad, tab)
            # fast path: the linear sum of the trusted boxes, for all lanes at once; a
            # lane keeps it when every box set aside is negligible (pass 2 of
            # _log_ehvi_one would skip them all), the others go through _log_ehvi_one
            _block_sums(mean, std, i0, grid, lo_idx, up_idx, tab, grad, True, sc)
            for b in range(min(_BLOCK, n - i0)):
                i = i0 + b
                live = True
                for j in range(m):
                    live = live and std[i, j] > 0.0
                lin = total[b]
                if live and lin > 0.0 and worst[b] < lin * _NEGLIGIBLE / n_boxes:
                    value[i] = math.log(lin)
                    if grad:
                        for j in range(m):
                            d_mean[i, j] = g_mean[j, b] / lin
                            d_std[i, j] = g_std[j, b] / lin
                else:
                    _log_ehvi_one(i, b, mean, std, grid, lo_idx, up_idx, tab, grad, value,
                                  d_mean, d_std)
    return value, d_mean, d_std


@njit(cache=True, inline="always", error_model="numpy")
def _log_ehvi_one(
    i: int,
    b: int,
    mean: np.ndarray,
    std: np.ndarray,
    grid: np.ndarray,
    lo_idx: np.ndarray,
    up_idx: np.ndarray,
    tab: _Tables,
    grad: bool,
    value: np.ndarray,
    d_mean: np.ndarray,
    d_std: np.ndarray,
) -> None:  # pragma: no cover - numba
    """log EHVI (and its partials) of candidate i from lane b of the block's tables."""
    m = mean.shape[1]
    n_boxes = lo_idx.shape[0]
    psi = np.empty(m)
    bm = np.empty(m)  # d log psi / d mu of each side
    bs = np.empty(m)
    # pass 1: boxes whose sides are all trusted and whose product is safely
    # representable are summed in linear space; the others are set aside with an
    # upper bound on their term
    lin = 0.0
    lin_m = np.zeros(m)
    lin_s = np.zeros(m)
    pending = np.empty(n_boxes, dtype=np.int64)
    bounds = np.empty(n_boxes)
    n_pending = 0
    for k in range(n_boxes):
        prod = 1.0
        bound = 1.0
        all_trusted = True
        for j in range(m):
            v, dmj, dsj, ok, bnd = _side_checked(
                j, lo_idx[k, j], up_idx[k, j], b, mean[i, j], std[i, j], grid, tab, grad
            )
            bound *= bnd
            if ok:
                if v <= 0.0:  # only with s = 0: this box contributes exactly nothing
                    all_trusted = False
                    bound = -1.0
                    break
                psi[j] = v
                if grad:
                    bm[j] = dmj / v
                    bs[j] = dsj / v
                prod *= v
            else:
                all_trusted = False
        if bound < 0.0:
            continue
        if all_trusted and prod > _TINY:
            lin += prod
            if grad:
                for j in range(m):
                    lin_m[j] += prod * bm[j]
                    lin_s[j] += prod * bs[j]
        else:
            pending[n_pending] = k
            bounds[n_pending] = bound
            n_pending += 1
    # pass 2: the set-aside boxes that can matter, in logs with an online
    # log-sum-exp (terms exp(term - top) summed in acc)
    negligible = lin * _NEGLIGIBLE / n_boxes
    top = -np.inf
    acc = 0.0
    log_m = np.zeros(m)
    log_s = np.zeros(m)
    for q in range(n_pending):
        if bounds[q] < negligible:
            continue
        k = pending[q]
        term = 0.0
        for j in range(m):
            li = lo_idx[k, j]
            ui = up_idx[k, j]
            v, dmj, dsj, ok, bnd = _side_checked(j, li, ui, b, mean[i, j], std[i, j],
                                                 grid, tab, grad)
            if ok:
                term += math.log(v)
                bm[j] = dmj / v
                bs[j] = dsj / v
            else:
                lo = grid[j, li] if li >= 0 else -np.inf
                lp, bm[j], bs[j] = log_psi(lo, grid[j, ui], mean[i, j], std[i, j])
                term += lp
            if term == -np.inf:
                break
        if term == -np.inf:
            continue
        if term > top:
            scale = math.exp(top - term)
            acc = acc * scale + 1.0
            if grad:
                for j in range(m):
                    log_m[j] = log_m[j] * scale + bm[j]
                    log_s[j] = log_s[j] * scale + bs[j]
            top = term
        else:
            wgt = math.exp(term - top)
            acc += wgt
            if grad:
                for j in range(m):
                    log_m[j] += wgt * bm[j]
                    log_s[j] += wgt * bs[j]
    # combine the two partial sums
    if lin > 0.0 and acc > 0.0:
        l1 = math.log(lin)
        l2 = top + math.log(acc)
        big = max(l1, l2)
        w1 = math.exp(l1 - big)
        w2 = math.exp(l2 - big)
        value[i] = big + math.log(w1 + w2)
        if grad:
            for j in range(m):
                d_mean[i, j] = (w1 * lin_m[j] / lin + w2 * log_m[j] / acc) / (w1 + w2)
                d_std[i, j] = (w1 * lin_s[j] / lin + w2 * log_s[j] / acc) / (w1 + w2)
    elif lin > 0.0:
        value[i] = math.log(lin)
        if grad:
            for j in range(m):
                d_mean[i, j] = lin_m[j] / lin
                d_std[i, j] = lin_s[j] / lin
    elif acc > 0.0:
        value[i] = top + math.log(acc)
        if grad:
            for j in range(m):
                d_mean[i, j] = log_m[j] / acc
                d_std[i, j] = log_s[j] / acc
    else:
        value[i] = -np.inf



# ---------------------------------------------------------------------------------------
# public functions
# ---------------------------------------------------------------------------------------


def _check_predictions(mean: np.ndarray, std: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    if mean.ndim != 2 or mean.shape[1] != m:
        raise ValueError(f"mean must have shape (n, {m}), got {mean.shape}")
    if std.shape != mean.shape:
        raise ValueError(f"std must have the shape of mean {mean.shape}, got {std.shape}")
    if not np.isfinite(mean).all():
        raise ValueError("mean must be finite (found NaN or inf)")
    if not np.isfinite(std).all():
        raise ValueError("std must be finite (found NaN or inf)")
    if (std < 0.0).any():
        raise ValueError("std must be non-negative")
    return np.ascontiguousarray(mean), np.ascontiguousarray(std)


def _check_boxes(boxes: Boxes) -> Boxes:
    if not isinstance(boxes, Boxes):
        raise TypeError(
            f"boxes must be a Boxes from decompose() or boxes_from_bounds(), got {type(boxes)}"
        )
    return boxes


def _linear(
    mean: np.ndarray, std: np.ndarray, boxes: Boxes, grad: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    boxes = _check_boxes(boxes)
    mean, std = _check_predictions(mean, std, boxes.m)
    if boxes.strips and not grad:
        empty = np.zeros((0, 2))
        return _strip_kernel(mean, std, boxes.grid, boxes.upper_index, G_COEF), empty, empty
    return _ehvi_kernel(
        mean,
        std,
        boxes.grid,
        boxes.counts,
        boxes.lower_index,
        boxes.upper_index,
        G_COEF,
        Q_SERIES,
        grad,
    )


def _log(
    mean: np.ndarray, std: np.ndarray, boxes: Boxes, grad: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    boxes = _check_boxes(boxes)
    mean, std = _check_predictions(mean, std, boxes.m)
    return _log_ehvi_kernel(
        mean,
        std,
        boxes.grid,
        boxes.counts,
        boxes.lower_index,
        boxes.upper_index,
        G_COEF,
        Q_SERIES,
        grad,
    )


def ehvi_boxes(mean: np.ndarray, std: np.ndarray, boxes: Boxes) -> np.ndarray:
    """EHVI of n candidates over a precomputed decomposition.

    Args:
        mean: (n, m) predictive means. std: (n, m) predictive standard deviations (>= 0).
        boxes: from :func:`mobo.boxes.decompose` or :func:`mobo.boxes.boxes_from_bounds`.

    Returns:
        (n,) expected hypervolume improvement.
    """
    return _linear(mean, std, boxes, False)[0]


def ehvi_boxes_and_grad(
    mean: np.ndarray, std: np.ndarray, boxes: Boxes
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(EHVI (n,), d EHVI / d mean (n, m), d EHVI / d std (n, m)) over precomputed boxes."""
    return _linear(mean, std, boxes, True)


def log_ehvi_boxes(mean: np.ndarray, std: np.ndarray, boxes: Boxes) -> np.ndarray:
    """(n,) log EHVI over precomputed boxes; -inf only where EHVI is exactly 0."""
    return _log(mean, std, boxes, False)[0]


def log_ehvi_boxes_and_grad(
    mean: np.ndarray, std: np.ndarray, boxes: Boxes
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(log EHVI (n,), d/d mean (n, m), d/d std (n, m)) over precomputed boxes.

    Where log EHVI is -inf the gradients are 0.
    """
    return _log(mean, std, boxes, True)


def ehvi(mean: np.ndarray, std: np.ndarray, front: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Exact EHVI of independent Gaussian predictions (minimisation).

    Args:
        mean: (n, m) predictive means of n candidates.
        std: (n, m) predictive standard deviations, >= 0 (0 gives the plain improvement).
        front: (p, m) observed points; p may be 0; dominated points, duplicates and points
            not strictly better than ``ref`` in every objective are ignored.
        ref: (m,) finite reference point.

    Returns:
        (n,) expected hypervolume improvement.
    """
    return ehvi_boxes(mean, std, decompose(front, ref))


def ehvi_and_grad(
    mean: np.ndarray, std: np.ndarray, front: np.ndarray, ref: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(EHVI (n,), d EHVI / d mean (n, m), d EHVI / d std (n, m)); arguments as :func:`ehvi`."""
    return ehvi_boxes_and_grad(mean, std, decompose(front, ref))


def log_ehvi(mean: np.ndarray, std: np.ndarray, front: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """(n,) log EHVI, finite wherever EHVI > 0 even when EHVI underflows; see :func:`ehvi`."""
    return log_ehvi_boxes(mean, std, decompose(front, ref))


def log_ehvi_and_grad(
    mean: np.ndarray, std: np.ndarray, front: np.ndarray, ref: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(log EHVI (n,), d/d mean (n, m), d/d std (n, m)); arguments as :func:`ehvi`."""
    return log_ehvi_boxes_and_grad(mean, std, decompose(front, ref))
