"""The threshold model of :mod:`mobo.acquisition`: a classifier of "beats every threshold"
times the EHVI of a GP fitted to the trials that beat them, its fallback to the plain
behaviour, its use by :class:`mobo.Study` and its record in the journal."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.special import log_ndtr

from mobo.acquisition import _FEAS_MIN_LENGTHSCALE, _FEAS_TAU2, Proposer
from mobo.gp import fit_gp
from mobo.improvement import log_ehvi
from mobo.space import Float, Space
from mobo.study import Study
from mobo.trial import Objective

SPACE2 = Space([Float("a", 0.0, 1.0), Float("b", 0.0, 1.0)])
REF = np.array([0.0, 1.0])
# small and fast: the tests compare proposals, not their quality
FAST = {"n_candidates": 256, "n_local": 8, "n_starts": 2, "max_iter": 10}


def plateau(X: np.ndarray) -> np.ndarray:
    """Two objectives (minimised) on [0,1]^2 whose first has a threshold of 0: for a < 0.7
    it sits exactly at the threshold (a plateau; far worse, a cliff, for a < 0.4), beyond
    it the trials "learn" and beat the threshold by an amount that varies with b. The
    second objective, b, always beats its threshold of 1."""
    a, b = X[:, 0], X[:, 1]
    learn = -(a - 0.7) * (1.0 + np.sin(6.0 * b)) - 0.05 * (a - 0.7)
    first = np.where(a >= 0.7, learn, np.where(a < 0.4, 100.0 * (0.4 - a), 0.0))
    return np.stack([first, b], axis=1)


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    X = np.random.default_rng(seed).random((n, 2))
    return X, plateau(X)


def test_acquisition_is_classifier_probability_times_ehvi_of_the_gp_above() -> None:
    X, Y = _data(14, 0)
    above = np.all(Y < REF, axis=1)
    assert 2 <= above.sum() < len(X)
    proposal = Proposer(SPACE2, threshold_model=True, **FAST).propose(
        X, Y, REF, rng=np.random.default_rng(1))
    # recomputed independently: the same fits, no warm start
    labels = np.where(above, 1.0, -1.0)[:, None]
    classifier = fit_gp(X, labels, min_lengthscale=_FEAS_MIN_LENGTHSCALE)
    gp = fit_gp(X[above], Y[above])
    x = proposal.x[None]
    mu, sd = classifier.posterior(x)
    mean, std = gp.posterior(x)
    # the front is every observation: those not beating the reference never enter it
    expected = float(log_ndtr(mu[0, 0] / math.sqrt(sd[0, 0] ** 2 + _FEAS_TAU2))
                     + log_ehvi(mean, std, Y, REF)[0])
    assert proposal.log_acq_value == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert "threshold" in proposal.model_state
    # the GP is the one on the trials above, not the one on all of them
    plain = fit_gp(X, Y).posterior(x)[0]
    assert not np.allclose(plain, mean)


@pytest.mark.parametrize("case", ["fewer than 2 above", "all above", "no threshold"])
def test_falls_back_to_the_plain_behaviour(case: str) -> None:
    X, Y = _data(10, 2)
    thresholded: list[int] | None = None
    if case == "fewer than 2 above":
        Y[:, 0] = np.where(np.arange(len(Y)) == 3, -0.5, np.abs(Y[:, 0]) + 0.1)
    elif case == "all above":
        Y[:, 0] = -np.abs(Y[:, 0]) - 0.1
    else:
        thresholded = []
    rng_seed = 5
    on = Proposer(SPACE2, threshold_model=True, thresholded=thresholded, **FAST).propose(
        X, Y, REF, rng=np.random.default_rng(rng_seed))
    off = Proposer(SPACE2, **FAST).propose(X, Y, REF, rng=np.random.default_rng(rng_seed))
    assert np.array_equal(on.x, off.x)
    assert on.log_acq_value == off.log_acq_value
    assert on.model_state == off.model_state


def test_known_objectives_thresholds_are_not_modelled() -> None:
    # the first objective is known: only the second is modelled, and it always beats its
    # threshold, so the threshold model has nothing to do
    X, Y = _data(10, 3)
    known = {0: lambda p: float(plateau(np.array([[p["a"], p["b"]]]))[0, 0])}
    on = Proposer(SPACE2, threshold_model=True, known=known, **FAST).propose(
        X, Y, REF, rng=np.random.default_rng(0))
    off = Proposer(SPACE2, known=known, **FAST).propose(X, Y, REF, rng=np.random.default_rng(0))
    assert np.array_equal(on.x, off.x) and on.log_acq_value == off.log_acq_value


def test_warp_is_fitted_to_the_values_the_gp_sees() -> None:
    X, Y = _data(14, 0)
    for warp in ("rank", "yeo-johnson"):
        p = Proposer(SPACE2, threshold_model=True, warp=warp, **FAST).propose(
            X, Y, REF, rng=np.random.default_rng(1))
        assert np.isfinite(p.log_acq_value) and "threshold" in p.model_state


def test_noisy_front_samples_and_pending_points_use_the_trials_above() -> None:
    X, Y = _data(14, 0)
    pending = np.array([[0.9, 0.5]])
    for noisy in (False, True):
        p = Proposer(SPACE2, threshold_model=True, noisy=noisy, n_front_samples=4,
                     **FAST).propose(X, Y, REF, rng=np.random.default_rng(1), X_pending=pending)
        assert np.isfinite(p.log_acq_value) and "threshold" in p.model_state
        assert not np.allclose(p.x, pending[0])


def _learning_count(threshold_model: bool, seed: int) -> int:
    study = Study(SPACE2, [Objective("loss", threshold=0.0), Objective("cost", threshold=1.0)],
                  seed=seed, n_initial=8, proposer_options=FAST,
                  threshold_model=threshold_model)

    def fn(params: dict[str, Any]) -> dict[str, float]:
        y = plateau(np.array([[params["a"], params["b"]]]))[0]
        return {"loss": float(y[0]), "cost": float(y[1])}

    study.optimize(fn, 18)
    model = [t for t in study.trials if t.source == "model"]
    return sum(t.params["a"] >= 0.7 for t in model)


def test_prefers_the_region_that_learns_over_the_plateau() -> None:
    # 10 model proposals per seed: the plain GP, fitted to the cliff and the plateau too,
    # spends some of them on the plateau
    with_model = sum(_learning_count(True, s) for s in range(4))
    without = sum(_learning_count(False, s) for s in range(4))
    assert with_model > without


def test_journal_records_it_only_when_set_and_resumes_it(tmp_path: Path) -> None:
    objectives = [Objective("loss", threshold=0.0), Objective("cost", threshold=1.0)]

    def fn(params: dict[str, Any]) -> dict[str, float]:
        y = plateau(np.array([[params["a"], params["b"]]]))[0]
        return {"loss": float(y[0]), "cost": float(y[1])}

    on, off = tmp_path / "on.jsonl", tmp_path / "off.jsonl"
    with Study(SPACE2, objectives, storage=on, seed=0, n_initial=3, proposer_options=FAST,
               threshold_model=True) as s:
        s.optimize(fn, 4)
    with Study(SPACE2, objectives, storage=off, seed=0, n_initial=3,
               proposer_options=FAST) as s:
        s.optimize(fn, 4)
    assert json.loads(on.read_text().splitlines()[0])["threshold_model"] is True
    assert "threshold_model" not in json.loads(off.read_text().splitlines()[0])
    assert Study.read(on).threshold_model and not Study.read(off).threshold_model
    loaded = Study.load(on, FAST)
    assert loaded.threshold_model
    loaded.close()
    with pytest.raises(ValueError, match="threshold_model"):
        Study(SPACE2, objectives, storage=on, seed=0, n_initial=3)
    with pytest.raises(ValueError, match="threshold_model"):
        Study(SPACE2, objectives, threshold_model="yes")  # type: ignore[arg-type]


def test_surrogate_is_fitted_to_every_trial() -> None:
    objectives = [Objective("loss", threshold=0.0), Objective("cost", threshold=1.0)]
    X, Y = _data(10, 0)
    studies = []
    for flag in (True, False):
        s = Study(SPACE2, objectives, seed=0, n_initial=10, threshold_model=flag)
        for y in Y:
            t = s.ask()
            s.tell(t, {"loss": float(y[0]), "cost": float(y[1])})
        studies.append(s)
    a, b = (s.surrogate()["loss"] for s in studies)
    assert np.array_equal(a.train_targets.numpy(), b.train_targets.numpy())
