from __future__ import annotations

import json
import math

import mpmath
import numpy as np
import pytest
import scipy.integrate
import scipy.stats
import torch

import mobo.acquisition as acquisition
import mobo.gp
from mobo.acquisition import (
    _CONS_EPS,
    _CONS_WIDEN,
    Proposal,
    Proposer,
    _Acquisition,
    _log_prob_feasible,
    _log_prob_within,
)
from mobo.boxes import decompose
from mobo.gp import NOISE_PRIOR, NOISY_NOISE_PRIOR, fit_gp
from mobo.improvement import ehvi, log_ehvi
from mobo.space import Categorical, Float, Int, Space
from mobo.volume import hypervolume
from mobo.warping import RankWarp

SPACE2 = Space([Float("a", 0.0, 1.0), Float("b", 0.0, 1.0)])
REF2 = np.array([1.1, 1.1])


def toy(X: np.ndarray) -> np.ndarray:
    """Two conflicting objectives on [0,1]^2 with a convex front along b = 0.2."""
    a, b = X[:, 0], X[:, 1]
    g = 1.0 + 4.0 * (b - 0.2) ** 2
    return np.stack([a * g, (1.0 - np.sqrt(a)) * g], axis=1) / 1.0


def initial(n: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    X = SPACE2.sobol(n, seed=seed)
    return X, toy(X)


def test_proposal_fields_and_json_state():
    X, Y = initial()
    p = Proposer(SPACE2).propose(X, Y, REF2, rng=np.random.default_rng(0))
    assert isinstance(p, Proposal)
    assert p.x.shape == (2,) and np.all((p.x >= 0) & (p.x <= 1))
    assert p.acq_value > 0 and np.isclose(np.log(p.acq_value), p.log_acq_value)
    assert set(p.timings) == {"fit", "acquisition"} and all(v >= 0 for v in p.timings.values())
    state = json.loads(json.dumps(p.model_state))
    assert np.array(state["lengthscales"]).shape == (2, 2)
    # the EHVI of the proposal beats every Sobol candidate's EHVI
    gp = fit_gp(X, Y, p.model_state)
    acq = _Acquisition([gp], [decompose(Y, REF2)], None)
    assert p.log_acq_value >= acq.score(SPACE2.sobol(512, seed=9)).max() - 1e-9


def test_determinism():
    X, Y = initial()
    pend = np.array([[0.3, 0.3]])
    fail = np.array([[0.9, 0.9]])
    a = Proposer(SPACE2).propose(X, Y, REF2, rng=np.random.default_rng([7, 3]),
                                 X_pending=pend, X_failed=fail)
    b = Proposer(SPACE2).propose(X, Y, REF2, rng=np.random.default_rng([7, 3]),
                                 X_pending=pend, X_failed=fail)
    np.testing.assert_array_equal(a.x, b.x)
    assert a.log_acq_value == b.log_acq_value
    assert a.model_state == b.model_state


def _fd_check(acq: _Acquisition, X: np.ndarray) -> None:
    v, g = acq.score_and_grad(X)
    np.testing.assert_allclose(v, acq.score(X), rtol=1e-10)
    eps = 1e-6
    fd = np.zeros_like(X)
    for j in range(X.shape[1]):
        e = np.zeros(X.shape[1])
        e[j] = eps
        fd[:, j] = (acq.score(X + e) - acq.score(X - e)) / (2 * eps)
    np.testing.assert_allclose(g, fd, rtol=1e-4, atol=1e-5)


def test_acquisition_gradient_matches_finite_differences():
    X, Y = initial(12)
    gp = fit_gp(X, Y)
    Xq = np.random.default_rng(1).uniform(0.1, 0.9, size=(6, 2))
    _fd_check(_Acquisition([gp], [decompose(Y, REF2)], None), Xq)
    # with a feasibility model and several front samples (noisy mode)
    feas = fit_gp(np.vstack([X, [[0.1, 0.9], [0.2, 0.8]]]), np.r_[np.ones(12), -1, -1][:, None])
    samples = gp.sample_joint(X, 3, np.random.default_rng(2))
    _fd_check(_Acquisition([gp.given_latent(X, s) for s in samples],
                           [decompose(s, REF2) for s in samples], feas), Xq)


def test_acquisition_gradient_three_objectives():
    rng = np.random.default_rng(3)
    X = rng.random((15, 3))
    Y = np.stack([X[:, 0], X[:, 1], 2 - X[:, 0] - X[:, 1] + X[:, 2] ** 2], 1)
    gp = fit_gp(X, Y)
    acq = _Acquisition([gp], [decompose(Y, Y.max(0) + 0.2)], None)
    _fd_check(acq, rng.uniform(0.1, 0.9, size=(4, 3)))


def test_pending_points_give_distinct_spread_proposals():
    X, Y = initial()
    prop = Proposer(SPACE2)
    pending = np.zeros((0, 2))
    for i in range(5):
        p = prop.propose(X, Y, REF2, rng=np.random.default_rng(i), X_pending=pending)
        pending = np.vstack([pending, p.x])
    D = np.max(np.abs(pending[:, None] - pending[None]), axis=-1) + np.eye(5)
    assert D.min() > 0.02, pending
    assert np.min(np.max(np.abs(pending[:, None] - X[None]), axis=-1)) > 1e-6


def test_failed_region_is_avoided():
    # observed points only in a >= 0.4; the gap a < 0.4 of the front is where EHVI is large
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.uniform(0.4, 1.0, 12), rng.uniform(0.0, 1.0, 12)])
    Y = toy(X)
    # the failed region a <= 0.24, marked by a grid of failed trials
    X_failed = np.array([[a, b] for a in (0.0, 0.08, 0.16, 0.24) for b in np.linspace(0, 1, 5)])
    prop = Proposer(SPACE2)

    def run(failed):
        pending = np.zeros((0, 2))
        for i in range(4):
            p = prop.propose(X, Y, REF2, rng=np.random.default_rng(i), X_pending=pending,
                             X_failed=failed)
            pending = np.vstack([pending, p.x])
        return pending

    without = run(None)
    assert (without[:, 0] < 0.24).any()  # the test has teeth: the gap attracts proposals
    with_failed = run(X_failed)
    assert (with_failed[:, 0] > 0.26).all(), with_failed
    p = prop.propose(X, Y, REF2, rng=np.random.default_rng(0), X_failed=X_failed)
    assert "feasibility" in p.model_state


