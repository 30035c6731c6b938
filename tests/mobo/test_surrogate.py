"""Tests of mobo.surrogate: a study's surrogate in GPyTorch form (``Study.surrogate``).

The conversion itself is checked against mobo.gp in detail in test_gp_reference.py; here,
that the study hands over the fit its next proposal makes, in the right units, and that
asking for it changes nothing.
"""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
from pathlib import Path

import gpytorch
import numpy as np
import pytest

from mobo.gp import NOISE_PRIOR, NOISY_NOISE_PRIOR, fit_gp
from mobo.space import Float, Int, Space
from mobo.study import Study
from mobo.surrogate import ObjectiveGP, fit_surrogate, to_gpytorch
from mobo.trial import Objective
from mobo.warping import RankWarp

ROOT = Path(__file__).resolve().parents[2]


def _values(params: dict) -> dict[str, float]:
    x, k = params["x"], params["k"]
    return {"acc": math.sin(3.0 * x) + 0.1 * k, "size": 100.0 * x + 7.0 * (k - 2) ** 2}


def _study(n_told: int, *, noisy: bool = False, storage: Path | None = None) -> Study:
    space = Space([Float("x", 0.0, 1.0), Int("k", 0, 4)])
    study = Study(space, [Objective("acc", maximize=True), "size"], seed=3, n_initial=6,
                  noisy=noisy, storage=storage)
    for _ in range(n_told):
        t = study.ask()
        study.tell(t, _values(t.params))
    return study


def _encoded(study: Study) -> tuple[np.ndarray, np.ndarray]:
    """(X encoded, Y in the user's terms) of the completed trials, computed independently."""
    done = [t for t in study.trials if t.status == "completed"]
    X = study.space.encode_many([t.params for t in done])
    Y = np.array([[t.values["acc"], t.values["size"]] for t in done])
    return X, Y


def test_the_surrogate_is_the_fit_of_the_next_proposal() -> None:
    study = _study(8)
    models = study.surrogate()
    assert list(models) == ["acc", "size"]
    assert all(isinstance(m, ObjectiveGP) for m in models.values())
    trial = study.ask()
    assert trial.source == "model"
    state = trial.model_state
    assert state is not None
    # the same fit from the same start; the proposer fits on one thread, this call with the
    # thread pools as they are, and BLAS may sum in another order there: equal to rounding
    same = {"rtol": 1e-9, "atol": 0.0}
    for j, name in enumerate(models):
        kernel = models[name].covar_module
        np.testing.assert_allclose(kernel.base_kernel.lengthscale.detach().numpy()[0],
                                   state["lengthscales"][j], **same)
        assert kernel.outputscale.item() == pytest.approx(state["outputscales"][j], rel=1e-9)
        assert models[name].likelihood.noise.item() == pytest.approx(state["noises"][j],
                                                                      rel=1e-9)
        assert models[name].mean_module.constant.item() == pytest.approx(
            state["means"][j], rel=1e-9, abs=1e-12)
        assert (models[name].y_mean, models[name].y_scale) == (
            pytest.approx(state["y_mean"][j], rel=1e-12),
            pytest.approx(state["y_scale"][j], rel=1e-12))


def test_asking_for_the_surrogate_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    study = _study(8, storage=path)
    before = path.read_bytes()
    first = study.surrogate()
    second = study.surrogate()
    assert path.read_bytes() == before
    for name in first:  # deterministic
        np.testing.assert_array_equal(first[name].predict(np.full((1, 2), 0.3)),
                                      second[name].predict(np.full((1, 2), 0.3)))
    twin = _study(8)
    asked, reference = study.ask(), twin.ask()
    assert asked.params == reference.params
    assert asked.model_state == reference.model_state
    study.close()


