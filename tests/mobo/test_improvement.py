"""Exact EHVI against brute force: inclusion-exclusion hypervolume, Monte Carlo, quadrature
and high-precision (mpmath) references, on random and degenerate inputs."""

from __future__ import annotations

import dataclasses
import itertools

import mpmath as mp
import numpy as np
import pytest
from numba import njit

import mobo
from mobo.boxes import Boxes, boxes_from_bounds, decompose, nondominated_boxes
from mobo.improvement import (
    _BLOCK,
    _log_ehvi_one,
    _new_tables,
    _tables,
    ehvi,
    ehvi_and_grad,
    ehvi_boxes,
    ehvi_boxes_and_grad,
    log_ehvi,
    log_ehvi_and_grad,
    log_ehvi_boxes,
    log_ehvi_boxes_and_grad,
)
from mobo.normal import G_COEF, Q_SERIES
from tests.mobo.references import (
    degenerate_fronts,
    grid_boxes,
    mp_psi,
    psi_cases,
    random_front,
)

# ---------------------------------------------------------------------------------------
# slow, obviously correct references
# ---------------------------------------------------------------------------------------


def hvi_incl_excl(Y: np.ndarray, front: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Hypervolume improvement of each row of Y (N, m) by inclusion-exclusion over subsets.

    HV(F + y) - HV(F) = sum over subsets T of F of (-1)^|T| vol[max(y, max T), ref].
    """
    p, m = front.shape
    total = np.zeros(Y.shape[0])
    for r in range(p + 1):
        for subset in itertools.combinations(range(p), r):
            corner = front[list(subset)].max(axis=0) if subset else np.full(m, -np.inf)
            box = np.clip(ref - np.maximum(Y, corner), 0.0, None)
            total += (-1) ** r * box.prod(axis=1)
    return total


def mp_log_ehvi(mean: np.ndarray, std: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    total = mp.mpf(0)
    for k in range(lower.shape[0]):
        term = mp.mpf(1)
        for j in range(lower.shape[1]):
            term *= mp_psi(lower[k, j], upper[k, j], mean[j], std[j])
        total += term
    return float(mp.log(total))


# ---------------------------------------------------------------------------------------
# deterministic limit and decompositions
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("m", [2, 3, 4])
def test_zero_std_is_plain_improvement(m: int) -> None:
    rng = np.random.default_rng(m)
    ref = np.ones(m)
    for name, front in degenerate_fronts(rng, m).items():
        y = rng.uniform(-0.2, 1.2, size=(300, m))
        y[: len(front)] = front  # exactly on the front (and on ref in one coordinate)
        expected = hvi_incl_excl(y, front, ref)
        got = ehvi(y, np.zeros_like(y), front, ref)
        np.testing.assert_allclose(got, expected, rtol=1e-11, atol=1e-13, err_msg=name)
        lg = log_ehvi(y, np.zeros_like(y), front, ref)
        pos = expected > 1e-12
        np.testing.assert_allclose(lg[pos], np.log(expected[pos]), atol=1e-9, err_msg=name)
        # -inf exactly where nothing improves
        assert np.all(np.isneginf(lg[got == 0.0])), name
        assert np.all(np.isfinite(lg[got > 0.0])), name


@pytest.mark.parametrize("m", [2, 3, 4])
def test_decompositions_agree(m: int) -> None:
    rng = np.random.default_rng(10 + m)
    ref = np.ones(m)
    for name, front in degenerate_fronts(rng, m).items():
        mean = rng.uniform(-0.5, 1.5, size=(50, m))
        std = rng.uniform(0.0, 0.6, size=(50, m))
        via_grid = ehvi_boxes(mean, std, boxes_from_bounds(*grid_boxes(front, ref)))
        via_hv = ehvi_boxes(mean, std, boxes_from_bounds(*nondominated_boxes(front, ref)))
        direct = ehvi(mean, std, front, ref)  # m = 2: strips
        np.testing.assert_allclose(direct, via_grid, rtol=1e-11, atol=1e-15, err_msg=name)
        np.testing.assert_allclose(via_hv, via_grid, rtol=1e-11, atol=1e-15, err_msg=name)
        lg = log_ehvi_boxes(mean, std, boxes_from_bounds(*grid_boxes(front, ref)))
        np.testing.assert_allclose(lg, log_ehvi(mean, std, front, ref), atol=1e-10)


def test_fused_strip_kernel_matches_the_box_kernel() -> None:
    """2-D EHVI without gradients goes through the fused strip kernel; it must agree with
    the general box kernel (the same boxes with the strip flag off) on every degenerate
    front, for candidates near, on and far from it, with zero and tiny deviations."""
    rng = np.random.default_rng(77)
    ref = np.ones(2)
    for name, front in degenerate_fronts(rng, 2).items():
        boxes = decompose(front, ref)
        assert boxes.strips, name
        general = dataclasses.replace(boxes, strips=False)
        mean = np.vstack([rng.uniform(-0.2, 1.2, size=(60, 2)),
                          rng.uniform(3.0, 30.0, size=(5, 2)),
                          front[:3] if len(front) else np.full((1, 2), 0.5)])
        std = rng.uniform(0.0, 0.5, size=mean.shape)
        std[::5] = 0.0
        std[1::5, 0] = 1e-9
        got = ehvi_boxes(mean, std, boxes)
        want = ehvi_boxes(mean, std, general)
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-300, err_msg=name)
    # the flag: decomposed and re-indexed strips have it, other box sets do not
    front = random_front(rng, 5, 2)
    assert boxes_from_bounds(*nondominated_boxes(front, ref)).strips
    assert not boxes_from_bounds(*grid_boxes(front, ref)).strips
    assert not decompose(random_front(rng, 5, 3), np.ones(3)).strips


# ---------------------------------------------------------------------------------------
# Monte Carlo
# ---------------------------------------------------------------------------------------


N_MC = 20_000


def assert_matches_mc(
    mean: np.ndarray, std: np.ndarray, front: np.ndarray, ref: np.ndarray, seed: int, label: str
) -> None:
    rng = np.random.default_rng(seed)
    exact = ehvi(mean, std, front, ref)
    for i in range(mean.shape[0]):
        y = mean[i] + std[i] * rng.standard_normal((N_MC, mean.shape[1]))
        hvi = hvi_incl_excl(y, front, ref)
        mc, se = hvi.mean(), hvi.std() / np.sqrt(N_MC)
        # largest possible improvement of these samples (inclusion-exclusion rounds a zero
        # improvement to +-1e-17 or so, relative to it)
        bound = np.prod(np.clip(ref - y.min(axis=0), 0, None))
        hits = (hvi > 1e-12 * bound).sum()
        if hits < 100 and (std[i] > 0).all():
            # a rare improvement: the standard error says nothing, bound by the mass instead
            assert exact[i] <= 200 / N_MC * bound, f"{label} candidate {i}: rare, {exact[i]}"
            continue
        tol = 5.0 * se + 1e-9 * abs(mc) + 1e-12 * bound + 1e-300
        assert abs(exact[i] - mc) <= tol, f"{label} candidate {i}: exact {exact[i]} mc {mc} se {se}"


@pytest.mark.parametrize("m", [2, 3, 4])
def test_matches_monte_carlo(m: int) -> None:
    rng = np.random.default_rng(100 + m)
    ref = np.ones(m)
    for t, (name, front) in enumerate(degenerate_fronts(rng, m).items()):
        mean = rng.uniform(0.0, 1.0, size=(3, m))
        std = rng.uniform(0.05, 0.4, size=(3, m))
        assert_matches_mc(mean, std, front, ref, seed=t, label=f"m={m} {name}")


@pytest.mark.parametrize("m", [2, 3])
def test_monte_carlo_std_regimes_and_scales(m: int) -> None:
    rng = np.random.default_rng(200 + m)
    front = random_front(rng, 5, m)
    ref = np.ones(m)
    mean = rng.uniform(0.3, 0.9, size=(2, m))
    cases = {
        "zero": np.zeros((2, m)),
        "tiny": np.full((2, m), 1e-9),
        "mixed_zero": np.column_stack([np.zeros(2), np.full((2, m - 1), 0.2)]),
        "huge": np.full((2, m), 50.0),
        "moderate": np.full((2, m), 0.3),
    }
    for t, (name, std) in enumerate(cases.items()):
        assert_matches_mc(mean, std, front, ref, seed=t, label=f"m={m} std {name}")
    for scale in (1e6, 1e-6):
        std = np.full((2, m), 0.2)
        assert_matches_mc(
            scale * mean, scale * std, scale * front, scale * ref, seed=7, label=f"x{scale}"
        )
        # and EHVI scales as scale^m exactly in exact arithmetic
        np.testing.assert_allclose(
            ehvi(scale * mean, scale * std, scale * front, scale * ref),
            scale**m * ehvi(mean, std, front, ref),
            rtol=1e-10,
        )


# ---------------------------------------------------------------------------------------
# single box side against 60-digit arithmetic
# ---------------------------------------------------------------------------------------


def test_single_side_against_mpmath() -> None:
    rng = np.random.default_rng(5)
    for l, u, mu, s in psi_cases(rng):
        boxes = boxes_from_bounds(np.array([[l]]), np.array([[u]]))
        mean, std = np.array([[mu]]), np.array([[s]])
        exact = mp_psi(l, u, mu, s)
        lg = log_ehvi_boxes(mean, std, boxes)[0]
        label = f"l={l} u={u} mu={mu} s={s}"
        if exact > 0:
            ref_log = float(mp.log(exact))
            assert np.isfinite(lg), label
            assert abs(lg - ref_log) <= 1e-9 * max(1.0, abs(ref_log)), (label, lg, ref_log)
        lin = ehvi_boxes(mean, std, boxes)[0]
        # linear space: absolute accuracy relative to the natural scale of the term
        natural = s + (u - l if l > -np.inf else abs(u - mu))
        assert abs(lin - float(exact)) <= 1e-12 * natural + 1e-300, (label, lin, float(exact))


def test_box_terms_against_quadrature_m3() -> None:
    # one box with finite and infinite lower corners: the product of three 1-D integrals
    rng = np.random.default_rng(3)
    lower = np.array([[-np.inf, 0.1, 0.3]])
    upper = np.array([[0.4, 0.7, 0.35]])
    boxes = boxes_from_bounds(lower, upper)
    mean = rng.uniform(-0.5, 1.0, size=(5, 3))
    std = rng.uniform(0.01, 0.5, size=(5, 3))
    got = ehvi_boxes(mean, std, boxes)
    for i in range(5):
        want = 1.0
        for j in range(3):
            want *= float(mp_psi(lower[0, j], upper[0, j], mean[i, j], std[i, j]))
        assert got[i] == pytest.approx(want, rel=1e-12, abs=1e-300)


# ---------------------------------------------------------------------------------------
# gradients
# ---------------------------------------------------------------------------------------


def central_diff(f, mean: np.ndarray, std: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
    dm = np.zeros_like(mean)
    ds = np.zeros_like(std)
    for j in range(mean.shape[1]):
        e = np.zeros_like(mean)
        e[:, j] = h
        dm[:, j] = (f(mean + e, std) - f(mean - e, std)) / (2 * h)
        ds[:, j] = (f(mean, std + e) - f(mean, std - e)) / (2 * h)
    return dm, ds


@pytest.mark.parametrize("m", [2, 3, 4])
def test_gradients_finite_differences(m: int) -> None:
    rng = np.random.default_rng(300 + m)
    front = random_front(rng, 6, m)
    ref = np.ones(m)
    mean = rng.uniform(0.0, 1.1, size=(40, m))
    std = rng.uniform(0.02, 0.5, size=(40, m))
    boxes = decompose(front, ref)
    val, dm, ds = ehvi_and_grad(mean, std, front, ref)
    np.testing.assert_allclose(val, ehvi(mean, std, front, ref), rtol=1e-14)
    fdm, fds = central_diff(lambda a, b: ehvi_boxes(a, b, boxes), mean, std, 1e-6)
    np.testing.assert_allclose(dm, fdm, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ds, fds, rtol=1e-6, atol=1e-9)
    assert (dm <= 1e-15).all()  # a lower mean never hurts

    lval, ldm, lds = log_ehvi_and_grad(mean, std, front, ref)
    np.testing.assert_allclose(lval, np.log(val), atol=1e-10)
    fdm, fds = central_diff(lambda a, b: log_ehvi_boxes(a, b, boxes), mean, std, 1e-6)
    np.testing.assert_allclose(ldm, fdm, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(lds, fds, rtol=1e-5, atol=1e-7)
    # chain rule: d log EHVI = d EHVI / EHVI
    np.testing.assert_allclose(ldm, dm / val[:, None], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(lds, ds / val[:, None], rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("m", [2, 3])
def test_log_gradients_far_from_front(m: int) -> None:
    rng = np.random.default_rng(400 + m)
    front = random_front(rng, 5, m)
    ref = np.ones(m)
    boxes = decompose(front, ref)
    mean = 1.0 + rng.uniform(8.0, 12.0, size=(10, m))  # 27-120 std above everything
    std = rng.uniform(0.1, 0.3, size=(10, m))
    assert (ehvi_boxes(mean, std, boxes) == 0.0).all()
    lval, ldm, lds = log_ehvi_boxes_and_grad(mean, std, boxes)
    assert np.isfinite(lval).all()
    fdm, fds = central_diff(lambda a, b: log_ehvi_boxes(a, b, boxes), mean, std, 1e-6)
    np.testing.assert_allclose(ldm, fdm, rtol=1e-5)
    np.testing.assert_allclose(lds, fds, rtol=1e-5)


def test_single_side_gradients_all_branches() -> None:
    rng = np.random.default_rng(6)
    for l, u, mu, s in psi_cases(rng):
        if s < 1e-3 or s > 1e2:
            continue  # finite differences in s need a step small against s
        boxes = boxes_from_bounds(np.array([[l]]), np.array([[u]]))
        mean, std = np.array([[mu]]), np.array([[s]])
        lval, ldm, lds = log_ehvi_boxes_and_grad(mean, std, boxes)
        if not np.isfinite(lval[0]):
            continue
        h = 1e-6 * s
        fdm, fds = central_diff(lambda a, b, bx=boxes: log_ehvi_boxes(a, b, bx), mean, std, h)
        scale = 1.0 / s + abs(ldm[0, 0])
        label = f"l={l} u={u} mu={mu} s={s}"
        assert abs(ldm[0, 0] - fdm[0, 0]) <= 1e-5 * scale, (label, ldm, fdm)
        assert abs(lds[0, 0] - fds[0, 0]) <= 1e-5 * (scale + abs(lds[0, 0])), (label, lds, fds)


# ---------------------------------------------------------------------------------------
# log EHVI far away
# ---------------------------------------------------------------------------------------


@njit
def _log_ehvi_one_by_one_kernel(mean, std, grid, counts, lo_idx, up_idx, gc, qc):
    n, m = mean.shape
    value = np.empty(n)
    d_mean = np.zeros((n, m))
    d_std = np.zeros((n, m))
    tab = _new_tables(m, grid.shape[1])
    for i0 in range(0, n, _BLOCK):
        _tables(mean, std, i0, grid, counts, gc, qc, True, tab)
        for b in range(min(_BLOCK, n - i0)):
            _log_ehvi_one(i0 + b, b, mean, std, grid, lo_idx, up_idx, tab, True, value,
                          d_mean, d_std)
    return value, d_mean, d_std


def _log_ehvi_one_by_one(mean: np.ndarray, std: np.ndarray, boxes: Boxes) -> tuple:
    """The log kernel without its vectorised fast path: every candidate through the
    per-candidate two-pass sum (_log_ehvi_one)."""
    return _log_ehvi_one_by_one_kernel(
        mean, std, boxes.grid, boxes.counts, boxes.lower_index, boxes.upper_index, G_COEF,
        Q_SERIES,
    )


@pytest.mark.parametrize("m", [2, 3, 4])
def test_log_ehvi_fast_path_matches_the_per_candidate_sum(m: int) -> None:
    """Lanes whose set-aside boxes are all negligible take the vectorised linear sum; the
    result must be the per-candidate two-pass sum's, on candidates near, far from and on
    the front, with zero and tiny standard deviations, for every degenerate front."""
    rng = np.random.default_rng(40 + m)
    ref = np.ones(m)
    fronts = degenerate_fronts(rng, m)
    # boxes thinner than 1e-7: far in a tail their sides cancel in linear space, and the
    # lanes must leave the fast path
    base = random_front(rng, 5, m)
    fronts["near_duplicates"] = np.vstack([base, base[:3] + rng.uniform(-1e-7, 1e-7, (3, m))])
    for name, front in fronts.items():
        boxes = decompose(front, ref)
        mean = np.vstack([
            rng.uniform(-0.2, 1.2, size=(40, m)),
            ref + rng.uniform(0.2, 2.5, size=(40, m)),  # beyond the reference point
            rng.uniform(3.0, 30.0, size=(8, m)),  # far beyond it
            front[:3] if len(front) else np.full((1, m), 0.5),
        ])
        std = rng.uniform(0.0, 0.5, size=mean.shape)
        std[::7] = 0.0
        std[1::7, 0] = 1e-9
        std[2::7] = 0.0
        std[2::7, -1] = 0.3
        got = log_ehvi_boxes_and_grad(mean, std, boxes)
        want = _log_ehvi_one_by_one(mean, std, boxes)
        np.testing.assert_array_equal(np.isneginf(got[0]), np.isneginf(want[0]), name)
        fin = np.isfinite(want[0])
        assert fin.sum() > len(mean) // 2, name
        np.testing.assert_allclose(got[0][fin], want[0][fin], rtol=1e-15, atol=0, err_msg=name)
        for g, w in zip(got[1:], want[1:], strict=True):
            np.testing.assert_allclose(g[fin], w[fin], rtol=1e-12, atol=1e-300,
                                       err_msg=name)


@pytest.mark.parametrize("m", [2, 3])
def test_log_ehvi_far_away_finite_monotone_precise(m: int) -> None:
    rng = np.random.default_rng(500 + m)
    front = random_front(rng, 4, m)
    ref = np.ones(m)
    boxes = decompose(front, ref)
    std = np.full((1, m), 0.05)
    steps = np.linspace(0.0, 4.0, 81)  # up to 80 std above the reference point
    mean = 0.5 + steps[:, None] * np.ones(m)
    lg = log_ehvi_boxes(mean, np.repeat(std, len(steps), axis=0), boxes)
    lin = ehvi_boxes(mean, np.repeat(std, len(steps), axis=0), boxes)
    assert np.isfinite(lg).all()
    assert (np.diff(lg) < 0).all()
    assert (lin[-10:] == 0.0).all()  # linear EHVI underflowed, the log did not
    ok = lin > 1e-200
    np.testing.assert_allclose(lg[ok], np.log(lin[ok]), atol=1e-9)
    for t in (2, 5, 10, 20, 40, 60, 80):
        want = mp_log_ehvi(mean[t], std[0], boxes.lower, boxes.upper)
        assert lg[t] == pytest.approx(want, rel=1e-10), t


@pytest.mark.parametrize("m", [2, 3])
def test_log_ehvi_random_against_mpmath(m: int) -> None:
    # candidates from inside the front to ~100 std away, so that boxes mix sides computed
    # in linear space with sides computed by the log path
    rng = np.random.default_rng(600 + m)
    front = random_front(rng, 4, m)
    ref = np.ones(m)
    boxes = decompose(front, ref)
    n = 24
    std = 10 ** rng.uniform(-2.5, 0.5, size=(n, m))
    mean = rng.uniform(0.0, 1.0, size=(n, m)) + std * rng.uniform(-3, 100, size=(n, m))
    lg, ldm, lds = log_ehvi_boxes_and_grad(mean, std, boxes)
    assert np.isfinite(lg).all()
    for i in range(n):
        want = mp_log_ehvi(mean[i], std[i], boxes.lower, boxes.upper)
        assert lg[i] == pytest.approx(want, rel=1e-10, abs=1e-10), i
    h = 1e-7 * std
    # central differences of a value of size |lg| carry a rounding error of ~eps |lg| / h
    noise = 1e-14 * np.abs(lg)
    for j in range(m):
        e = np.zeros((n, m))
        e[:, j] = h[:, j]
        fd = (log_ehvi_boxes(mean + e, std, boxes) - log_ehvi_boxes(mean - e, std, boxes)) / (
            2 * h[:, j]
        )
        tol = 1e-5 * np.abs(fd) + 1e-6 / std[:, j] + noise / h[:, j]
        assert (np.abs(ldm[:, j] - fd) <= tol).all()
        fd = (log_ehvi_boxes(mean, std + e, boxes) - log_ehvi_boxes(mean, std - e, boxes)) / (
            2 * h[:, j]
        )
        tol = 1e-5 * np.abs(fd) + 1e-6 / std[:, j] + noise / h[:, j]
        assert (np.abs(lds[:, j] - fd) <= tol).all()


def test_log_ehvi_huge_and_tiny_std() -> None:
    rng = np.random.default_rng(8)
    front = random_front(rng, 5, 2)
    ref = np.ones(2)
    boxes = decompose(front, ref)
    for s in (1e-12, 1e-6, 1e3, 1e8):
        mean = rng.uniform(-0.5, 1.5, size=(6, 2))
        std = np.full_like(mean, s)
        lg = log_ehvi_boxes(mean, std, boxes)
        for i in range(6):
            want = mp.mpf(0)
            for k in range(len(boxes)):
                want += mp_psi(boxes.lower[k, 0], boxes.upper[k, 0], mean[i, 0], s) * mp_psi(
                    boxes.lower[k, 1], boxes.upper[k, 1], mean[i, 1], s
                )
            if want == 0:  # below exp(-5e11) (mp_h's cut-off) or exactly 0
                assert lg[i] < -1e11
            else:
                assert lg[i] == pytest.approx(float(mp.log(want)), rel=1e-9, abs=1e-9), (s, i)


# ---------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------


def test_validation_errors() -> None:
    front = np.array([[0.5, 0.5]])
    ref = np.ones(2)
    good = np.full((3, 2), 0.4)
    with pytest.raises(ValueError, match="mean"):
        ehvi(np.full((3, 3), 0.4), good[:, :3], front, ref)
    with pytest.raises(ValueError, match="mean"):
        ehvi(np.array([[np.nan, 0.1]]), np.ones((1, 2)), front, ref)
    with pytest.raises(ValueError, match="std"):
        ehvi(good, -good, front, ref)
    with pytest.raises(ValueError, match="std"):
        ehvi(good, good[:2], front, ref)
    with pytest.raises(ValueError, match="std"):
        log_ehvi(good, np.full((3, 2), np.nan), front, ref)
    with pytest.raises(ValueError, match="front"):
        ehvi(good, good, np.array([[np.nan, 0.1]]), ref)
    with pytest.raises(ValueError, match="front"):
        ehvi(good, good, np.ones((2, 3)), ref)
    with pytest.raises(ValueError, match="ref"):
        ehvi(good, good, front, np.array([1.0, np.inf]))
    with pytest.raises(TypeError, match="boxes"):
        ehvi_boxes(good, good, (np.zeros((1, 2)), np.ones((1, 2))))
    with pytest.raises(ValueError, match="mean"):
        ehvi_boxes(np.zeros((1, 3)), np.zeros((1, 3)), decompose(front, ref))


def test_empty_candidates_and_package_export() -> None:
    out = ehvi(np.empty((0, 2)), np.empty((0, 2)), np.array([[0.5, 0.5]]), np.ones(2))
    assert out.shape == (0,)
    assert mobo.log_ehvi is log_ehvi
    v, dm, ds = ehvi_boxes_and_grad(
        np.zeros((2, 2)), np.ones((2, 2)), decompose(np.empty((0, 2)), np.ones(2))
    )
    assert dm.shape == (2, 2) and ds.shape == (2, 2)
    np.testing.assert_allclose(
        v, ehvi(np.zeros((2, 2)), np.ones((2, 2)), np.empty((0, 2)), np.ones(2))
    )


def test_random_scales_invariants() -> None:
    # fronts, means and deviations over 16 orders of magnitude, duplicates and std = 0:
    # EHVI finite and >= 0, gradients finite, log EHVI = log EHVI where the latter is
    # comfortably representable, and -inf only where some deviation is 0
    rng = np.random.default_rng(123)
    for _ in range(150):
        m = int(rng.integers(1, 5))
        p = int(rng.integers(0, 8))
        scale = 10 ** rng.uniform(-8, 8)
        shift = rng.uniform(-1e3, 1e3) * scale
        front = rng.random((p, m)) * scale + shift
        if p > 1 and rng.random() < 0.3:
            front[1] = front[0]
        ref = np.full(m, shift + scale * rng.uniform(0.5, 1.2))
        mean = shift + scale * rng.uniform(-2, 4, (40, m))
        std = scale * 10 ** rng.uniform(-10, 3, (40, m))
        std[rng.random((40, m)) < 0.1] = 0.0
        boxes = decompose(front, ref)
        v, dm, ds = ehvi_boxes_and_grad(mean, std, boxes)
        lv, ldm, lds = log_ehvi_boxes_and_grad(mean, std, boxes)
        assert np.isfinite(v).all() and (v >= 0).all()
        assert np.isfinite(dm).all() and np.isfinite(ds).all()
        assert np.isfinite(ldm).all() and np.isfinite(lds).all()
        assert not np.isnan(lv).any() and not np.isposinf(lv).any()
        big = v > 1e-250 * scale**m
        np.testing.assert_allclose(lv[big], np.log(v[big]), atol=1e-8, rtol=0)
        assert not (np.isneginf(lv) & (std > 0).all(axis=1)).any()