def test_never_repeats_in_a_small_discrete_space():
    space = Space([Int("k", 0, 2), Categorical("c", ["x", "y"])])
    allp = [{"k": k, "c": c} for k in range(3) for c in ("x", "y")]
    done = allp[:4]
    X = space.encode_many(done)
    Y = np.array([[k + (c == "y"), 3 - k] for k, c in ((d["k"], d["c"]) for d in done)], float)
    prop = Proposer(space)
    p = prop.propose(X, Y, np.array([5.0, 5.0]), rng=np.random.default_rng(0),
                     X_pending=space.encode_many([allp[4]]))
    assert space.decode(p.x) == allp[5]
    # everything taken: still returns a feasible point instead of failing
    q = prop.propose(space.encode_many(allp), np.ones((6, 2)), np.array([5.0, 5.0]),
                     rng=np.random.default_rng(0))
    np.testing.assert_array_equal(space.round(q.x), q.x)


def test_mixed_space_proposals_are_feasible_new_and_reproducible():
    space = Space([Float("lr", 1e-4, 1e-1, log=True), Int("layers", 1, 8),
                   Categorical("act", ["relu", "gelu", "tanh"])])
    X0 = space.sobol(8, seed=1)
    act = {"relu": 0.0, "gelu": -0.3, "tanh": 0.2}

    def f(p):
        lr = np.log10(p["lr"])
        return [(lr + 2.5) ** 2 + act[p["act"]] + 0.1 * p["layers"], 1.0 / p["layers"]]

    def loop(seeds: list[int]) -> np.ndarray:
        X = X0
        Y = np.array([f(space.decode(x)) for x in X])
        prop = Proposer(space)
        for i in seeds:
            p = prop.propose(X, Y, np.array([5.0, 1.5]), rng=np.random.default_rng(i))
            np.testing.assert_array_equal(space.round(p.x), p.x)
            assert np.min(np.max(np.abs(X - p.x), axis=1)) > 0
            X = np.vstack([X, p.x])
            Y = np.vstack([Y, f(space.decode(p.x))])
        return X[len(X0):]

    first = loop([0, 1, 2, 3])
    # the rng is the only source of randomness: the same seeds give the same proposals,
    # other seeds (other Sobol scrambles and local perturbations) other ones
    np.testing.assert_array_equal(loop([0, 1, 2, 3]), first)
    assert not np.array_equal(loop([10, 11, 12, 13]), first)


