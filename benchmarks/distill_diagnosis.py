"""Why the distillation study's model proposals pile into 1-layer students.

Replays the committed distillation journals (``exact`` maximised with the always-no-answer
threshold, ``num_parameters`` minimised), and for a sample of model proposals rebuilds the
study just before the ask (:meth:`mobo.Study.read` of the journal prefix), refits the
surrogate as the proposer does (:func:`mobo.gp.fit_gp`, warm-started from the previous
proposal's hyper-parameters) and reads off:

* the GP posterior of both objectives and the exact log EHVI (Emmerich, Deutz &
  Klinkenberg 2011; Yang, Emmerich, Deutz & Baeck 2019) at the proposal, at the best
  student observed so far and at two alternatives that keep the proposal's other
  parameters: a 4-layer and a 1-layer student initialised from the teacher's evenly spaced
  layers;
* where the EHVI of the proposal comes from: its split over the strips of the 2-D
  non-dominated region, from the small-size corner to the accurate end;
* the same comparison under candidate remedies (``num_parameters`` as a known closed form,
  values below the threshold clamped to it before the fit, a fixed reference size, a wider
  noise prior) and, for those that only change the proposer's inputs, the proposal the
  unchanged proposer then makes;
* the proposal :class:`mobo.acquisition.Proposer` makes on the same state, with the same
  random stream, under its opt-in options: ``num_parameters`` known in closed form (zero
  variance, exact value) and output warps fitted before the GP (:mod:`mobo.warping`: rank
  normal scores, or the power transform of Yeo & Johnson 2000 as in HEBO, Cowen-Rivers et
  al. 2022), with EHVI in warped units; with the GP's prediction of ``exact`` at that
  proposal mapped back through the warp's inverse.

At the end of each run the ``exact`` GP is checked by its closed-form leave-one-out
predictive (Rasmussen & Williams 2006, sec. 5.4.2): with ``K`` the standardised kernel
matrix including noise, ``mu_i = y_i - [K^-1 y]_i / [K^-1]_ii`` and
``var_i = 1 / [K^-1]_ii``, grouped by where the observation lies relative to the
threshold.

Writes one JSON file, a markdown report generated from it, and PNG figures.

    python -m benchmarks.distill_diagnosis --journals results/distill_budget200.jsonl \
        results/distill_gpu_h200_budget200.jsonl --out-json results/distill_diagnosis.json \
        --out-md results/distill_diagnosis.md --figures results/distill_diagnosis --sample 10
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import scipy.stats  # noqa: E402
import torch  # noqa: E402
from transformers import BertConfig  # noqa: E402

from benchmarks.provenance import FILES, command_line, stamp_fields  # noqa: E402
from distill.config import DistillConfig  # noqa: E402
from distill.models import num_parameters  # noqa: E402
from mobo.acquisition import Proposer  # noqa: E402
from mobo.boxes import Boxes, boxes_from_bounds, decompose  # noqa: E402
from mobo.gp import GP, NOISE_PRIOR, NOISY_NOISE_PRIOR, fit_gp, single_threaded  # noqa: E402
from mobo.improvement import log_ehvi_boxes  # noqa: E402
from mobo.pareto import is_nondominated  # noqa: E402
from mobo.study import Study  # noqa: E402
from mobo.warping import fit_warp, warp_columns  # noqa: E402

# shapes of the MiniLM-L6 teacher the students are cut from (checked against every
# num_parameters value in the journals before use)
TEACHER_SHAPES = BertConfig(hidden_size=384, num_attention_heads=12, intermediate_size=1536,
                            vocab_size=30522, max_position_embeddings=512, type_vocab_size=2,
                            num_hidden_layers=6)
TEACHER_LAYERS = 6
TEACHER_HEADS = 12
# an observation "on the plateau" is an always-no-answer student: within this of the threshold
PLATEAU_TOL = 0.01
# hyper-parameters of the exact GP worth reporting (the others are long and flat)
KEY_PARAMS = ("n_layers", "n_heads", "init", "layer_choice", "learning_rate")
FIXES = ("baseline", "known_size", "clamp", "clamp_known_size", "fixed_ref",
         "noise_prior", "rank_warp", "all")
FIX_NOTES = {
    "baseline": "as the proposer does",
    "known_size": "num_parameters from its closed form, sd 0",
    "clamp": "exact below the threshold clamped to it before the fit",
    "clamp_known_size": "clamp + known num_parameters",
    "fixed_ref": "reference num_parameters = the teacher's size",
    "noise_prior": "exact GP fitted with the wider noise prior of noisy mode",
    "rank_warp": "exact replaced by normal scores of its ranks (front and reference too)",
    "all": "clamp + known num_parameters + teacher-size reference",
}
REPROPOSE = ("clamp", "fixed_ref", "clamp_fixed_ref", "rank_warp", "noisy")
# the proposer's opt-in options rerun on the journal's own inputs: option -> (num_parameters
# known in closed form, output warp of the modelled objectives)
OPTIONS: dict[str, tuple[bool, str | None]] = {
    "known": (True, None),
    "known_rank": (True, "rank"),
    "known_yj": (True, "yeo-johnson"),
    "rank": (False, "rank"),
    "yeo-johnson": (False, "yeo-johnson"),
}
OPTION_NOTES = {
    "known": "num_parameters known in closed form",
    "known_rank": "known num_parameters + rank warp of exact",
    "known_yj": "known num_parameters + Yeo-Johnson warp of exact",
    "rank": "rank warp of both objectives",
    "yeo-johnson": "Yeo-Johnson warp of both objectives",
}


# --------------------------------------------------------------------------- replay
@dataclass
class State:
    """The study just before one ask.

    Attributes:
        study: the replayed study (read-only copy).
        number: trial number of the ask.
        X: (n, d) encoded completed inputs. Y: (n, 2) their values, minimised.
        ref: (2,) reference point, minimised. X_failed: (f, d) failed inputs.
        warm: the previous proposal's hyper-parameters. k: model proposals before.
    """

    study: Study
    number: int
    X: np.ndarray
    Y: np.ndarray
    ref: np.ndarray
    X_failed: np.ndarray
    warm: dict[str, Any] | None
    k: int


def read_lines(path: Path) -> list[str]:
    """The journal's non-empty lines."""
    return [line for line in path.read_text().splitlines() if line.strip()]


def replay(lines: Sequence[str], upto: int, tmp: Path) -> Study:
    """The study recorded by the first ``upto`` journal lines (read-only)."""
    prefix = tmp / "prefix.jsonl"
    prefix.write_text("\n".join(lines[:upto]) + "\n")
    return Study.read(prefix)


def state_of(study: Study, number: int) -> State:
    """The proposer's inputs, as :meth:`mobo.Study._propose` builds them."""
    _, X, Y = study._completed_arrays()
    failed = [study._x[t.number] for t in study.trials if t.status == "failed"]
    assert study._ref is not None
    return State(
        study=study, number=number, X=X, Y=Y, ref=study._ref.copy(),
        X_failed=np.array(failed).reshape(len(failed), study.space.dim),
        warm=study._last_model_state,
        k=sum(1 for t in study.trials if t.source == "model"),
    )


# --------------------------------------------------------------------------- sizes
def closed_size(params: dict[str, Any]) -> int:
    """Exact trainable parameter count of a student with these parameters."""
    cfg = DistillConfig().replace(n_layers=int(params["n_layers"]),
                                  n_heads=int(params["n_heads"]))
    return num_parameters(cfg, TEACHER_SHAPES)


def closed_sizes(study: Study, Xq: np.ndarray) -> np.ndarray:
    """(q,) closed-form num_parameters of the encoded points ``Xq`` (q, d)."""
    return np.array([closed_size(study.space.decode(x)) for x in Xq], dtype=float)


# --------------------------------------------------------------------------- scoring
Predictor = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass
class Variant:
    """One way of modelling a replayed state: a predictor and the boxes it is scored on.

    Attributes:
        predict: encoded points (q, d) -> (mean, std), each (q, 2), minimised units.
        boxes: strips of the non-dominated region. ref: (2,) its reference point.
        gp: the GP fitted for this variant.
    """

    predict: Predictor
    boxes: Boxes
    ref: np.ndarray
    gp: GP