@pytest.mark.parametrize("noisy", [False, True])
def test_units_signs_and_noise_prior(noisy: bool) -> None:
    study = _study(7, noisy=noisy)
    models = study.surrogate()
    X, Y = _encoded(study)
    signs = np.array([-1.0, 1.0])
    noise_prior = NOISY_NOISE_PRIOR if noisy else NOISE_PRIOR
    gp = fit_gp(X, Y * signs, study._last_model_state, noise_prior=noise_prior)
    Xq = np.vstack([np.random.default_rng(0).random((6, 2)), X[:2]])
    mu, sd = gp.posterior(Xq)
    for j, name in enumerate(("acc", "size")):
        model = models[name]
        assert model.sign == signs[j] and model.name == name
        np.testing.assert_array_equal(model.train_inputs[0].numpy(), X)
        np.testing.assert_allclose(model.train_targets.numpy(),
                                   (Y[:, j] * signs[j] - gp.y_mean[j]) / gp.y_scale[j],
                                   rtol=1e-14, atol=1e-14)
        prior = model.likelihood.noise_covar.noise_prior
        assert (prior.loc.item(), prior.scale.item()) == noise_prior
        mean, var = model.predict(Xq)
        # in the objective's own units: the maximised one un-negated
        np.testing.assert_allclose(mean, signs[j] * mu[:, j], rtol=1e-8,
                                   atol=1e-9 * gp.y_scale[j])
        np.testing.assert_allclose(var, sd[:, j] ** 2, rtol=1e-8,
                                   atol=1e-12 * gp.y_scale[j] ** 2)
        # with little noise the mean runs close to the observations (a sign or scale
        # slip would miss them by a multiple of the output scale)
        if not noisy:
            np.testing.assert_allclose(mean[-2:], Y[:2, j], rtol=0, atol=0.05 * gp.y_scale[j])


def test_one_completed_trial_and_none() -> None:
    study = _study(0)
    with pytest.raises(ValueError, match="at least 1 completed trial, got 0"):
        study.surrogate()
    trial = study.ask()
    with pytest.raises(ValueError, match="at least 1 completed trial, got 0"):
        study.surrogate()  # a running trial is no data
    study.tell(trial, _values(trial.params))
    models = study.surrogate()
    X, Y = _encoded(study)
    # one point: a constant output, unit scale; the prior around the value
    for j, name in enumerate(("acc", "size")):
        mean, var = models[name].predict(X)
        assert models[name].y_scale == 1.0
        assert mean[0] == pytest.approx(Y[0, j], abs=1e-2)
        assert 0.0 < var[0] < 1e-2


def test_models_pickle_and_reject_mismatched_names() -> None:
    X = np.random.default_rng(1).random((5, 2))
    Y = np.stack([X.sum(1), X[:, 0] ** 2], 1)
    models = fit_surrogate(X, Y, names=["a", "b"], signs=[1.0, -1.0], noisy=False)
    again = pickle.loads(pickle.dumps(models["b"]))
    assert type(again) is ObjectiveGP and isinstance(again, gpytorch.models.ExactGP)
    Xq = np.random.default_rng(2).random((3, 2))
    np.testing.assert_array_equal(again.predict(Xq), models["b"].predict(Xq))
    gp = fit_gp(X, Y)
    with pytest.raises(ValueError, match="expected 2 of each"):
        to_gpytorch(gp, names=["a"])
    with pytest.raises(ValueError, match="at least 1 completed trial"):
        fit_surrogate(np.zeros((0, 2)), np.zeros((0, 2)), names=["a", "b"], signs=[1, 1],
                      noisy=False)


def test_importing_mobo_does_not_import_gpytorch() -> None:
    code = ("import sys, mobo, mobo.study, mobo.surrogate, mobo.plot; "
            "assert 'gpytorch' not in sys.modules, 'gpytorch imported'")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr


def _size(params: dict) -> float:
    return _values(params)["size"]


def test_known_objectives_have_no_model_and_warps_are_named() -> None:
    space = Space([Float("x", 0.0, 1.0), Int("k", 0, 4)])
    objectives = [Objective("acc", maximize=True), Objective("size", known=_size)]
    study = Study(space, objectives, seed=3, n_initial=6, warp="rank")
    for _ in range(8):
        t = study.ask()
        study.tell(t, {"acc": _values(t.params)["acc"]})
    models = study.surrogate()
    assert list(models) == ["acc"]  # the size is known, not modelled
    model = models["acc"]
    assert model.warp == "rank" and model.sign == -1.0
    # trained on the warped values (normal scores of the ranks), as the proposer fits
    done = [t for t in study.trials if t.status == "completed"]
    acc = np.array([-t.values["acc"] for t in done])
    expected = (RankWarp(acc)(acc) - model.y_mean) / model.y_scale
    np.testing.assert_allclose(model.train_targets.numpy(), expected, rtol=0, atol=1e-12)
    trial = study.ask()
    assert trial.model_state is not None and len(trial.model_state["lengthscales"]) == 1
    assert _study(8).surrogate()["acc"].warp is None