def _noisy_ehvi_reference(gp, X: np.ndarray, samples: np.ndarray, ref: np.ndarray,
                          Xq: np.ndarray) -> np.ndarray:
    """(q,) noisy EHVI at ``Xq``: the EHVI over each sampled front of the GP given that
    sample, averaged over the samples (one sample at a time, plain ``ehvi`` on the raw
    front, no shared factorisation or box decomposition)."""
    total = np.zeros(len(Xq))
    for s in samples:
        mean, std = gp.given_latent(X, s).posterior(Xq)
        total += ehvi(mean, std, s, ref)
    return total / len(samples)


def test_noisy_three_objective_proposal_has_the_noisy_ehvi_it_claims():
    rng = np.random.default_rng(4)
    X = rng.random((12, 3))
    Y = np.stack([X[:, 0], X[:, 1], 2 - X[:, 0] - X[:, 1]], 1) + 0.05 * rng.standard_normal((12, 3))
    space = Space([Float(f"x{i}", 0, 1) for i in range(3)])
    ref = np.array([1.5, 1.5, 2.5])
    p = Proposer(space, noisy=True, n_front_samples=4).propose(
        X, Y, ref, rng=np.random.default_rng(0))
    assert p.x.shape == (3,) and np.isfinite(p.log_acq_value)
    # the same fit and, as the rng's first draws, the same joint samples of the front
    gp = fit_gp(X, Y, noise_prior=NOISY_NOISE_PRIOR)
    samples = gp.sample_joint(X, 4, np.random.default_rng(0))
    want = _noisy_ehvi_reference(gp, X, samples, ref, p.x[None])[0]
    assert math.log(want) == pytest.approx(p.log_acq_value, rel=1e-8, abs=1e-10)
    # a Monte Carlo estimate from hypervolumes alone (no EHVI kernel): draws of the
    # candidate's outputs from each sample's conditional posterior, improvement by
    # hypervolume differences
    draws = np.random.default_rng(1)
    hvi = []
    for s in samples:
        mean, std = gp.given_latent(X, s).posterior(p.x[None])
        base = hypervolume(s, ref)
        for y in mean + std * draws.standard_normal((1500, 3)):
            hvi.append(hypervolume(np.vstack([s, y]), ref) - base)
    hvi = np.array(hvi)
    se = hvi.std() / math.sqrt(len(hvi))
    assert abs(hvi.mean() - p.acq_value) <= 4 * se, (hvi.mean(), p.acq_value, se)
    # and no point of a Sobol set scores higher than the proposal
    cands = space.sobol(256, seed=5)
    assert p.log_acq_value >= np.log(_noisy_ehvi_reference(gp, X, samples, ref, cands).max()) \
        - 1e-9


def test_sample_front_is_the_noisy_ehvi_under_the_narrow_prior_and_off_is_the_plain_one():
    """``sample_front`` decides the front's treatment, ``noisy`` the noise prior: a sampled
    front with the narrow prior has the noisy EHVI of that fit at its proposal, and noisy
    mode without a sampled front has the plain EHVI over the observed front of the wide fit."""
    rng = np.random.default_rng(4)
    X = rng.random((12, 2))
    Y = toy(X)  # deterministic outputs
    ref = REF2
    p = Proposer(SPACE2, sample_front=True, n_front_samples=4).propose(
        X, Y, ref, rng=np.random.default_rng(0))
    gp = fit_gp(X, Y, noise_prior=NOISE_PRIOR)
    samples = gp.sample_joint(X, 4, np.random.default_rng(0))
    want = _noisy_ehvi_reference(gp, X, samples, ref, p.x[None])[0]
    assert math.log(want) == pytest.approx(p.log_acq_value, rel=1e-8, abs=1e-10)
    # the default (noisy off) fits the same GP but scores the observed front: another value
    plain = Proposer(SPACE2).propose(X, Y, ref, rng=np.random.default_rng(0))
    assert plain.model_state == p.model_state
    mean, std = gp.posterior(p.x[None])
    assert not math.isclose(math.log(ehvi(mean, std, Y, ref)[0]), p.log_acq_value,
                            rel_tol=1e-6)
    # noisy mode with the front left unsampled: the wide prior's fit, EHVI over observed Y
    q = Proposer(SPACE2, noisy=True, sample_front=False).propose(
        X, Y, ref, rng=np.random.default_rng(0))
    wide = fit_gp(X, Y, noise_prior=NOISY_NOISE_PRIOR)
    mean, std = wide.posterior(q.x[None])
    assert math.log(ehvi(mean, std, Y, ref)[0]) == pytest.approx(q.log_acq_value, rel=1e-8,
                                                                  abs=1e-10)