def rank_warp(y: np.ndarray, ref: float) -> tuple[np.ndarray, float]:
    """Normal scores of the ranks of ``y`` (n,) (ties share their mean rank), and ``ref``
    mapped by linear interpolation between the distinct values (a monotone warp)."""
    ranks = scipy.stats.rankdata(y)
    w = scipy.stats.norm.ppf((ranks - 0.5) / len(y))
    values, first = np.unique(y, return_index=True)
    return w, float(np.interp(ref, values, w[first]))


def inputs(state: State, *, clamp: bool = False, warp: bool = False,
           size_ref: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The proposer's (Y (n, 2), ref (2,)) after a remedy: exact clamped to the threshold
    from below, exact rank-warped, or another reference size."""
    Y = state.Y.copy()
    ref = state.ref.copy()
    if clamp:
        Y[:, 0] = np.minimum(Y[:, 0], ref[0])
    if warp:
        Y[:, 0], ref[0] = rank_warp(Y[:, 0], ref[0])
    if size_ref is not None:
        ref[1] = size_ref
    return Y, ref


def fit(state: State, Y: np.ndarray, noise_prior: tuple[float, float] = NOISE_PRIOR) -> GP:
    """The proposer's fit (:func:`mobo.gp.fit_gp`, same warm start) on values ``Y`` (n, 2)."""
    return fit_gp(state.X, Y, state.warm, noise_prior=noise_prior)


def make_variants(state: State, teacher_size: float) -> dict[str, Variant]:
    """Every remedy of :data:`FIXES` for one replayed state."""
    base = fit(state, state.Y)
    Y_clamped, _ = inputs(state, clamp=True)
    clamped = fit(state, Y_clamped)
    noisy = fit(state, state.Y, NOISY_NOISE_PRIOR)
    Y_warped, ref_warped = inputs(state, warp=True)
    warped = fit(state, Y_warped)
    study = state.study

    def known(gp: GP) -> Predictor:
        def predict(Xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            mean, std = gp.posterior(Xq)
            mean, std = mean.copy(), std.copy()
            mean[:, 1] = closed_sizes(study, Xq)
            std[:, 1] = 0.0
            return mean, std
        return predict

    fixed_ref = np.array([state.ref[0], teacher_size])
    b = decompose(state.Y, state.ref)
    b_fixed = decompose(state.Y, fixed_ref)
    return {
        "baseline": Variant(base.posterior, b, state.ref, base),
        "known_size": Variant(known(base), b, state.ref, base),
        "clamp": Variant(clamped.posterior, b, state.ref, clamped),
        "clamp_known_size": Variant(known(clamped), b, state.ref, clamped),
        "fixed_ref": Variant(base.posterior, b_fixed, fixed_ref, base),
        "noise_prior": Variant(noisy.posterior, b, state.ref, noisy),
        "rank_warp": Variant(warped.posterior, decompose(Y_warped, ref_warped), ref_warped,
                             warped),
        "all": Variant(known(clamped), b_fixed, fixed_ref, clamped),
    }


def strip_split(mean: np.ndarray, std: np.ndarray, boxes: Boxes) -> list[dict[str, Any]]:
    """Log EHVI of one candidate, mean and std (2,), in each strip of ``boxes``, with the
    strip's span in the user's units (exact from/to, num_parameters below)."""
    out = []
    for i in range(len(boxes)):
        one = boxes_from_bounds(boxes.lower[i:i + 1], boxes.upper[i:i + 1])
        lv = float(log_ehvi_boxes(mean[None], std[None], one)[0])
        lo, hi = boxes.lower[i], boxes.upper[i]
        out.append({"exact_from": float(-hi[0]),
                    "exact_to": None if math.isinf(lo[0]) else float(-lo[0]),
                    "size_below": float(hi[1]), "log_ehvi": lv})
    logs = np.array([s["log_ehvi"] for s in out])
    top = logs.max()
    w = np.exp(logs - top) if np.isfinite(top) else np.zeros_like(logs)
    w = w / w.sum() if w.sum() > 0 else w
    for s, share in zip(out, w, strict=True):
        s["share"] = float(share)
    return out


def strip_summary(strips: list[dict[str, Any]], exact_mean: float, exact_sd: float,
                  depth_best: float) -> dict[str, Any]:
    """Where a candidate's EHVI sits: the shares of the small-size corner (last strip:
    smaller than every front point, exact between the threshold and the smallest front
    point's), the accurate end (first strip: above the best front exact) and the strips
    between; the share that needs an exact above ``depth_best`` (the best yet observed at
    the candidate's depth); and the dominant strip, with the z-score the candidate's
    exact must exceed to reach it (``exact_mean`` +- ``exact_sd``, its prediction)."""
    shares = np.array([s["share"] for s in strips])
    beyond = float(sum(s["share"] for s in strips if s["exact_from"] >= depth_best))
    top = strips[int(np.argmax(shares))]
    out: dict[str, Any] = {
        "small_corner": float(shares[-1]),
        "middle": float(shares[1:-1].sum()) if len(shares) > 2 else 0.0,
        "accurate_end": float(shares[0]) if len(shares) > 1 else 0.0,
        "beyond_depth_best": beyond, "depth_best": depth_best,
        "dominant": dict(top, z_needed=(top["exact_from"] - exact_mean) / max(exact_sd, 1e-12)),
    }
    return out


def describe(study: Study, variant: Variant, x: np.ndarray) -> dict[str, Any]:
    """Posterior of both objectives at ``x`` (d,) in the user's units (warped units for a
    warped variant), and its log EHVI."""
    mean, std = variant.predict(x[None])
    p = study.space.decode(x)
    return {
        "n_layers": p["n_layers"], "n_heads": p["n_heads"], "init": p["init"],
        "layer_choice": p["layer_choice"],
        "exact_mean": float(-mean[0, 0]), "exact_sd": float(std[0, 0]),
        "size_mean": float(mean[0, 1]), "size_sd": float(std[0, 1]),
        "size_closed": float(closed_size(p)),
        "log_ehvi": float(log_ehvi_boxes(mean, std, variant.boxes)[0]),
    }


def with_params(study: Study, x: np.ndarray, **changes: Any) -> np.ndarray:
    """``x`` (d,) with some parameters changed, re-encoded."""
    p = study.space.decode(x)
    p.update(changes)
    return study.space.encode(p)


def hyper(study: Study, gp: GP, j: int = 0) -> dict[str, Any]:
    """Fitted hyper-parameters of objective ``j`` (noise, outputscale: standardised)."""
    ls = gp.lengthscale[j].numpy()
    out: dict[str, Any] = {"noise": float(gp.noise[j]), "outputscale": float(gp.outputscale[j]),
                           "y_scale": float(gp.y_scale[j]),
                           "noise_sd_units": float(math.sqrt(float(gp.noise[j]))
                                                   * gp.y_scale[j])}
    for name in KEY_PARAMS:
        i = study.space.names.index(name)
        cols = ls[study.space.slices[i]]
        out[f"ls_{name}"] = [float(c) for c in cols] if len(cols) > 1 else float(cols[0])
    return out


def front_of(state: State) -> list[list[float]]:
    """Non-dominated observed points strictly inside the reference box, (exact,
    num_parameters), by decreasing exact."""
    inside = state.Y[(state.Y < state.ref).all(axis=1)]
    front = inside[is_nondominated(inside)] if len(inside) else inside
    front = front[np.argsort(front[:, 0], kind="stable")]
    return [[float(-y[0]), float(y[1])] for y in front]


def repropose(state: State, which: str, teacher_size: float) -> dict[str, Any]:
    """The unchanged proposer's choice when its inputs change (``which`` of
    :data:`REPROPOSE`); same rng stream as the study's own proposal."""
    Y, ref = inputs(state, clamp=which in ("clamp", "clamp_fixed_ref"),
                    warp=which == "rank_warp",
                    size_ref=teacher_size if which in ("fixed_ref", "clamp_fixed_ref") else None)
    proposer = Proposer(state.study.space, noisy=which == "noisy")
    prop = proposer.propose(state.X, Y, ref, rng=np.random.default_rng([state.study.seed,
                                                                          state.k]),
                            X_failed=state.X_failed if len(state.X_failed) else None,
                            warm_start=state.warm)
    p = state.study.space.decode(prop.x)
    return {"n_layers": p["n_layers"], "n_heads": p["n_heads"], "init": p["init"],
            "layer_choice": p["layer_choice"], "log_acq": prop.log_acq_value}


def modelled_warm(warm: dict[str, Any] | None, columns: Sequence[int]
                  ) -> dict[str, Any] | None:
    """The previous proposal's hyper-parameters restricted to the objectives in ``columns``:
    a proposer that models fewer objectives than the journal's then starts its fit where
    the journal's fit of those objectives ended (:func:`mobo.gp.fit_gp` ignores a warm
    start of another shape)."""
    if warm is None:
        return None
    out = dict(warm)
    for key in ("lengthscales", "outputscales", "noises", "means", "y_mean", "y_scale"):
        if key in out:
            out[key] = [out[key][j] for j in columns]
    return out


def propose_with(state: State, option: str) -> dict[str, Any]:
    """The proposer's choice under ``option`` (of :data:`OPTIONS`) on the state's own
    inputs, with the same rng stream as the study's proposal, and the GP's prediction of
    exact there in EM: the median and the band of +-1 sd in the GP's units, both mapped
    back through the warp's inverse (mean +- sd when there is no warp)."""
    known_size, warp = OPTIONS[option]
    study = state.study
    columns = [0] if known_size else [0, 1]
    warm = modelled_warm(state.warm, columns) if known_size else state.warm
    proposer = Proposer(study.space, known={1: closed_size} if known_size else None,
                        warp=warp)
    prop = proposer.propose(state.X, state.Y, state.ref,
                            rng=np.random.default_rng([study.seed, state.k]),
                            X_failed=state.X_failed if len(state.X_failed) else None,
                            warm_start=warm)
    # the proposer's fit of the modelled objectives, redone (same inputs, same
    # deterministic fit) to read its prediction at the proposal
    Y = state.Y
    if warp is not None:
        Y, _ = warp_columns(Y, state.ref, columns, warp)
    with single_threaded():
        # the same array the proposer fits: a column selection of Y may be laid out in
        # Fortran order, and its standardisation then differs in the last bits
        gp = fit_gp(state.X, Y[:, columns] if known_size else Y, warm)
    mean, std = gp.posterior(prop.x[None])
    m, s = float(mean[0, 0]), float(std[0, 0])
    z = np.array([m, m - s, m + s])  # minimised exact: m - s is the higher exact
    if warp is not None:
        z = fit_warp(state.Y[:, 0], warp).inverse(z)
    p = study.space.decode(prop.x)
    return {"n_layers": p["n_layers"], "n_heads": p["n_heads"], "init": p["init"],
            "layer_choice": p["layer_choice"], "log_acq": prop.log_acq_value,
            "exact_median": float(-z[0]), "exact_low": float(-z[2]),
            "exact_high": float(-z[1]),
            "same_fit": gp.model_state()["lengthscales"] == prop.model_state["lengthscales"]}


def analyse_proposal(state: State, event: dict[str, Any], observed: float | None,
                     teacher_size: float, do_repropose: bool) -> dict[str, Any]:
    """Everything recorded for one sampled model proposal."""
    study = state.study
    x = np.asarray(event["x"], dtype=float)
    variants = make_variants(state, teacher_size)
    base = variants["baseline"]

    # reproduction of the proposal itself (continuous refinement may differ in the last
    # digits of the warm-started fit, so the rounded discrete choices are compared)
    prop, x_re = study._propose()
    p_re, p_j = study.space.decode(x_re), study.space.decode(x)
    state_j = event.get("model_state") or {}
    repro = {
        "same_discrete": all(p_re[k] == p_j[k] for k in ("n_layers", "n_heads", "init",
                                                          "layer_choice")),
        "max_abs_dx": float(np.abs(x_re - x).max()),
        "log_acq_journal": (math.log(event["acq_value"]) if event.get("acq_value") else None),
        "log_acq_replayed": float(prop.log_acq_value),
        "max_abs_dlog_lengthscale": float(np.abs(
            np.log(state_j["lengthscales"]) - np.log(prop.model_state["lengthscales"])).max())
        if state_j else None,
    }

    best_i = int(np.argmin(state.Y[:, 0]))
    points = {
        "proposal": x,
        "best": state.X[best_i],
        "alt4": with_params(study, x, n_layers=4, init="teacher", layer_choice="spaced"),
        "alt1": with_params(study, x, n_layers=1, init="teacher", layer_choice="spaced"),
    }
    grid = [(n, init) for n in range(1, TEACHER_LAYERS + 1) for init in ("teacher",
                                                                         "pretrained")]
    X_grid = np.array([with_params(study, x, n_layers=n, init=init, layer_choice="spaced")
                       for n, init in grid])
    fixes: dict[str, Any] = {}
    for name, v in variants.items():
        row = {k: describe(study, v, pt) for k, pt in points.items()}
        mean, std = v.predict(X_grid)
        lg = log_ehvi_boxes(mean, std, v.boxes)
        j = int(np.argmax(lg))
        row["grid_best"] = {"n_layers": grid[j][0], "init": grid[j][1],
                            "log_ehvi": float(lg[j])}
        row["grid"] = [{"n_layers": n, "init": init, "log_ehvi": float(val),
                        "exact_mean": float(-mean[i, 0]), "exact_sd": float(std[i, 0])}
                       for i, ((n, init), val) in enumerate(zip(grid, lg, strict=True))]
        fixes[name] = row

    def depth_best(n_layers: int) -> float:
        same = [t.values["exact"] for t in study.trials if t.status == "completed"
                and t.params["n_layers"] == n_layers]
        return max(same) if same else -math.inf

    mean, std = base.predict(x[None])
    strips = strip_split(mean[0], std[0], base.boxes)
    summary = strip_summary(strips, -mean[0, 0], std[0, 0], depth_best(p_j["n_layers"]))
    mean4, std4 = base.predict(points["alt4"][None])
    strips4 = strip_split(mean4[0], std4[0], base.boxes)
    summary4 = strip_summary(strips4, -mean4[0, 0], std4[0, 0], depth_best(4))
    out = {
        "trial": state.number, "k": state.k, "n_completed": len(state.X),
        "params": {k: p_j[k] for k in KEY_PARAMS},
        "observed_exact": observed,
        "reproduction": repro,
        "hyper_exact": hyper(study, base.gp, 0),
        "hyper_exact_clamped": hyper(study, variants["clamp"].gp, 0),
        "hyper_exact_noise_prior": hyper(study, variants["noise_prior"].gp, 0),
        "front": front_of(state),
        "strips": strips, "strip_summary": summary,
        "strips_alt4": strips4, "strip_summary_alt4": summary4,
        "fixes": fixes,
    }
    if do_repropose:
        out["repropose"] = {w: repropose(state, w, teacher_size) for w in REPROPOSE}
        out["options"] = {o: propose_with(state, o) for o in OPTIONS}
    return out


# --------------------------------------------------------------------------- end of run
def loo(gp: GP, j: int) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form leave-one-out predictive mean and sd (n,) of objective ``j``, raw units
    (observation, i.e. with noise)."""
    with torch.no_grad():
        Kinv = torch.cholesky_inverse(gp.L[j]).numpy()
    alpha = gp.alpha[j].numpy()
    ys = (gp.Y_np[:, j] - gp.y_mean[j]) / gp.y_scale[j]
    diag = np.diag(Kinv)
    mu = ys - alpha / diag
    sd = np.sqrt(1.0 / diag)
    return mu * gp.y_scale[j] + gp.y_mean[j], sd * gp.y_scale[j]


def calibration(observed: np.ndarray, mean: np.ndarray, sd: np.ndarray, threshold: float,
                depth: np.ndarray, teacher: np.ndarray) -> dict[str, Any]:
    """LOO calibration of ``exact`` (all arrays (n,)) per group: plateau / below / above the
    threshold, 1-layer students, teacher-initialised students with 3 or more layers; count,
    RMSE, mean predicted sd, mean and sd of z, coverage of +-2 sd."""
    groups = {
        "plateau": np.abs(observed - threshold) <= PLATEAU_TOL,
        "below": observed < threshold - PLATEAU_TOL,
        "above": observed > threshold + PLATEAU_TOL,
        "one_layer": depth == 1,
        "teacher_3plus": teacher & (depth >= 3),
        "all": np.ones(len(observed), dtype=bool),
    }
    out = {}
    for name, mask in groups.items():
        if not mask.any():
            out[name] = {"n": 0}
            continue
        z = (observed[mask] - mean[mask]) / sd[mask]
        out[name] = {
            "n": int(mask.sum()),
            "observed_mean": float(observed[mask].mean()),
            "predicted_mean": float(mean[mask].mean()),
            "rmse": float(np.sqrt(np.mean((observed[mask] - mean[mask]) ** 2))),
            "mean_sd": float(sd[mask].mean()),
            "z_mean": float(z.mean()), "z_sd": float(z.std()),
            "coverage_2sd": float(np.mean(np.abs(z) <= 2.0)),
        }
    return out


def size_gp_check(study: Study, gp: GP) -> dict[str, Any]:
    """The num_parameters GP against its closed form: LOO at the observed points and the
    posterior over every (n_layers, n_heads) pair, other parameters of the last trial."""
    mu, sd = loo(gp, 1)
    obs = gp.Y_np[:, 1]
    x0 = study._x[-1]
    combos = [(n, h) for n in range(1, TEACHER_LAYERS + 1) for h in range(1, TEACHER_HEADS + 1)]
    Xc = np.array([with_params(study, x0, n_layers=n, n_heads=h) for n, h in combos])
    mean, std = gp.posterior(Xc)
    truth = closed_sizes(study, Xc)
    # one head of one layer: the finest step of the closed form
    head = closed_size({"n_layers": 1, "n_heads": 2}) - closed_size({"n_layers": 1,
                                                                      "n_heads": 1})
    return {
        "noise": float(gp.noise[1]), "noise_sd_params": float(math.sqrt(float(gp.noise[1]))
                                                                 * gp.y_scale[1]),
        "lengthscale_n_layers": float(gp.lengthscale[1][study.space.slices[
            study.space.names.index("n_layers")]][0]),
        "lengthscale_n_heads": float(gp.lengthscale[1][study.space.slices[
            study.space.names.index("n_heads")]][0]),
        "loo_max_abs_err": float(np.abs(mu - obs).max()),
        "loo_mean_sd": float(sd.mean()),
        "grid_max_abs_err": float(np.abs(mean[:, 1] - truth).max()),
        "grid_max_sd": float(std[:, 1].max()),
        "grid_mean_sd": float(std[:, 1].mean()),
        "one_head_step": float(head),
        "distinct_observed_pairs": int(len({(int(study.space.decode(x)["n_layers"]),
                                             int(study.space.decode(x)["n_heads"]))
                                            for x in gp.X_np})),
    }


def analyse_end(study: Study, threshold: float) -> dict[str, Any]:
    """Hyper-parameters and LOO calibration of the GPs fitted on every completed trial."""
    state = state_of(study, len(study.trials))
    gp = fit(state, state.Y)
    mu, sd = loo(gp, 0)
    observed = -gp.Y_np[:, 0]
    pred = -mu
    clamped = fit(state, inputs(state, clamp=True)[0])
    mu_c, sd_c = loo(clamped, 0)
    observed_c = -clamped.Y_np[:, 0]
    decoded = [study.space.decode(x) for x in state.X]
    depth = np.array([p["n_layers"] for p in decoded])
    teacher = np.array([p["init"] == "teacher" for p in decoded])
    return {
        "hyper_exact": hyper(study, gp, 0),
        "hyper_exact_clamped": hyper(study, clamped, 0),
        "calibration": calibration(observed, pred, sd, threshold, depth, teacher),
        "calibration_clamped": calibration(observed_c, -mu_c, sd_c, threshold, depth, teacher),
        "loo": [{"observed": float(o), "mean": float(m), "sd": float(s), "n_layers": int(n),
                 "teacher": bool(t)}
                for o, m, s, n, t in zip(observed, pred, sd, depth, teacher, strict=True)],
        "size_gp": size_gp_check(study, gp),
    }


# --------------------------------------------------------------------------- journal
def analyse_journal(path: Path, stride: int, do_repropose: bool) -> dict[str, Any]:
    """All diagnostics of one journal."""
    lines = read_lines(path)
    events = [json.loads(line) for line in lines]
    header = events[0]
    threshold = float(next(o["threshold"] for o in header["objectives"]
                           if o["name"] == "exact"))
    teacher_size = float(closed_size({"n_layers": TEACHER_LAYERS, "n_heads": TEACHER_HEADS}))
    full = Study.read(path)
    trials = []
    matches = 0
    told = 0
    for t in full.trials:
        row = {"number": t.number, "source": t.source, "status": t.status,
               "n_layers": t.params["n_layers"], "n_heads": t.params["n_heads"],
               "init": t.params["init"], "layer_choice": t.params["layer_choice"],
               "exact": t.values["exact"] if t.status == "completed" else None}
        trials.append(row)
        if t.status == "completed":
            told += 1
            matches += int(closed_size(t.params) == t.values["num_parameters"])
    model_asks = [i for i, e in enumerate(events)
                  if e["event"] == "ask" and e["source"] == "model"]
    sampled = model_asks[::stride]
    proposals = []
    with tempfile.TemporaryDirectory() as tmp:
        for line_no in sampled:
            event = events[line_no]
            study = replay(lines, line_no, Path(tmp))
            state = state_of(study, int(event["number"]))
            observed = trials[state.number]["exact"]
            proposals.append(analyse_proposal(state, event, observed, teacher_size,
                                              do_repropose))
    ref = full._ref
    assert ref is not None
    by_depth = []
    for n in range(1, TEACHER_LAYERS + 1):
        for init in ("teacher", "pretrained"):
            v = np.array([t["exact"] for t in trials if t["exact"] is not None
                          and t["n_layers"] == n and t["init"] == init])
            if len(v):
                by_depth.append({"n_layers": n, "init": init, "n": len(v),
                                 "mean": float(v.mean()), "max": float(v.max()),
                                 "above": int((v > threshold + PLATEAU_TOL).sum()),
                                 "below": int((v < threshold - PLATEAU_TOL).sum())})
    return {
        "path": str(path), "n_trials": len(full.trials), "threshold": threshold,
        "ref": {"exact": float(-ref[0]), "num_parameters": float(ref[1])},
        "teacher_size": teacher_size,
        "size_closed_form_matches": [matches, told],
        "n_model_proposals": len(model_asks),
        "trials": trials,
        "observed_by_depth": by_depth,
        "proposals": proposals,
        "end": analyse_end(full, threshold),
    }


# --------------------------------------------------------------------------- figures
COLOURS = {"teacher": "tab:blue", "pretrained": "tab:orange"}
MARKERS = {"sobol": "s", "model": "o", "requeue": "^"}
GROUP_COLOURS = {"plateau": "tab:purple", "below": "tab:red", "above": "tab:green"}


def figure_observed(data: dict[str, Any], path: Path) -> None:
    """(a) observed exact vs n_layers, colour = init, marker = source."""
    names = list(data["journals"])
    fig, axes = plt.subplots(1, len(names), figsize=(6.5 * len(names), 4.8), squeeze=False,
                             sharey=True)
    rng = np.random.default_rng(0)
    for ax, name in zip(axes[0], names, strict=True):
        j = data["journals"][name]
        for init in COLOURS:
            for source, marker in MARKERS.items():
                rows = [t for t in j["trials"] if t["init"] == init and t["source"] == source
                        and t["exact"] is not None]
                if not rows:
                    continue
                xs = np.array([t["n_layers"] for t in rows]) + rng.uniform(-0.25, 0.25,
                                                                           len(rows))
                ax.scatter(xs, [t["exact"] for t in rows], c=COLOURS[init], marker=marker,
                           s=22, alpha=0.6, edgecolors="none", label=f"{init}, {source}")
        ax.axhline(j["threshold"], color="k", lw=1, ls="--", label="threshold (no-answer EM)")
        ax.set_title(f"{name}: observed exact by depth")
        ax.set_xlabel("n_layers (jittered)")
        ax.set_xticks(range(1, TEACHER_LAYERS + 1))
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("exact match (%)")
    axes[0, -1].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def figure_loo(data: dict[str, Any], path: Path) -> None:
    """(b) LOO predicted vs observed exact, +-2 sd bars, coloured by group."""
    names = list(data["journals"])
    fig, axes = plt.subplots(1, len(names), figsize=(6.5 * len(names), 5.2), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        j = data["journals"][name]
        thr = j["threshold"]
        rows = j["end"]["loo"]
        obs = np.array([r["observed"] for r in rows])
        mean = np.array([r["mean"] for r in rows])
        sd = np.array([r["sd"] for r in rows])
        groups = {"plateau": np.abs(obs - thr) <= PLATEAU_TOL,
                  "below": obs < thr - PLATEAU_TOL, "above": obs > thr + PLATEAU_TOL}
        cal = j["end"]["calibration"]
        rng = np.random.default_rng(0)
        for g in ("below", "above", "plateau"):
            mask = groups[g]
            if not mask.any():
                continue
            c = cal[g]
            # the plateau sits on one abscissa: spread it a little so its bars can be seen
            x = obs[mask] + (rng.uniform(-1.5, 1.5, mask.sum()) if g == "plateau" else 0.0)
            ax.errorbar(x, mean[mask], yerr=2 * sd[mask], fmt="o", ms=3,
                        color=GROUP_COLOURS[g], alpha=0.6, elinewidth=0.8,
                        label=f"{g}: n={c['n']}, cover {c['coverage_2sd']:.0%}, "
                              f"z sd {c['z_sd']:.1f}")
        lo, hi = min(obs.min(), mean.min()) - 5, max(obs.max(), mean.max()) + 5
        ax.plot([lo, hi], [lo, hi], color="k", lw=0.8)
        ax.axvline(thr, color="k", ls="--", lw=0.8)
        ax.axhline(thr, color="k", ls="--", lw=0.8)
        ax.set_xlabel("observed exact (%) (plateau spread by +-1.5 for visibility)")
        ax.set_ylabel("LOO predicted exact (%), +-2 sd")
        ax.set_title(f"{name}: leave-one-out at the end of the run")
        ax.legend(fontsize=8, loc="upper left")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def figure_proposals(data: dict[str, Any], path: Path) -> None:
    """(c) per sampled proposal: predicted exact (mean +- sd) of the proposal and of the
    4-layer teacher alternative, and the proposal's log EHVI against the alternative's."""
    names = list(data["journals"])
    fig, axes = plt.subplots(2, len(names), figsize=(6.5 * len(names), 8.5), squeeze=False)
    for col, name in enumerate(names):
        j = data["journals"][name]
        props = j["proposals"]
        trial = np.array([p["trial"] for p in props])
        ax = axes[0, col]
        for key, label, colour, shift in (("proposal", "proposal", "tab:purple", -0.8),
                                          ("alt4", "4-layer teacher spaced", "tab:blue", 0.8)):
            m = np.array([p["fixes"]["baseline"][key]["exact_mean"] for p in props])
            s = np.array([p["fixes"]["baseline"][key]["exact_sd"] for p in props])
            ax.errorbar(trial + shift, m, yerr=s, fmt="o", color=colour, ms=4, capsize=2,
                        label=f"{label} (GP mean +- sd)")
        obs = [(p["trial"], p["observed_exact"]) for p in props if p["observed_exact"] is not None]
        ax.scatter([o[0] for o in obs], [o[1] for o in obs], marker="x", color="k", s=25,
                   label="proposal observed", zorder=3)
        for p in props:
            ax.annotate(f"{p['params']['n_layers']}L", (p["trial"] - 0.8,
                        p["fixes"]["baseline"]["proposal"]["exact_mean"]),
                        textcoords="offset points", xytext=(0, 7), ha="center", fontsize=7)
        ax.axhline(j["threshold"], color="k", ls="--", lw=0.8, label="threshold")
        ax.set_title(f"{name}: predicted exact at sampled proposals")
        ax.set_xlabel("trial")
        ax.set_ylabel("exact (%)")
        ax.legend(fontsize=7, loc="best")
        ax.grid(alpha=0.3)

        ax = axes[1, col]
        width = 2.2
        for fix, colour, shift in (("baseline", "tab:grey", -width),
                                   ("clamp", "tab:green", 0.0),
                                   ("rank_warp", "tab:olive", width)):
            d = np.array([p["fixes"][fix]["proposal"]["log_ehvi"]
                          - p["fixes"][fix]["alt4"]["log_ehvi"] for p in props])
            d = np.clip(d, -40, 40)
            ax.bar(trial + shift, d, width=width, color=colour, label=f"surrogate: {fix}")
        ax.axhline(0.0, color="k", lw=0.8)
        ax.set_xlabel("trial")
        ax.set_ylabel("log EHVI(proposal) - log EHVI(4-layer)\n(nats, clipped to +-40)")
        ax.set_title(f"{name}: > 0: the proposal outranks the 4-layer")
        ax.legend(fontsize=7, loc="best")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def representative(props: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The sampled 1-layer proposal whose lead over the 4-layer alternative (baseline log
    EHVI) is the median one among the 1-layer proposals; None if there is none."""
    one = [p for p in props if p["params"]["n_layers"] == 1]
    if not one:
        return None
    gap = [p["fixes"]["baseline"]["proposal"]["log_ehvi"]
           - p["fixes"]["baseline"]["alt4"]["log_ehvi"] for p in one]
    return one[int(np.argsort(gap)[len(gap) // 2])]


def figure_strips(data: dict[str, Any], path: Path) -> None:
    """(c') top: for a representative 1-layer proposal, the front, the strips of the
    non-dominated region shaded by their share of the proposal's EHVI, and the predictions
    (mean +- 2 sd) of the proposal and of the 4-layer alternative; bottom: per sampled
    proposal, the share of its EHVI that needs an exact above the best yet observed at its
    depth."""
    names = list(data["journals"])
    fig, axes = plt.subplots(2, len(names), figsize=(6.5 * len(names), 9.5), squeeze=False)
    for col, name in enumerate(names):
        j = data["journals"][name]
        props = j["proposals"]
        ax = axes[0, col]
        p = representative(props)
        if p is not None:
            front = np.array(p["front"])
            top_exact = max(100.0, front[:, 0].max() + 5)
            for st in p["strips"]:
                hi = st["exact_to"] if st["exact_to"] is not None else top_exact
                ax.add_patch(plt.Rectangle((st["exact_from"], 12.0), hi - st["exact_from"],
                                           st["size_below"] / 1e6 - 12.0, color="tab:red",
                                           alpha=0.08 + 0.8 * st["share"], lw=0))
                if st["share"] >= 0.1:
                    ax.text(0.5 * (st["exact_from"] + hi), 12.3, f"{st['share']:.0%}",
                            ha="center", fontsize=8)
            ax.scatter(front[:, 0], front[:, 1] / 1e6, color="k", s=14, zorder=3,
                       label=f"front before trial {p['trial']}")
            b = p["fixes"]["baseline"]
            for key, label, colour in (("proposal", "proposal", "tab:purple"),
                                       ("alt4", "4-layer teacher alternative", "tab:blue")):
                r = b[key]
                ax.errorbar(r["exact_mean"], r["size_mean"] / 1e6, xerr=2 * r["exact_sd"],
                            fmt="D", color=colour, capsize=3, ms=6, zorder=4,
                            label=f"{label}: {r['n_layers']}L {r['init']}, mean +- 2 sd, "
                                  f"log EHVI {r['log_ehvi']:.1f}")
            ax.axvline(j["threshold"], color="k", ls="--", lw=0.8)
            ax.set_xlim(j["threshold"] - 25, top_exact)
            ax.set_ylim(12.0, j["ref"]["num_parameters"] / 1e6 + 0.3)
            ax.axhline(j["ref"]["num_parameters"] / 1e6, color="k", ls=":", lw=0.8)
            ax.set_title(f"{name}: trial {p['trial']}, strips shaded by EHVI share")
            ax.legend(fontsize=7, loc="upper left")
        ax.set_xlabel("exact (%)")
        ax.set_ylabel("num_parameters (millions)")

        ax = axes[1, col]
        labels = [f"{q['trial']}\n{q['params']['n_layers']}L" for q in props]
        beyond = np.array([q["strip_summary"]["beyond_depth_best"] for q in props])
        ax.bar(range(len(props)), beyond, color="tab:red",
               label="needs exact above the best seen at its depth")
        ax.bar(range(len(props)), 1 - beyond, bottom=beyond, color="tab:grey",
               label="reachable within what its depth has shown")
        ax.set_xticks(range(len(props)))
        ax.set_xticklabels(labels, fontsize=7)
        ax.set_ylim(0, 1)
        ax.set_ylabel("share of the proposal's EHVI")
        ax.set_title(f"{name}: sampled proposals (trial, depth)")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- markdown
def _f(v: Any, fmt: str = ".2f") -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "-inf" if v < 0 else "inf"
    return format(v, fmt)


def _band(st: dict[str, Any]) -> str:
    hi = "top" if st["exact_to"] is None else f"{st['exact_to']:.1f}"
    return (f"{st['exact_from']:.1f}-{hi}, < {st['size_below'] / 1e6:.2f}M "
            f"({st['share']:.2f}, z {st['z_needed']:.2f})")


def summarise(j: dict[str, Any]) -> dict[str, Any]:
    """Medians and counts over a journal's sampled proposals, for the prose."""
    props = j["proposals"]
    base = [p["fixes"]["baseline"] for p in props]
    thr = j["threshold"]
    one = [p for p in props if p["params"]["n_layers"] == 1]

    def flips(fix: str) -> int:
        return sum(p["fixes"][fix]["alt4"]["log_ehvi"] > p["fixes"][fix]["proposal"]["log_ehvi"]
                   for p in props)

    def grid_deep(fix: str) -> int:
        return sum(p["fixes"][fix]["grid_best"]["n_layers"] >= 3 for p in props)

    p_clear = [0.5 * math.erfc(-(b["proposal"]["exact_mean"] - thr)
                               / (math.sqrt(2) * max(b["proposal"]["exact_sd"], 1e-12)))
               for b in base]
    out = {
        "n": len(props), "n_one_layer": len(one),
        "median_prop_mean": float(np.median([b["proposal"]["exact_mean"] for b in base])),
        "median_prop_sd": float(np.median([b["proposal"]["exact_sd"] for b in base])),
        "median_p_clear": float(np.median(p_clear)),
        "median_alt4_mean": float(np.median([b["alt4"]["exact_mean"] for b in base])),
        "median_alt4_sd": float(np.median([b["alt4"]["exact_sd"] for b in base])),
        "median_best_mean": float(np.median([b["best"]["exact_mean"] for b in base])),
        "median_small_share": float(np.median([p["strip_summary"]["small_corner"]
                                               for p in props])),
        "median_beyond_one": float(np.median([p["strip_summary"]["beyond_depth_best"]
                                              for p in one])) if one else float("nan"),
        "median_z_one": float(np.median([p["strip_summary"]["dominant"]["z_needed"]
                                         for p in one])) if one else float("nan"),
        "median_dominant_share_one": float(np.median([
            p["strip_summary"]["dominant"]["share"] for p in one])) if one else float("nan"),
        "median_one_sd": float(np.median([p["fixes"]["baseline"]["proposal"]["exact_sd"]
                                          for p in one])) if one else float("nan"),
        "median_one_mean": float(np.median([p["fixes"]["baseline"]["proposal"]["exact_mean"]
                                            for p in one])) if one else float("nan"),
        "median_gap": float(np.median([b["proposal"]["log_ehvi"] - b["alt4"]["log_ehvi"]
                                       for b in base])),
        "median_size_sd_prop": float(np.median([b["proposal"]["size_sd"] for b in base])),
        "median_size_sd_alt4": float(np.median([b["alt4"]["size_sd"] for b in base])),
        "median_front": float(np.median([len(p["front"]) for p in props])),
        "median_noise_sd": float(np.median([p["hyper_exact"]["noise_sd_units"]
                                            for p in props])),
        "flips": {f: flips(f) for f in FIXES},
        "grid_deep": {f: grid_deep(f) for f in FIXES},
    }
    if props and "repropose" in props[0]:
        out["repropose_deep"] = {w: sum(p["repropose"][w]["n_layers"] >= 3 for p in props)
                                 for w in REPROPOSE}
        out["repropose_teacher"] = {w: sum(p["repropose"][w]["init"] == "teacher"
                                           for p in props) for w in REPROPOSE}
    if props and "options" in props[0]:
        out["options_deep"] = {o: sum(p["options"][o]["n_layers"] >= 3 for p in props)
                               for o in OPTIONS}
        out["options_teacher"] = {o: sum(p["options"][o]["init"] == "teacher" for p in props)
                                  for o in OPTIONS}
    out["reproduced"] = sum(p["reproduction"]["same_discrete"] for p in props)
    return out


def depth_outcomes(j: dict[str, Any], choices: Sequence[dict[str, Any]]
                   ) -> tuple[float, float]:
    """What the whole run's students with the chosen depth and init scored: the mean over
    ``choices`` of their mean exact, and of their share above the threshold (NaN where the
    run has no such student)."""
    rows = {(r["n_layers"], r["init"]): r for r in j["observed_by_depth"]}
    means, above = [], []
    for c in choices:
        r = rows.get((c["n_layers"], c["init"]))
        means.append(r["mean"] if r else math.nan)
        above.append(r["above"] / r["n"] if r else math.nan)
    return float(np.mean(means)), float(np.mean(above))


def options_markdown(j: dict[str, Any], s: dict[str, Any]) -> list[str]:
    """The report's tables of the proposer's opt-in options on the replayed states."""
    props = j["proposals"]
    md = ["", "The proposer with its opt-in options (`Proposer(known=..., warp=...)`) on the "
          "journal's own inputs (same rng stream). Predicted exact: the GP's median at the "
          "proposal and its +-1 sd band, mapped back to EM through the warp's inverse. Run "
          "at depth/init: the whole run's students with the proposal's n_layers and init, "
          "mean exact and share above the threshold, averaged over the states.", "",
          "| options | what | proposals with n_layers >= 3 | init = teacher "
          "| median predicted exact | run at depth/init: mean exact | above threshold |",
          "|---|---|---|---|---|---|---|"]
    as_run = depth_outcomes(j, [p["params"] for p in props])
    md.append(f"| journal (as run) | no options "
              f"| {sum(p['params']['n_layers'] >= 3 for p in props)}/{s['n']} "
              f"| {sum(p['params']['init'] == 'teacher' for p in props)}/{s['n']} "
              f"| {s['median_prop_mean']:.1f} | {as_run[0]:.1f} | {as_run[1]:.0%} |")
    for o in OPTIONS:
        chosen = [p["options"][o] for p in props]
        mean, above = depth_outcomes(j, chosen)
        md.append(f"| {o} | {OPTION_NOTES[o]} | {s['options_deep'][o]}/{s['n']} "
                  f"| {s['options_teacher'][o]}/{s['n']} "
                  f"| {np.median([c['exact_median'] for c in chosen]):.1f} "
                  f"| {mean:.1f} | {above:.0%} |")
    md += ["", "| trial | " + " | ".join(OPTIONS) + " |", "|---|" + "---|" * len(OPTIONS)]
    for p in props:
        md.append(f"| {p['trial']} | " + " | ".join(
            f"{p['options'][o]['n_layers']}L {p['options'][o]['init']}" for o in OPTIONS)
            + " |")
    md += ["", "Predicted exact at each option's proposal, median (+-1 sd band), EM:", "",
           "| trial | " + " | ".join(OPTIONS) + " |", "|---|" + "---|" * len(OPTIONS)]
    for p in props:
        md.append(f"| {p['trial']} | " + " | ".join(
            f"{p['options'][o]['exact_median']:.1f} ({p['options'][o]['exact_low']:.1f}"
            f"-{p['options'][o]['exact_high']:.1f})" for o in OPTIONS) + " |")
    return md


def write_markdown(data: dict[str, Any], path: Path) -> None:
    """The report, every number read from ``data``."""
    md = ["# Distillation study: why model proposals pile into 1-layer students", "",
          f"Generated by `benchmarks/distill_diagnosis.py` in {data['seconds']:.0f} s "
          f"(every {data['stride']}-th model proposal of each journal).", ""]
    for name, j in data["journals"].items():
        s = summarise(j)
        md += [f"## {name}", "",
               f"`{j['path']}`: {j['n_trials']} trials, {j['n_model_proposals']} model "
               f"proposals; threshold exact = {j['threshold']:.4f}; reference "
               f"num_parameters = {j['ref']['num_parameters']:,.0f} (teacher: "
               f"{j['teacher_size']:,.0f}); closed-form num_parameters matches "
               f"{j['size_closed_form_matches'][0]}/{j['size_closed_form_matches'][1]} "
               f"observed values. Replayed proposals with the same discrete choices as the "
               f"journal: {s['reproduced']}/{s['n']}.", "",
               "### Observed exact by depth and init", "",
               "| n_layers | init | trials | mean | max | above threshold | below threshold |",
               "|---|---|---|---|---|---|---|"]
        md += [f"| {r['n_layers']} | {r['init']} | {r['n']} | {r['mean']:.1f} | {r['max']:.1f} "
               f"| {r['above']} | {r['below']} |" for r in j["observed_by_depth"]]
        md += ["", "### Sampled proposals (baseline surrogate)", "",
               "| trial | n_layers | heads | init | observed exact | exact mean +- sd "
               "| num_parameters mean +- sd (closed form) | log EHVI | 4-layer alt: exact "
               "mean +- sd | 4-layer alt log EHVI | dominant strip: exact band, size below "
               "(share, z needed) | share beyond best at its depth |",
               "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for p in j["proposals"]:
            b = p["fixes"]["baseline"]
            pr, a4 = b["proposal"], b["alt4"]
            md.append(
                f"| {p['trial']} | {pr['n_layers']} | {pr['n_heads']} | {pr['init']} "
                f"| {_f(p['observed_exact'])} | {_f(pr['exact_mean'])} +- {_f(pr['exact_sd'])} "
                f"| {pr['size_mean'] / 1e6:.3f}M +- {pr['size_sd'] / 1e3:.1f}k "
                f"({pr['size_closed'] / 1e6:.3f}M) | {_f(pr['log_ehvi'])} "
                f"| {_f(a4['exact_mean'])} +- {_f(a4['exact_sd'])} | {_f(a4['log_ehvi'])} "
                f"| {_band(p['strip_summary']['dominant'])} "
                f"| {p['strip_summary']['beyond_depth_best']:.2f} |")
        md += ["", "### Remedies scored on the replayed states", "",
               "log EHVI(proposal) - log EHVI(4-layer teacher alternative); in brackets the "
               "depth/init that maximises log EHVI over n_layers 1-6 x init (other "
               "parameters of the proposal, layer_choice spaced).", "",
               "| trial | " + " | ".join(FIXES) + " |",
               "|---|" + "---|" * len(FIXES)]
        for p in j["proposals"]:
            cells = []
            for f in FIXES:
                r = p["fixes"][f]
                g = r["grid_best"]
                cells.append(f"{_f(r['proposal']['log_ehvi'] - r['alt4']['log_ehvi'], '.1f')}"
                             f" ({g['n_layers']}L {g['init'][0]})")
            md.append(f"| {p['trial']} | " + " | ".join(cells) + " |")
        md += ["", "| remedy | what | 4-layer alt outranks the proposal | best depth >= 3 |",
               "|---|---|---|---|"]
        for f in FIXES:
            md.append(f"| {f} | {FIX_NOTES[f]} | {s['flips'][f]}/{s['n']} "
                      f"| {s['grid_deep'][f]}/{s['n']} |")
        if "repropose_deep" in s:
            md += ["", "The unchanged proposer rerun on modified inputs (same rng stream):", "",
                   "| inputs | proposals with n_layers >= 3 | init = teacher |",
                   "|---|---|---|"]
            md.append(f"| journal (as run) | "
                      f"{sum(p['params']['n_layers'] >= 3 for p in j['proposals'])}/{s['n']} "
                      f"| {sum(p['params']['init'] == 'teacher' for p in j['proposals'])}"
                      f"/{s['n']} |")
            for w in REPROPOSE:
                md.append(f"| {w} | {s['repropose_deep'][w]}/{s['n']} "
                          f"| {s['repropose_teacher'][w]}/{s['n']} |")
            md += ["", "| trial | " + " | ".join(REPROPOSE) + " |",
                   "|---|" + "---|" * len(REPROPOSE)]
            for p in j["proposals"]:
                md.append(f"| {p['trial']} | " + " | ".join(
                    f"{p['repropose'][w]['n_layers']}L {p['repropose'][w]['init']}"
                    for w in REPROPOSE) + " |")
        if "options_deep" in s:
            md += options_markdown(j, s)
        e = j["end"]
        h = e["hyper_exact"]
        hc = e["hyper_exact_clamped"]
        md += ["", "### The exact GP at the end of the run", "",
               "| fit | noise (std.) | noise sd (EM) | outputscale | ls n_layers | "
               "ls init | ls learning_rate | ls layer_choice |",
               "|---|---|---|---|---|---|---|---|"]
        for label, hh in (("as the proposer", h), ("clamped", hc)):
            md.append(f"| {label} | {hh['noise']:.4f} | {hh['noise_sd_units']:.2f} "
                      f"| {hh['outputscale']:.3f} | {hh['ls_n_layers']:.3f} "
                      f"| {', '.join(f'{v:.3f}' for v in hh['ls_init'])} "
                      f"| {hh['ls_learning_rate']:.3f} "
                      f"| {', '.join(f'{v:.2f}' for v in hh['ls_layer_choice'])} |")
        md += ["", "Leave-one-out calibration of exact (observed minus LOO mean, in LOO sd):", "",
               "| fit | group | n | observed mean | LOO mean | RMSE | mean sd | z mean "
               "| z sd | coverage +-2 sd |", "|---|---|---|---|---|---|---|---|---|---|"]
        for label, cal in (("as the proposer", e["calibration"]),
                           ("clamped", e["calibration_clamped"])):
            for g in ("plateau", "below", "above", "one_layer", "teacher_3plus", "all"):
                c = cal[g]
                if not c["n"]:
                    md.append(f"| {label} | {g} | 0 | | | | | | | |")
                    continue
                md.append(f"| {label} | {g} | {c['n']} | {c['observed_mean']:.2f} "
                          f"| {c['predicted_mean']:.2f} | {c['rmse']:.2f} | {c['mean_sd']:.2f} "
                          f"| {c['z_mean']:.2f} | {c['z_sd']:.2f} | {c['coverage_2sd']:.0%} |")
        sg = e["size_gp"]
        md += ["", "### The num_parameters GP against its closed form", "",
               f"Noise variance (standardised) {sg['noise']:.2e} = sd {sg['noise_sd_params']:,.0f}"
               f" parameters; lengthscales n_layers {sg['lengthscale_n_layers']:.2f}, n_heads "
               f"{sg['lengthscale_n_heads']:.2f}; {sg['distinct_observed_pairs']} distinct "
               f"(n_layers, n_heads) pairs observed. LOO: max |error| "
               f"{sg['loo_max_abs_err']:,.0f}, mean sd {sg['loo_mean_sd']:,.0f}. Over all 72 "
               f"(n_layers, n_heads) pairs: max |mean - closed form| "
               f"{sg['grid_max_abs_err']:,.0f}, max sd {sg['grid_max_sd']:,.0f}, mean sd "
               f"{sg['grid_mean_sd']:,.0f} (one head of one layer = {sg['one_head_step']:,.0f}"
               f" parameters). At the sampled proposals the median sd was "
               f"{s['median_size_sd_prop']:,.0f} (4-layer alternative: "
               f"{s['median_size_sd_alt4']:,.0f}).", ""]
        md += ["### Why the 1-layer corner won", "", why_paragraph(j, s), ""]
    path.write_text("\n".join(md))


def why_paragraph(j: dict[str, Any], s: dict[str, Any]) -> str:
    """Plain-language explanation with this journal's numbers filled in."""
    thr = j["threshold"]
    cal, calc = j["end"]["calibration"], j["end"]["calibration_clamped"]
    one = np.array([t["exact"] for t in j["trials"] if t["exact"] is not None
                    and t["n_layers"] == 1])
    kept = one[one >= thr - PLATEAU_TOL]
    rep = representative(j["proposals"])
    if rep is None or not len(one):
        return "No sampled proposal is a 1-layer student."
    dom = rep["strip_summary"]["dominant"]
    b = rep["fixes"]["baseline"]
    as_run = sum(p["params"]["n_layers"] >= 3 for p in j["proposals"])
    fits = ("is too big for" if b["alt4"]["size_closed"] >= dom["size_below"]
            else "is small enough for")
    text = (
        f"{s['n_one_layer']} of the {s['n']} sampled proposals are 1-layer students. The "
        f"surrogate predicted their exact at a median {s['median_one_mean']:.1f} +- "
        f"{s['median_one_sd']:.1f} EM, although the run's {len(one)} 1-layer students never "
        f"exceeded {one.max():.1f} EM (those not collapsed: {kept.mean():.2f} +- "
        f"{kept.std():.2f} EM). A median {s['median_beyond_one']:.0%} of their EHVI needs an "
        f"exact above the best 1-layer student seen so far: it sits in the front's gap "
        f"between the plateau students and the first learning students. At trial "
        f"{rep['trial']} (the median case) {dom['share']:.0%} of the proposal's EHVI came "
        f"from the strip exact {dom['exact_from']:.1f}-"
        f"{'top' if dom['exact_to'] is None else format(dom['exact_to'], '.1f')}, "
        f"num_parameters below {dom['size_below'] / 1e6:.2f}M, which the proposal "
        f"({b['proposal']['size_closed'] / 1e6:.2f}M) enters {dom['z_needed']:.2f} sd above "
        f"its predicted mean, with a saving of "
        f"{(dom['size_below'] - b['proposal']['size_closed']) / 1e6:.1f}M parameters; the "
        f"4-layer teacher alternative ({b['alt4']['size_closed'] / 1e6:.2f}M, predicted "
        f"{b['alt4']['exact_mean']:.1f} +- {b['alt4']['exact_sd']:.1f}) "
        f"{fits} that strip and had a log EHVI "
        f"{b['proposal']['log_ehvi'] - b['alt4']['log_ehvi']:.1f}"
        f" nats lower (median over the sampled states: {s['median_gap']:.1f}). "
        f"The several-EM sd of a 1-layer student is borrowed from the rest of the space: one "
        f"stationary kernel with one outputscale fits both the flat 1-layer plateau and the "
        f"60-EM swings of teacher students, and it fits the collapsed students below the "
        f"threshold ({cal['below']['n']} of them, worth nothing to the hypervolume) like any "
        f"other value. At the end of the run the 1-layer LOO RMSE is "
        f"{cal['one_layer']['rmse']:.2f} EM with a mean sd of {cal['one_layer']['mean_sd']:.2f};"
        f" with values below the threshold clamped to it, {calc['one_layer']['rmse']:.2f} EM "
        f"and {calc['one_layer']['mean_sd']:.2f}, but the clamped fit is then overconfident on "
        f"the teacher students with 3+ layers (coverage of +-2 sd "
        f"{calc['teacher_3plus']['coverage_2sd']:.0%}, z sd "
        f"{calc['teacher_3plus']['z_sd']:.1f}; as fitted {cal['teacher_3plus']['coverage_2sd']:.0%}"
        f" and {cal['teacher_3plus']['z_sd']:.1f}). Scored on the replayed states, the 4-layer "
        f"alternative outranks the proposal in {s['flips']['baseline']}/{s['n']} states as fitted, "
        f"{s['flips']['clamp']}/{s['n']} with clamping, {s['flips']['known_size']}/{s['n']} with "
        f"num_parameters known, {s['flips']['fixed_ref']}/{s['n']} with the teacher-size "
        f"reference and {s['flips']['rank_warp']}/{s['n']} with a rank warp of exact."
    )
    if "repropose_deep" in s:
        text += (
            f" Rerun on modified inputs, the unchanged proposer picks 3+ layers in "
            f"{s['repropose_deep']['clamp']}/{s['n']} states with clamping, "
            f"{s['repropose_deep']['fixed_ref']}/{s['n']} with the teacher-size reference, "
            f"{s['repropose_deep']['rank_warp']}/{s['n']} with the rank warp (init=teacher "
            f"{s['repropose_teacher']['rank_warp']}/{s['n']}) and "
            f"{s['repropose_deep']['noisy']}/{s['n']} in noisy mode (as run: {as_run}/{s['n']}).")
    if "options_deep" in s:
        deep, teacher = s["options_deep"], s["options_teacher"]
        text += (
            " With its opt-in options on the journal's own inputs, the proposer picks 3+ "
            "layers in " + ", ".join(f"{deep[o]}/{s['n']} with {o} (init=teacher "
                                     f"{teacher[o]}/{s['n']})" for o in OPTIONS) + ".")
    text += (
        f" num_parameters is not the cause: its GP sd at the proposals is a median "
        f"{s['median_size_sd_prop']:,.0f} parameters, a fraction of one head of one layer "
        f"({j['end']['size_gp']['one_head_step']:,.0f}).")
    return text


# --------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> None:
    """Command line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--journals", nargs="+", type=Path, required=True)
    ap.add_argument("--out-json", type=Path, required=True)
    ap.add_argument("--out-md", type=Path, required=True)
    ap.add_argument("--figures", type=Path, required=True)
    ap.add_argument("--sample", type=int, default=10,
                    help="analyse every K-th model proposal of each journal")
    ap.add_argument("--no-repropose", action="store_true",
                    help="skip rerunning the proposer (on modified inputs and with its "
                         "opt-in options)")
    args = ap.parse_args(argv)
    if args.sample < 1:
        ap.error("--sample: must be >= 1")
    t0 = time.perf_counter()
    data: dict[str, Any] = {"stride": args.sample, "journals": {},
                            "command": command_line("benchmarks.distill_diagnosis", argv),
                            **stamp_fields(FILES["distill_diagnosis.json"])}
    for path in args.journals:
        name = path.stem
        data["journals"][name] = analyse_journal(path, args.sample, not args.no_repropose)
        print(f"{name}: {time.perf_counter() - t0:.0f} s", flush=True)
    data["seconds"] = time.perf_counter() - t0
    args.out_json.parent.mkdir(parents=True, exist_ok=True)
    args.out_json.write_text(json.dumps(data, indent=1))
    args.figures.mkdir(parents=True, exist_ok=True)
    figure_observed(data, args.figures / "observed_exact_by_depth.png")
    figure_loo(data, args.figures / "loo_exact.png")
    figure_proposals(data, args.figures / "proposals_vs_4layer.png")
    figure_strips(data, args.figures / "ehvi_split.png")
    args.out_md.parent.mkdir(parents=True, exist_ok=True)
    write_markdown(json.loads(args.out_json.read_text()), args.out_md)


if __name__ == "__main__":
    main()
