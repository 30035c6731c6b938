"""The front extension of :mod:`mobo.acquisition` (``Proposer(extend=...)``): its proposal
against a brute-force search of a small discrete space, where it goes in a mixed space,
when it gives way to the usual proposal, and its checks."""

from __future__ import annotations

import copy
import itertools
import math
from typing import Any

import numpy as np
import pytest

from mobo.acquisition import Proposer, _KnownValues
from mobo.explore import MIN_BANDWIDTH, good_trials
from mobo.gp import fit_gp
from mobo.space import Categorical, Float, Int, Space
from tests.mobo.test_explore import _parzen_reference, replay_draws

# a "size" known in closed form and an "accuracy" that only students of 3 layers or more
# learn: the trials below 3 layers sit on a plateau just worse than the reference
DISCRETE = Space([Int("layers", 1, 6), Int("heads", 1, 4),
                  Categorical("init", ["random", "pretrained"])])
MIXED = Space([Int("layers", 1, 6), Int("heads", 1, 4),
               Float("lr", 1e-5, 1e-2, log=True), Categorical("init", ["random", "pretrained"])])
FAST = {"n_candidates": 512, "n_local": 8, "n_starts": 2, "max_iter": 10}
REF = np.array([0.0, 100.0])  # (minus accuracy, size)


def size(p: dict[str, Any]) -> float:
    return 10.0 * p["layers"] + p["heads"]