def test_the_plug_in_front_is_the_ehvi_given_the_posterior_mean():
    """``plug_in_front``: one front, the latent values at their posterior mean, and the
    candidate's predictive given them; the proposal claims that EHVI, and a candidate at
    an observed input gains nothing over the point there."""
    rng = np.random.default_rng(4)
    X = rng.random((12, 2))
    Y = toy(X)
    p = Proposer(SPACE2, sample_front=True, plug_in_front=True).propose(
        X, Y, REF2, rng=np.random.default_rng(0))
    gp = fit_gp(X, Y, noise_prior=NOISE_PRIOR)
    mean, std = gp.posterior(X)
    want = _noisy_ehvi_reference(gp, X, mean[None], REF2, p.x[None])[0]
    assert math.log(want) == pytest.approx(p.log_acq_value, rel=1e-8, abs=1e-10)
    # at every observed input the candidate is tied to the front's value there, where the
    # plain EHVI keeps a chance of the order of the fitted noise
    score = _noisy_ehvi_reference(gp, X, mean[None], REF2, X)
    assert np.all(score < 0.05 * ehvi(mean, std, Y, REF2) + 1e-12)
    # without a sampled front the option changes nothing
    a = Proposer(SPACE2, plug_in_front=True).propose(X, Y, REF2, rng=np.random.default_rng(0))
    b = Proposer(SPACE2).propose(X, Y, REF2, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(a.x, b.x)
    assert a.log_acq_value == b.log_acq_value


def test_a_sampled_front_gives_no_improvement_next_to_a_front_point():
    """Why the front is sampled even without noise: next to an observed front point the
    plain EHVI keeps a chance of beating that point (the GP's sd there is of the order of
    its fitted noise, times the whole strip up to the reference point), while the candidate
    given a sample of the latent values is tied to that point's sampled value."""
    rng = np.random.default_rng(4)
    X = rng.random((12, 2))
    Y = toy(X)
    gp = fit_gp(X, Y, noise_prior=NOISE_PRIOR)
    front = Y[[i for i in range(len(Y)) if not np.any(np.all(Y <= Y[i], 1)
                                                      & np.any(Y < Y[i], 1))]]
    i = int(np.argmin(Y[:, 0] + Y[:, 1]))
    assert any(np.array_equal(Y[i], f) for f in front)
    xq = X[i][None] + 1e-4
    mean, std = gp.posterior(xq)
    plain = ehvi(mean, std, Y, REF2)[0]
    samples = gp.sample_joint(X, 64, np.random.default_rng(0))
    sampled = _noisy_ehvi_reference(gp, X, samples, REF2, xq)[0]
    assert plain > 0 and sampled < 0.05 * plain, (plain, sampled)


def _expected_shortfall(c: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """E[(c - Y)^+] for Y ~ N(mean, std^2): std (z Phi(z) + phi(z)), z = (c - mean) / std."""
    z = (c - mean) / std
    return std * (z * scipy.stats.norm.cdf(z) + scipy.stats.norm.pdf(z))


def test_single_observation_and_empty_front():
    X = np.array([[0.5, 0.5]])
    Y = np.array([[2.0, 2.0]])  # worse than the reference point: the front is empty
    p = Proposer(SPACE2).propose(X, Y, REF2, rng=np.random.default_rng(0))
    assert p.x.shape == (2,) and np.isfinite(p.log_acq_value)
    assert not np.allclose(p.x, X[0])
    # over an empty front the improvement is the whole box from the outcome to the
    # reference point: EHVI = prod_j E[(ref_j - Y_j)^+] for independent objectives
    gp = fit_gp(X, Y)
    mean, std = gp.posterior(p.x[None])
    want = np.prod(_expected_shortfall(REF2, mean[0], std[0]))
    assert p.acq_value == pytest.approx(want, rel=1e-9)
    assert p.log_acq_value == pytest.approx(math.log(want), rel=1e-9, abs=1e-12)
    # and the proposal is as good as the best of a Sobol set under that closed form
    cands = SPACE2.sobol(256, seed=3)
    mean, std = gp.posterior(cands)
    assert want >= np.prod(_expected_shortfall(REF2, mean, std), axis=1).max() * (1 - 1e-9)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"X": np.zeros((0, 2))}, "X: needs at least one row"),
        ({"X": np.zeros((3, 3))}, "X: expected shape"),
        ({"Y": np.zeros((4, 2))}, "Y: expected shape"),
        ({"Y": np.full((3, 2), np.nan)}, "Y: must be finite"),
        ({"ref": np.zeros(3)}, "ref: expected 2 finite values"),
        ({"X_pending": np.zeros((1, 5))}, "X_pending: expected shape"),
        ({"X_failed": np.full((1, 2), np.inf)}, "X_failed: must be finite"),
        ({"rng": 3}, "rng: expected a numpy Generator"),
    ],
)
def test_input_validation(kwargs, match):
    args = {"X": np.random.default_rng(0).random((3, 2)), "Y": np.ones((3, 2)),
            "ref": REF2, "rng": np.random.default_rng(0)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        Proposer(SPACE2).propose(args.pop("X"), args.pop("Y"), args.pop("ref"), **args)


def test_tuning_validation():
    with pytest.raises(ValueError, match="n_candidates"):
        Proposer(SPACE2, n_candidates=0)
    with pytest.raises(ValueError, match="space"):
        Proposer("not a space")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sample_front: expected a bool or None"):
        Proposer(SPACE2, sample_front="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="plug_in_front: expected a bool"):
        Proposer(SPACE2, plug_in_front=None)  # type: ignore[arg-type]


def test_short_loop_beats_sobol():
    budget, n0 = 25, 10
    bo_hv, sobol_hv = [], []
    for seed in range(2):
        X, Y = initial(n0, seed=seed)
        prop = Proposer(SPACE2, n_candidates=512)
        state = None
        for i in range(budget - n0):
            p = prop.propose(X, Y, REF2, rng=np.random.default_rng([seed, i]), warm_start=state)
            state = p.model_state
            X = np.vstack([X, p.x])
            Y = np.vstack([Y, toy(p.x[None])])
        bo_hv.append(hypervolume(Y, REF2))
        Xs = SPACE2.sobol(budget, seed=100 + seed)
        sobol_hv.append(hypervolume(toy(Xs), REF2))
    assert min(bo_hv) > max(sobol_hv), (bo_hv, sobol_hv)


# ---------------------------------------------------------------------------- constraints


def _log_prob_within_reference(mu: float, sd: float, lo: float, hi: float) -> float:
    """log(Phi(b) - Phi(a)) in 50-digit arithmetic."""
    with mpmath.workdps(50):
        a = (mpmath.mpf(lo) - mu) / sd if np.isfinite(lo) else mpmath.ninf
        b = (mpmath.mpf(hi) - mu) / sd if np.isfinite(hi) else mpmath.inf
        # upper tails when the interval lies above the mean: 50 digits would not hold
        # 1 - 1e-200 otherwise (mpmath's exponent range holds the tails themselves)
        if a > 0:
            return float(mpmath.log(mpmath.ncdf(-a) - mpmath.ncdf(-b)))
        return float(mpmath.log(mpmath.ncdf(b) - mpmath.ncdf(a)))


def test_log_prob_within_against_mpmath_random_and_tails():
    rng = np.random.default_rng(0)
    cases = []
    for _ in range(200):
        mu, sd = rng.normal(0, 5), float(np.exp(rng.uniform(-3, 2)))
        lo, hi = np.sort(rng.normal(0, 5, 2))
        kind = rng.integers(3)
        cases.append((mu, sd, -np.inf if kind == 1 else lo, np.inf if kind == 2 else hi))
    # deep tails on either side, a thin interval far from the mean, a huge sd
    cases += [(0.0, 1.0, -np.inf, -30.0), (0.0, 1.0, 30.0, np.inf), (0.0, 1.0, 20.0, 20.5),
              (0.0, 1.0, -20.5, -20.0), (5.0, 1e-3, -np.inf, 4.9), (0.0, 1e6, -1.0, 1.0),
              (0.0, 1.0, -1e-9, 1e-9)]
    # the last case, an interval a billionth of a standard deviation wide, is formed as a
    # difference of two logs of about -0.69 and keeps only ~9 digits
    rtol = np.full(len(cases), 1e-9)
    rtol[-1] = 1e-6
    mu = torch.tensor([c[0] for c in cases], dtype=torch.float64)
    sd = torch.tensor([c[1] for c in cases], dtype=torch.float64)
    lo = torch.tensor([c[2] for c in cases], dtype=torch.float64)
    hi = torch.tensor([c[3] for c in cases], dtype=torch.float64)
    got = _log_prob_within(mu, sd, lo, hi).numpy()
    want = np.array([_log_prob_within_reference(*c) for c in cases])
    assert np.all(np.isfinite(got))
    assert np.all(np.abs(got - want) <= rtol * np.abs(want) + 1e-12), np.max(
        np.abs(got - want) / (np.abs(want) + 1e-300))


def test_log_prob_within_gradients_are_finite_and_match_finite_differences():
    lo = torch.tensor([-np.inf, 0.5, -1.0, 3.0], dtype=torch.float64)
    hi = torch.tensor([0.0, np.inf, 1.0, 3.5], dtype=torch.float64)
    mu = torch.tensor([0.3, -0.2, 4.0, 0.0], dtype=torch.float64, requires_grad=True)
    sd = torch.tensor([0.5, 2.0, 1.0, 0.7], dtype=torch.float64)
    (g,) = torch.autograd.grad(_log_prob_within(mu, sd, lo, hi).sum(), mu)
    assert torch.isfinite(g).all()
    h = 1e-6
    with torch.no_grad():
        fd = (_log_prob_within(mu + h, sd, lo, hi) - _log_prob_within(mu - h, sd, lo, hi)) / (2 * h)
    np.testing.assert_allclose(g.numpy(), fd.numpy(), rtol=1e-5, atol=1e-8)


def test_log_prob_feasible_is_the_contaminated_normal_against_mpmath():
    """(1 - eps) N(mu, sd^2) + eps N(mu, (widen sd)^2), evaluated in 50 digits: deep in
    the infeasible tail the wide component keeps a probability the narrow one has lost."""
    rng = np.random.default_rng(1)
    cases = [(rng.normal(0, 3), float(np.exp(rng.uniform(-4, 1))), -np.inf,
              float(rng.normal(0, 3))) for _ in range(100)]
    cases += [(0.38, 0.04, -np.inf, 0.0), (5.0, 1e-3, -np.inf, 4.0), (0.0, 1.0, 2.0, 2.5),
              (0.0, 1.0, -np.inf, 50.0), (-3.0, 0.1, 0.0, np.inf)]
    want = []
    for mu, sd, lo, hi in cases:
        narrow = mpmath.exp(mpmath.mpf(_log_prob_within_reference(mu, sd, lo, hi)))
        wide = mpmath.exp(mpmath.mpf(_log_prob_within_reference(mu, _CONS_WIDEN * sd, lo,
                                                                  hi)))
        want.append(float(mpmath.log((1 - _CONS_EPS) * narrow + _CONS_EPS * wide)))
    t = [torch.tensor([c[i] for c in cases], dtype=torch.float64) for i in range(4)]
    got = _log_prob_feasible(*t).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    # the GP's confident extrapolation (z = -9.5) keeps a chance of a few in a thousand
    assert math.exp(got[100]) > 1e-3
    assert _log_prob_within(*[x[100:101] for x in t]).item() < -40
    # but nothing survives where observations pin the constraint down (z = -1000)
    assert got[101] < -1e3


def test_constraints_shape_the_front_and_the_proposal():
    """With a constraint a <= 0.4 the front ignores infeasible points, and the proposal
    lands where the constraint GP believes the constraint holds."""
    X, Y = initial(16)
    C = X[:, :1].copy()  # the constraint metric is a itself
    bounds = np.array([[-np.inf, 0.4]])
    p = Proposer(SPACE2).propose(X, Y, REF2, rng=np.random.default_rng(0), C=C,
                                 C_bounds=bounds)
    assert p.x[0] <= 0.45
    assert "constraints" in p.model_state
    unconstrained = Proposer(SPACE2).propose(X, Y, REF2, rng=np.random.default_rng(0))
    assert "constraints" not in unconstrained.model_state


@pytest.mark.parametrize(
    "kwargs, needle",
    [
        ({"C": np.zeros((16, 1))}, "give both"),
        ({"C": np.zeros((16, 1)), "C_bounds": np.array([[1.0, 0.0]])}, "below its upper"),
        ({"C": np.zeros((16, 2)), "C_bounds": np.array([[0.0, 1.0]])}, "shape"),
        ({"C": np.zeros((3, 1)), "C_bounds": np.array([[0.0, 1.0]])}, "16 rows"),
        ({"C": np.full((16, 1), np.nan), "C_bounds": np.array([[0.0, 1.0]])}, "finite"),
    ],
)
def test_constraint_arguments_are_checked(kwargs: dict, needle: str):
    X, Y = initial(16)
    with pytest.raises(ValueError, match=needle):
        Proposer(SPACE2).propose(X, Y, REF2, rng=np.random.default_rng(0), **kwargs)


# ---------------------------------------------------------------- known objectives, warps

def _hvi_2d(a: np.ndarray, b: float, front: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Hypervolume improvement of the points (a_i, b) over ``front`` (m = 2), vectorised:
    the area between b and the front's staircase, from a to the reference point."""
    xs = np.unique(np.r_[front[:, 0][front[:, 0] < ref[0]], ref[0]])
    height = np.array([min([ref[1]] + [f[1] for f in front if f[0] <= x]) for x in xs[:-1]])
    left, right = xs[:-1], xs[1:]
    width = np.clip(right[None, :] - np.maximum(left[None, :], a[:, None]), 0.0, None)
    # left of the first front point only the reference bounds the region
    first = np.clip(xs[0] - a, 0.0, None) * max(ref[1] - b, 0.0)
    return first + (width * np.clip(height - b, 0.0, None)[None, :]).sum(1)


def test_ehvi_with_a_known_objective_is_the_one_dimensional_integral():
    """A zero predictive sd is a point mass: EHVI is then an integral over the other
    objective alone, checked by quadrature and by a large Monte Carlo sample."""
    front = np.array([[0.1, 0.9], [0.3, 0.5], [0.6, 0.3], [0.8, 0.1]])
    ref = np.array([1.0, 1.0])
    for mu, sd, known in [(0.45, 0.2, 0.4), (0.9, 0.05, 0.2), (0.2, 0.5, 0.95),
                          (1.6, 0.1, 0.35)]:
        mean, std = np.array([[mu, known]]), np.array([[sd, 0.0]])
        got = ehvi(mean, std, front, ref)[0]

        def integrand(a: float, mu: float = mu, sd: float = sd, known: float = known) -> float:
            pdf = math.exp(-0.5 * ((a - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
            return float(_hvi_2d(np.array([a]), known, front, ref)[0]) * pdf

        quad, _ = scipy.integrate.quad(integrand, mu - 12 * sd, mu + 12 * sd,
                                       points=[0.1, 0.3, 0.6, 0.8, 1.0], limit=200,
                                       epsabs=1e-14, epsrel=1e-11)
        assert got == pytest.approx(quad, rel=1e-7, abs=1e-13)
        if got > 0:
            assert math.exp(log_ehvi(mean, std, front, ref)[0]) == pytest.approx(got, rel=1e-10)
        samples = _hvi_2d(np.random.default_rng(0).normal(mu, sd, 200_000), known, front, ref)
        se = samples.std() / math.sqrt(len(samples))
        assert abs(got - samples.mean()) <= 4 * se + 1e-15


def _layers_problem(n: int = 12) -> tuple[Space, np.ndarray, np.ndarray, np.ndarray]:
    """An error that falls with depth k and a size that is k itself (known in closed form)."""
    space = Space([Float("x", 0.0, 1.0), Int("k", 1, 8)])
    X = space.sobol(n, seed=1)
    P = [space.decode(x) for x in X]
    Y = np.array([[(1 - p["x"]) ** 2 * 8 / p["k"] + 0.1 * math.sin(7 * p["x"]),
                   float(p["k"])] for p in P])
    return space, X, Y, Y.max(0) + 0.5


def _size(p: dict) -> float:
    return float(p["k"])


def _spy_fits(monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    seen: list[np.ndarray] = []
    real = acquisition.fit_gp

    def spy(X: np.ndarray, Y: np.ndarray, *args, **kwargs):
        seen.append(np.array(Y))
        return real(X, Y, *args, **kwargs)

    monkeypatch.setattr(acquisition, "fit_gp", spy)
    return seen


def test_a_known_objective_is_not_modelled_and_changes_the_proposal(monkeypatch):
    space, X, Y, ref = _layers_problem()
    seen = _spy_fits(monkeypatch)
    calls: list[dict] = []

    def size(p: dict) -> float:
        calls.append(p)
        return float(p["k"])

    known = Proposer(space, known={1: size})
    xs_known = [known.propose(X, Y, ref, rng=np.random.default_rng(s)).x for s in range(3)]
    assert [f.shape[1] for f in seen] == [1, 1, 1]  # the GP never sees the size
    for f in seen:
        np.testing.assert_array_equal(f[:, 0], Y[:, 0])
    # evaluated at the candidates, each distinct point once (cached by the rounded point)
    assert calls and len({tuple(sorted(c.items())) for c in calls}) == len(calls)
    seen.clear()
    plain = Proposer(space)
    xs_plain = [plain.propose(X, Y, ref, rng=np.random.default_rng(s)).x for s in range(3)]
    assert [f.shape[1] for f in seen] == [2, 2, 2]
    assert any(not np.array_equal(a, b) for a, b in zip(xs_known, xs_plain, strict=True))
    # deterministic, and the cache does not change what is proposed
    again = Proposer(space, known={1: _size})
    np.testing.assert_array_equal(again.propose(X, Y, ref, rng=np.random.default_rng(0)).x,
                                  xs_known[0])


def _spy_fronts(monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    fronts: list[np.ndarray] = []
    real = acquisition.decompose

    def spy(front: np.ndarray, ref: np.ndarray):
        fronts.append(np.array(front))
        return real(front, ref)

    monkeypatch.setattr(acquisition, "decompose", spy)
    return fronts


@pytest.mark.parametrize("noisy", [False, True])
def test_known_values_in_fantasies_and_noisy_front_samples(monkeypatch, noisy: bool):
    space, X, Y, ref = _layers_problem()
    pending = space.round(np.array([[0.9, 0.99], [0.2, 0.5]]))
    fronts = _spy_fronts(monkeypatch)
    p = Proposer(space, noisy=noisy, n_front_samples=6, known={1: _size})
    p.propose(X, Y, ref, rng=np.random.default_rng(0), X_pending=pending)
    assert len(fronts) == (6 if noisy else 1)
    at_pending = [_size(space.decode(x)) for x in pending]
    for front in fronts:
        # the observed points, then the pending ones, all with their exact known values
        np.testing.assert_array_equal(front[:, 1], np.r_[Y[:, 1], at_pending])
    if noisy:  # the modelled objective is sampled, so the fronts differ there only
        assert len({f[:, 0].tobytes() for f in fronts}) > 1


@pytest.mark.parametrize("warp", ["rank", "yeo-johnson"])
def test_warp_runs_is_deterministic_and_changes_the_proposal(monkeypatch, warp: str):
    X, Y = initial(12)
    plain = Proposer(SPACE2).propose(X, Y, REF2, rng=np.random.default_rng(0))
    a = Proposer(SPACE2, warp=warp).propose(X, Y, REF2, rng=np.random.default_rng(0))
    b = Proposer(SPACE2, warp=warp).propose(X, Y, REF2, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(a.x, b.x)
    assert a.log_acq_value == b.log_acq_value
    assert not np.array_equal(a.x, plain.x)
    for noisy in (False, True):  # with pending points and in noisy mode too
        Proposer(SPACE2, warp=warp, noisy=noisy, n_front_samples=4).propose(
            X, Y, REF2, rng=np.random.default_rng(1), X_pending=X[:1] * 0.5 + 0.2)


def test_a_known_objective_is_never_warped(monkeypatch):
    space, X, Y, ref = _layers_problem()
    seen = _spy_fits(monkeypatch)
    fronts = _spy_fronts(monkeypatch)
    Proposer(space, known={1: _size}, warp="rank").propose(X, Y, ref,
                                                           rng=np.random.default_rng(0))
    np.testing.assert_array_equal(seen[0][:, 0], RankWarp(Y[:, 0])(Y[:, 0]))
    assert np.isin(fronts[0][:, 1], Y[:, 1]).all()  # the size stays in its own units
    assert np.isin(fronts[0][:, 0], RankWarp(Y[:, 0])(Y[:, 0])).all()


def test_known_and_warp_arguments_are_checked():
    space, X, Y, ref = _layers_problem()
    with pytest.raises(ValueError, match="callable"):
        Proposer(space, known={1: 3.0})
    with pytest.raises(ValueError, match="warp"):
        Proposer(space, warp="log")
    with pytest.raises(ValueError, match="to model"):
        Proposer(space, known={0: _size, 1: _size}).propose(X, Y, ref,
                                                             rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="not finite"):
        Proposer(space, known={1: lambda p: math.nan}).propose(
            X, Y, ref, rng=np.random.default_rng(0))


def test_the_screen_shrinks_with_the_fit_subsets_share_past_its_size(monkeypatch):
    space = Space([Float("x", 0.0, 1.0), Float("y", 0.0, 1.0)])
    prop = Proposer(space, n_candidates=2000)
    size = mobo.gp.FIT_SUBSET
    assert [prop._screened(n) for n in (1, size)] == [2000, 2000]
    # candidates x n held at its value at the subset's size, rounded up
    assert prop._screened(2 * size) == 1000
    assert prop._screened(size + 1) == math.ceil(2000 * size / (size + 1))
    assert prop._screened(100 * size) == 500  # at least a quarter
    assert Proposer(space, n_candidates=2)._screened(100 * size) == 1
    # the Sobol part of the candidates has that many points
    rng = np.random.default_rng(0)
    X, Y = rng.random((5, 2)), rng.random((5, 2))
    assert len(prop._candidates(X, Y, rng, 100)) == 100 + prop.n_local * len(
        X[acquisition.is_nondominated(Y)])
    # the benchmark's switch (mobo.gp.FIT_SUBSET raised) turns it off
    monkeypatch.setattr(mobo.gp, "FIT_SUBSET", 10 * size)
    assert prop._screened(2 * size) == 2000