def _data(space: Space, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n Sobol trials of ``space``: (n, d) encoded inputs, (n, 2) (minus accuracy, size)."""
    rng = np.random.default_rng(seed)
    params = [space.decode(u) for u in space.sobol(n, seed=seed)]
    acc = np.array([
        0.5 + 0.1 * p["layers"] + 0.05 * np.log10(p.get("lr", 1e-3)) if p["layers"] >= 3
        else -0.05 for p in params])
    Y = np.c_[-acc + 0.001 * rng.standard_normal(n), [size(p) for p in params]]
    return np.array([space.encode(p) for p in params]), Y


def _cap(Y: np.ndarray) -> float:
    """The smallest size among the trials that beat the reference in both objectives."""
    return float(Y[np.all(Y < REF, axis=1), 1].min())


def _spy(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Records the acquisition each front extension scores with."""
    seen: dict[str, Any] = {}
    original = Proposer._extend

    def spy(self: Proposer, acq: Any, *args: Any) -> Any:
        seen["acq"] = acq
        return original(self, acq, *args)

    monkeypatch.setattr(Proposer, "_extend", spy)
    return seen


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_it_is_the_best_point_below_the_cap_by_brute_force(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _spy(monkeypatch)
    X, Y = _data(DISCRETE, 20, seed)
    cap = _cap(Y)
    prop = Proposer(DISCRETE, known={1: size}, extend=0.999999, **FAST)
    out = prop.propose(X, Y, REF, rng=np.random.default_rng(seed))
    assert "extend" in out.timings
    # every point of the space, one at a time: those below the cap and not tried yet
    grid = [dict(zip(("layers", "heads", "init"), v, strict=True))
            for v in itertools.product(range(1, 7), range(1, 5), ["random", "pretrained"])]
    tried = {tuple(sorted(DISCRETE.decode(x).items())) for x in X}
    allowed = [p for p in grid if size(p) < cap and tuple(sorted(p.items())) not in tried]
    assert allowed
    scores = [float(seen["acq"].score(DISCRETE.encode(p)[None])[0]) for p in allowed]
    best = allowed[int(np.argmax(scores))]
    assert DISCRETE.decode(out.x) == best
    assert out.log_acq_value == pytest.approx(max(scores), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_in_a_mixed_space_it_goes_below_the_cap_with_its_floats_refined(seed: int) -> None:
    X, Y = _data(MIXED, 30, seed)
    cap = _cap(Y)
    prop = Proposer(MIXED, known={1: size}, extend=0.999999, **FAST)
    out = prop.propose(X, Y, REF, rng=np.random.default_rng(seed))
    p = MIXED.decode(out.x)
    assert "extend" in out.timings
    assert size(p) < cap
    assert np.array_equal(MIXED.round(out.x[None])[0], out.x)  # a point as it is evaluated
    assert not any(np.max(np.abs(X - out.x), axis=1) < 1e-9)


def test_with_no_trial_beating_the_reference_the_proposal_is_the_usual_one() -> None:
    X, Y = _data(MIXED, 30, 0)
    Y[:, 0] = np.abs(Y[:, 0]) + 0.01  # no trial beats the reference's accuracy
    prop = Proposer(MIXED, known={1: size}, extend=0.999999, **FAST)
    out = prop.propose(X, Y, REF, rng=np.random.default_rng(0))
    assert "extend" not in out.timings


def test_with_nothing_below_the_cap_the_proposal_is_the_usual_one() -> None:
    X, Y = _data(MIXED, 30, 0)
    # the smallest possible student (1 layer, 1 head) beats the reference: nothing is below
    smallest = MIXED.encode({"layers": 1, "heads": 1, "lr": 1e-3, "init": "random"})
    X = np.vstack([X, smallest])
    Y = np.vstack([Y, [-0.2, 11.0]])
    prop = Proposer(MIXED, known={1: size}, extend=0.999999, **FAST)
    out = prop.propose(X, Y, REF, rng=np.random.default_rng(0))
    assert "extend" not in out.timings


def test_the_setting_costs_one_draw_when_it_does_not_fire() -> None:
    # with a share that never fires, the proposal is the one without the setting, made from
    # a stream one draw further on
    X, Y = _data(MIXED, 30, 1)
    on = Proposer(MIXED, known={1: size}, extend=1e-12, **FAST)
    off = Proposer(MIXED, known={1: size}, **FAST)
    rng = np.random.default_rng(5)
    a = on.propose(X, Y, REF, rng=rng)
    b_rng = np.random.default_rng(5)
    b_rng.random()
    b = off.propose(X, Y, REF, rng=b_rng)
    assert np.array_equal(a.x, b.x)
    assert rng.random() == b_rng.random()


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, True, "0.5", float("nan")])
def test_bad_shares_are_refused(bad: Any) -> None:
    with pytest.raises(ValueError, match="^extend: expected None or a share in"):
        Proposer(MIXED, known={1: size}, extend=bad)


def test_it_needs_a_known_objective() -> None:
    with pytest.raises(ValueError, match="^extend: needs an objective known in closed form"):
        Proposer(MIXED, extend=0.5)


def _spy_explore(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Records each exploration draw's arguments and its random stream as it was."""
    calls: list[dict[str, Any]] = []
    original = Proposer._explore

    def spy(self: Proposer, X: np.ndarray, Y: np.ndarray, ref: np.ndarray, ok: np.ndarray,
            X_other: np.ndarray, taken: np.ndarray, rng: np.random.Generator,
            keep: Any = None, good: Any = None) -> Any:
        calls.append({"Y": Y, "ok": ok, "X_other": X_other, "rng": copy.deepcopy(rng),
                      "good": good})
        return original(self, X, Y, ref, ok, X_other, taken, rng, keep, good)

    monkeypatch.setattr(Proposer, "_explore", spy)
    return calls


def _cheapest_reference(Y: np.ndarray) -> list[int]:
    """The trials that beat the reference in both objectives, cheapest first (ties by
    index), the first max(2, min(ceil(n / 10), 25)) of them, written out by hand."""
    beating = [i for i in range(len(Y)) if Y[i, 0] < REF[0] and Y[i, 1] < REF[1]]
    beating.sort(key=lambda i: (Y[i, 1], i))
    return beating[:max(2, min(-(-len(Y) // 10), 25))]


def _add_hairs(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``X``, ``Y`` plus two 1-layer trials that beat the reference's accuracy by a hair
    (1e-4 and 2e-4, a fifth of the noise or less) amid the plateau: at face value the
    cheapest trials that beat it, and not credibly."""
    hairs = [{"layers": 1, "heads": 2, "lr": 3e-3, "init": "random"},
             {"layers": 1, "heads": 3, "lr": 1e-4, "init": "pretrained"}]
    X = np.vstack([X, [MIXED.encode(p) for p in hairs]])
    Y = np.vstack([Y, [[-1e-4, size(hairs[0])], [-2e-4, size(hairs[1])]]])
    return X, Y


def _with_hairs(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``_data(MIXED, 30, seed)`` with :func:`_add_hairs`."""
    return _add_hairs(*_data(MIXED, 30, seed))


def _credible_cap_reference(X: np.ndarray, Y: np.ndarray) -> float:
    """The smallest size among the trials that beat the reference in both objectives and
    whose accuracy's GP posterior mean beats it by a posterior sd (the GP the proposer fits
    to the modelled column: all trials, no warm start), or among all that beat it if none
    does so, by a loop over the trials."""
    mean, sd = fit_gp(X, Y[:, [0]]).posterior(X)
    beating = [i for i in range(len(Y)) if Y[i, 0] < REF[0] and Y[i, 1] < REF[1]]
    credible = [i for i in beating if mean[i, 0] + sd[i, 0] < REF[0]]
    return min(float(Y[i, 1]) for i in (credible or beating))


@pytest.mark.parametrize("by", ["density", "cheapest", "split"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_by_density_it_is_the_best_density_ratio_among_its_draws_below_the_cap(
        seed: int, by: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _spy_explore(monkeypatch)
    seen = _spy(monkeypatch)
    X, Y = _data(MIXED, 30, seed) if by != "split" else _with_hairs(seed)
    cap = _cap(Y) if by != "split" else _credible_cap_reference(X, Y)
    if by == "split":  # the hairs are the cheapest at face value, under the credible cap
        assert _cap(Y) < cap
    prop = Proposer(MIXED, known={1: size}, extend=0.999999, extend_by=by, **FAST)
    out = prop.propose(X, Y, REF, rng=np.random.default_rng(seed))
    assert "extend" in out.timings and len(calls) == 1
    # replay the draws with the slow densities; the good trials are the share's own
    # (tested against their reference in test_explore.py), or the cheapest that beat
    # the reference
    c = calls[0]
    if by == "density":
        good = good_trials(X, c["Y"], REF, c["ok"])
    else:
        good = np.array(_cheapest_reference(Y))
        assert list(good) == list(c["good"])
        assert len(good) == (3 if by == "cheapest" else 4)
        assert set(good) != set(good_trials(X, Y, REF, c["ok"]))
    G = X[good]
    B = np.vstack([np.delete(X, good, axis=0), c["X_other"]])
    Z, h = replay_draws(G, FAST["n_candidates"], c["rng"])
    Z = MIXED.round(Z)
    tried = {tuple(x) for x in np.vstack([X, c["X_other"]])}
    below = [z for z in Z if size(MIXED.decode(z)) < cap and tuple(z) not in tried]
    assert below  # the draws reach below the cap
    ratio = [_parzen_reference(z, G, h) - _parzen_reference(z, B, h) for z in below]
    np.testing.assert_allclose(out.x, below[int(np.argmax(ratio))], atol=1e-12)
    assert size(MIXED.decode(out.x)) < cap
    # its acquisition value is the EHVI the extension scores with, at that point
    assert out.log_acq_value == pytest.approx(float(seen["acq"].score(out.x[None])[0]),
                                              rel=1e-12, abs=1e-12)


def test_by_density_with_nothing_below_the_cap_the_proposal_is_the_usual_one() -> None:
    X, Y = _data(MIXED, 30, 0)
    # the smallest possible student beats the reference: no draw can be below the cap
    smallest = MIXED.encode({"layers": 1, "heads": 1, "lr": 1e-3, "init": "random"})
    X = np.vstack([X, smallest])
    Y = np.vstack([Y, [-0.2, 11.0]])
    prop = Proposer(MIXED, known={1: size}, extend=0.999999, extend_by="density", **FAST)
    out = prop.propose(X, Y, REF, rng=np.random.default_rng(0))
    assert "extend" not in out.timings
    # and a share draw whose every candidate is left out gives no point
    ok = np.ones(len(X), dtype=bool)
    assert prop._explore(X, Y, REF, ok, np.zeros((0, X.shape[1])), X,
                         np.random.default_rng(0), keep=lambda Z: np.zeros(len(Z), bool)
                         ) is None


@pytest.mark.parametrize("by", ["split", "split_drift"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_split_the_share_takes_its_good_trials_at_or_above_the_credible_cap(
        seed: int, by: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _spy_explore(monkeypatch)
    X, Y = _with_hairs(seed)
    cap = _credible_cap_reference(X, Y)
    prop = Proposer(MIXED, known={1: size}, explore=0.999999, extend=0.5, extend_by=by,
                    **FAST)
    out = prop.propose(X, Y, REF, rng=np.random.default_rng(seed))
    assert "explore" in out.timings and len(calls) == 1
    # the trials the share may rank: those not cheaper than the cap, written out
    allowed = np.array([Y[i, 1] >= cap for i in range(len(Y))])
    assert list(calls[0]["ok"]) == list(allowed)
    assert not allowed[-2:].any()  # the hairs are out, so neither is a good trial
    good = good_trials(X, Y, REF, calls[0]["ok"])
    assert len(good) >= 2 and not {len(X) - 2, len(X) - 1} & set(good.tolist())
    # where the share takes every trial, the hairs are on its first rank
    assert {len(X) - 2, len(X) - 1} <= set(good_trials(X, Y, REF, np.ones(len(X), bool)))


@pytest.mark.parametrize(("split", "face", "data"), [
    ("split", "cheapest", lambda seed: _data(MIXED, 30, seed)),
    ("split_drift", "drift", lambda seed: _drifting(seed))])
@pytest.mark.parametrize("seed", [0, 1])
def test_split_with_every_trial_credible_is_its_face_value_setting(
        seed: int, split: str, face: str, data: Any) -> None:
    # without hairs the credible cap is the cheapest trial that beats the reference, the
    # share ranks every trial, and the proposals are those of the setting whose cap and
    # share are at face value ("cheapest" for "split", "drift" for "split_drift"), draw
    # for draw
    X, Y = data(seed)
    assert _credible_cap_reference(X, Y) == _cap(Y)
    for explore in (None, 0.5):
        a, b = (Proposer(MIXED, known={1: size}, explore=explore, extend=0.6, extend_by=by,
                         **FAST) for by in (split, face))
        ra, rb = np.random.default_rng(seed), np.random.default_rng(seed)
        for _ in range(3):
            pa, pb = a.propose(X, Y, REF, rng=ra), b.propose(X, Y, REF, rng=rb)
            assert np.array_equal(pa.x, pb.x)


@pytest.mark.parametrize("bad", ["EHVI", "tpe", None, 1])
def test_extend_by_takes_only_its_names(bad: Any) -> None:
    with pytest.raises(ValueError, match="^extend_by: expected one of ehvi, density, "
                                         "cheapest, split, drift, split_drift, got"):
        Proposer(MIXED, known={1: size}, extend=0.5, extend_by=bad)


def _drifting(seed: int, n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """n Sobol trials of ``MIXED`` where a student of 2 layers or more learns only near a
    learning rate that falls as it grows (1e-2.5 at 2 layers, half a decade less per
    layer) and 1-layer students never do: the good trials' learning rate drifts with
    their size."""
    rng = np.random.default_rng(seed)
    params = [MIXED.decode(u) for u in MIXED.sobol(n, seed=seed)]
    acc = np.array([0.3 - abs(np.log10(p["lr"]) - (-1.5 - 0.5 * p["layers"]))
                    if p["layers"] >= 2 else -0.05 for p in params])
    Y = np.c_[-acc + 0.001 * rng.standard_normal(n), [size(p) for p in params]]
    return np.array([MIXED.encode(p) for p in params]), Y


def _spy_drift(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Records each drift draw's cap, its other inputs and its random stream as it was."""
    calls: list[dict[str, Any]] = []
    original = Proposer._drift

    def spy(self: Proposer, X: np.ndarray, Y: np.ndarray, kv: Any, col: int, cap: float,
            good: np.ndarray, nearest: np.ndarray, X_other: np.ndarray, taken: np.ndarray,
            rng: np.random.Generator) -> Any:
        calls.append({"cap": cap, "nearest": nearest, "X_other": X_other,
                      "rng": copy.deepcopy(rng)})
        return original(self, X, Y, kv, col, cap, good, nearest, X_other, taken, rng)

    monkeypatch.setattr(Proposer, "_drift", spy)
    return calls


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_by_drift_it_is_the_best_moved_draw_by_a_written_out_replay(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _spy_drift(monkeypatch)
    X, Y = _drifting(seed)
    prop = Proposer(MIXED, known={1: size}, extend=0.999999, extend_by="drift", **FAST)
    out = prop.propose(X, Y, REF, rng=np.random.default_rng(seed))
    assert "extend" in out.timings and len(calls) == 1
    c = calls[0]
    assert c["cap"] == _cap(Y)
    beating = [i for i in range(len(Y)) if Y[i, 0] < REF[0] and Y[i, 1] < REF[1]]
    nearest = _cheapest_reference(Y)
    assert list(c["nearest"]) == nearest
    # the learning rate is the space's one float column: its regression line on log size
    lr = next(s.start for p, s in zip(MIXED.params, MIXED.slices, strict=True)
              if p.name == "lr")
    t = np.log(Y[:, 1])
    b = np.polyfit(t[beating], X[beating, lr], 1)[0]
    assert b < 0  # smaller students that learn have larger learning rates
    G, t_G = X[nearest], t[nearest]
    k, d = G.shape
    h = np.maximum(G.std(axis=0) * k ** (-1.0 / (d + 4)), MIN_BANDWIDTH)
    rng = c["rng"]
    owner = rng.integers(k, size=FAST["n_candidates"])
    Z = MIXED.round(np.clip(G[owner] + h * rng.standard_normal((len(owner), d)), 0, 1))
    for z, o in zip(Z, owner, strict=True):
        z[lr] = min(max(z[lr] + b * (math.log(size(MIXED.decode(z))) - t_G[o]), 0.0), 1.0)
    Z = MIXED.round(Z)
    B = np.vstack([np.delete(X, nearest, axis=0), c["X_other"]])
    tried = {tuple(x) for x in np.vstack([X, c["X_other"]])}
    below = [z for z in Z if size(MIXED.decode(z)) < c["cap"] and tuple(z) not in tried]
    assert below

    def score(z: np.ndarray) -> float:
        moved = G.copy()
        moved[:, lr] += b * (math.log(size(MIXED.decode(z))) - t_G)
        return _parzen_reference(z, moved, h) - _parzen_reference(z, B, h)

    scores = [score(z) for z in below]
    np.testing.assert_allclose(out.x, below[int(np.argmax(scores))], atol=1e-12)
    # the extension's point is below the cap, at a larger learning rate than the good
    # trials it was drawn from: the drift carried to a smaller student
    p = MIXED.decode(out.x)
    assert size(p) < c["cap"]
    assert np.log10(p["lr"]) > np.median([np.log10(MIXED.decode(g)["lr"]) for g in G])


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_split_drift_draws_as_drift_below_the_credible_cap(
        seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _spy_drift(monkeypatch)
    X, Y = _add_hairs(*_drifting(seed))
    cap = _credible_cap_reference(X, Y)
    assert _cap(Y) < cap
    outs = {}
    for by in ("split_drift", "drift"):
        prop = Proposer(MIXED, known={1: size}, extend=0.999999, extend_by=by, **FAST)
        outs[by] = prop.propose(X, Y, REF, rng=np.random.default_rng(seed))
        assert "extend" in outs[by].timings
    # the same draw, told the credible cap instead of the face-value one, from the same
    # cheapest good trials (face value) and the same random stream
    split, face = calls
    assert split["cap"] == cap and face["cap"] == _cap(Y)
    assert list(split["nearest"]) == list(face["nearest"]) == _cheapest_reference(Y)
    assert size(MIXED.decode(outs["split_drift"].x)) < cap
    prop = Proposer(MIXED, known={1: size}, extend=0.999999, extend_by="drift", **FAST)
    kv = _KnownValues(MIXED, {1: size}, 2)
    good = np.all(Y < REF, axis=1)
    again = prop._drift(X, Y, kv, 0, cap, good, split["nearest"], split["X_other"],
                        np.vstack([X, split["X_other"]]), copy.deepcopy(split["rng"]))
    assert again is not None
    np.testing.assert_array_equal(outs["split_drift"].x, again)
