"""Figures of a study, read from its journal: Pareto front, hypervolume, timeline, importance,
posterior slice.

``python -m mobo.plot JOURNAL --out DIR`` writes five figures of the study recorded in
``JOURNAL`` (the same functions are importable):

- ``pareto``: every completed trial in objective space. Trials that meet every threshold
  and outcome constraint and that no other such trial dominates
  (:meth:`mobo.Study.pareto_front`) are coloured and labelled with their trial number, the
  other trials that meet them are grey, trials not strictly better than a threshold are
  marked with a cross, and trials that break an outcome constraint with a triangle.
  Thresholds are drawn as dashed lines and an inferred reference point as dotted ones.
  With three or more objectives every pair gets a panel; dominance is always judged in
  all objectives.
- ``hypervolume``: the hypervolume of the feasible completed trials after each finished
  trial, in the order trials finished, with respect to the study's reference point (Zitzler &
  Thiele, 1998), each step marked by where its trial came from (initial design or model).
- ``timeline``: one bar per trial from its start to its end, coloured by outcome, preceded
  by the time its proposal took; parallel runs show as overlapping bars.
- ``importance``: how strongly each objective's surrogate depends on each parameter,
  measured by automatic relevance determination (MacKay, 1994; Neal, 1996): a GP with
  the optimizer's own model (:func:`mobo.gp.fit_gp`, Matern-5/2 ARD, MAP) is fitted to the
  completed trials in the encoded unit cube, and a parameter's importance is the kernel
  distance its whole range spans, ``1 / lengthscale`` (for a categorical, the largest
  ``sqrt(1/l_a^2 + 1/l_b^2)`` over two of its one-hot columns), shown as shares summing
  to one per objective. It says how fast the fitted function varies along a parameter,
  not how much of the variance the parameter explains, and with few trials many
  lengthscales stay near their prior.
- ``slice``: the surrogate's posterior along the most important parameter (the largest
  mean importance share), one panel per objective: the mean and +-2 standard deviations
  of the latent function (Rasmussen & Williams 2006, ch. 2) in the objective's own units,
  from the GP the study's next proposal fits (:meth:`mobo.Study.surrogate`), with every
  other parameter held at the encoded value of the first trial of the Pareto front (the
  best trial for one objective), and the completed trials' values drawn against the
  parameter. Trials differ in the other parameters too, so they need not lie within the
  band; an integer parameter is drawn on its continuous relaxation, a categorical one at
  each choice.

Reading never modifies the journal: it is replayed with :meth:`mobo.Study.read` (no lock,
no events written, a torn last line skipped), so a journal that a running study is still
writing can be plotted. Figures are built on :class:`matplotlib.figure.Figure` objects
directly (no pyplot, no global backend) and saved without timestamps or software versions,
so the same journal gives the same bytes.

Bad input (a missing or damaged journal, an output path that is a file, an unknown
format) ends the command with one ``error: ...`` line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import EngFormatter

from mobo.space import Categorical, Space
from mobo.study import Study
from mobo.trial import Trial
from mobo.volume import hypervolume

__all__ = [
    "FIGURES",
    "Importance",
    "ParetoView",
    "PosteriorSlice",
    "classify",
    "hypervolume_trace",
    "main",
    "parameter_importance",
    "plot_hypervolume",
    "plot_importance",
    "plot_pareto",
    "plot_posterior_slice",
    "plot_timeline",
    "posterior_slice",
    "save_figure",
    "write_figures",
]

# the figures write_figures() produces, in this order, named by their file stem
FIGURES = ("pareto", "hypervolume", "timeline", "importance", "slice")
FORMATS = ("png", "svg")

_FRONT = "#1f77b4"
_DOMINATED = "0.7"
_BELOW = "#d62728"
_INFEASIBLE = "#ff7f0e"
_THRESHOLD = "#d62728"
_REFERENCE = "0.35"
_STATUS_COLOURS = {"completed": "#1f77b4", "failed": "#d62728", "abandoned": "#ff7f0e",
                   "running": "0.6"}
_SOURCE_COLOURS = {"sobol": "0.55", "model": "#1f77b4", "requeue": "#ff7f0e"}
_SOURCE_NAMES = {"sobol": "trial from the initial design (Sobol)",
                 "model": "trial proposed by the model",
                 "requeue": "trial asked again after an abandon"}
_REFERENCE_MARKERS = ("*", "D", "P", "X", "s", "^")
_DPI = 150
# a fixed salt makes the ids matplotlib writes into SVG files reproducible
_SVG_SALT = "mobo.plot"


# ---------------------------------------------------------------------------- helpers
def _values(trial: Trial, names: Sequence[str]) -> np.ndarray:
    assert trial.values is not None
    return np.array([float(trial.values[n]) for n in names])  # type: ignore[arg-type]


def _meets_thresholds(study: Study, trial: Trial) -> bool:
    """Strictly better than every threshold, the rule of :meth:`Study.pareto_front`."""
    assert trial.values is not None
    for o in study.objectives:
        if o.threshold is None:
            continue
        v = float(trial.values[o.name])  # type: ignore[arg-type]
        if not (v > o.threshold if o.maximize else v < o.threshold):
            return False
    return True


def _axis_label(study: Study, j: int) -> str:
    o = study.objectives[j]
    return f"{o.name} ({'maximised' if o.maximize else 'minimised'})"


def _format_axis(axis: Any, values: np.ndarray) -> None:
    # parameter counts and other large numbers read better as 20.5M than as 2.05e7
    finite = values[np.isfinite(values)]
    if len(finite) and float(np.max(np.abs(finite))) >= 1e4:
        axis.set_major_formatter(EngFormatter(sep=""))


def _number(value: float) -> str:
    """Four significant digits, large values with an SI suffix (22.85M rather than 2.285e+07)."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e4, "k")):
        if abs(value) >= scale:
            return f"{value / (1e3 if suffix == 'k' else scale):.4g}{suffix}"
    return f"{value:.4g}"


def _reference(study: Study) -> tuple[dict[str, float], list[str]]:
    """The study's reference point (user's terms) and which coordinates were inferred.

    A study that has not inferred its reference yet gets one for the plot by the study's
    own rule (nadir + 10% of the range of the completed trials), flagged as inferred.
    """
    inferred = [o.name for o in study.objectives if o.threshold is None]
    ref = study.ref_point
    if ref is not None:
        return ref, inferred
    completed = [t for t in study.trials if t.status == "completed"]
    # like the study, infer from the feasible trials when there are some
    done = [t for t in completed if t.feasible is not False] or completed
    out: dict[str, float] = {}
    for o in study.objectives:
        if o.threshold is not None:
            out[o.name] = o.threshold
            continue
        if not done:
            out[o.name] = math.nan
            continue
        y = np.array([float(t.values[o.name]) for t in done]) * o.sign()  # type: ignore[index]
        nadir, span = float(y.max()), float(y.max() - y.min())
        margin = 0.1 * span if span > 0 else 0.1 * max(abs(nadir), 1.0)
        out[o.name] = (nadir + margin) * o.sign()
    return out, inferred


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _status_counts(study: Study) -> str:
    counts: dict[str, int] = {}
    for t in study.trials:
        counts[t.status] = counts.get(t.status, 0) + 1
    order = ("completed", "failed", "abandoned", "running")
    return ", ".join(f"{counts[s]} {s}" for s in order if counts.get(s))


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> Path:
    """Save ``fig`` as PNG or SVG (by suffix) with no timestamp or software version.

    The same figure gives the same bytes on every run with the same matplotlib and fonts.
    """
    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    if suffix == "png":
        fig.savefig(path, dpi=_DPI, metadata={"Software": None})
    elif suffix == "svg":
        with matplotlib.rc_context({"svg.hashsalt": _SVG_SALT}):
            fig.savefig(path, metadata={"Date": None, "Creator": None})
    else:
        raise ValueError(f"{path}: unsupported figure format {suffix!r} "
                         f"(expected one of {', '.join(FORMATS)})")
    return path


# ---------------------------------------------------------------------------- Pareto front
@dataclass(frozen=True)
class ParetoView:
    """The trials of a study sorted into the groups the Pareto figure draws.

    Attributes:
        front: completed, feasible, meeting every threshold, and dominated by no other
            such trial.
        dominated: completed, feasible, meeting every threshold, dominated by a trial of
            ``front``.
        below_threshold: completed and feasible but not strictly better than some threshold.
        infeasible: completed but breaking an outcome constraint.
        failed: failed trials (no objective values to place).
        unfinished: running or abandoned trials.
    """

    front: list[Trial]
    dominated: list[Trial]
    below_threshold: list[Trial]
    infeasible: list[Trial]
    failed: list[Trial]
    unfinished: list[Trial]


def classify(study: Study) -> ParetoView:
    """Sort the study's trials into the groups of :class:`ParetoView`."""
    front = study.pareto_front()
    on_front = {t.number for t in front}
    dominated: list[Trial] = []
    below: list[Trial] = []
    infeasible: list[Trial] = []
    failed: list[Trial] = []
    unfinished: list[Trial] = []
    for t in study.trials:
        if t.status == "completed":
            if t.number in on_front:
                continue
            if t.feasible is False:
                infeasible.append(t)
            else:
                (dominated if _meets_thresholds(study, t) else below).append(t)
        elif t.status == "failed":
            failed.append(t)
        else:
            unfinished.append(t)
    return ParetoView(front, dominated, below, infeasible, failed, unfinished)


def _staircase(study: Study, front: Sequence[Trial], i: int, j: int) -> np.ndarray:
    """The attainment boundary of a 2-objective front, in the user's terms, as a polyline."""
    names = [study.objectives[i].name, study.objectives[j].name]
    signs = np.array([study.objectives[i].sign(), study.objectives[j].sign()])
    Y = np.array([_values(t, names) for t in front]) * signs  # minimised internally
    Y = Y[np.lexsort((Y[:, 1], Y[:, 0]))]
    pts = [Y[0]]
    for k in range(1, len(Y)):
        pts.append(np.array([Y[k, 0], Y[k - 1, 1]]))
        pts.append(Y[k])
    return np.array(pts) * signs


def plot_pareto(
    study: Study,
    *,
    references: Mapping[str, Mapping[str, float]] | None = None,
    label: Sequence[int] | None = None,
    title: str | None = None,
) -> Figure:
    """The Pareto-front figure of ``study``.

    Args:
        study: the study (e.g. from :meth:`Study.read`).
        references: named points to mark for comparison, e.g. ``{"teacher": {"exact":
            98.2, "num_parameters": 2.2e7}}``, each giving a value for every objective.
        label: trial numbers to label; default the Pareto front.
        title: the figure title; default a summary of the trials.
    """
    names = [o.name for o in study.objectives]
    m = len(names)
    references = dict(references or {})
    for ref_name, point in references.items():
        missing = [n for n in names if n not in point]
        if missing:
            raise ValueError(f"references[{ref_name!r}]: missing objective(s) {missing}")
    view = classify(study)
    labelled = {t.number for t in view.front} if label is None else {int(n) for n in label}
    ref, inferred = _reference(study)

    pairs = [(0, 1)] if m == 2 else [(i, j) for i in range(m) for j in range(i + 1, m)]
    if m == 1:
        pairs = [(0, 0)]
    ncols = min(3, len(pairs))
    nrows = math.ceil(len(pairs) / ncols)
    fig = Figure(figsize=(6.4 if ncols == 1 else 4.2 * ncols, 4.6 if nrows == 1 else 3.8 * nrows),
                 layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(pairs):]:
        ax.set_visible(False)

    groups = (
        (view.dominated, dict(color=_DOMINATED, marker="o", s=18, zorder=2),
         "dominated"),
        (view.below_threshold, dict(color=_BELOW, marker="x", s=22, linewidths=1.0, zorder=2,
                                    alpha=0.7), "below a threshold"),
        (view.infeasible, dict(color=_INFEASIBLE, marker="^", s=20, zorder=2, alpha=0.7),
         "breaks a constraint"),
        (view.front, dict(color=_FRONT, marker="o", s=36, edgecolors="black",
                          linewidths=0.6, zorder=4), "Pareto front"),
    )
    completed = view.front + view.dominated + view.below_threshold + view.infeasible
    for ax, (i, j) in zip(axes, pairs, strict=False):
        if not completed and not references:
            _empty(ax, "no completed trials yet")
            continue
        one = m == 1

        def coords(trials: Sequence[Trial], i: int = i, j: int = j,
                   one: bool = one) -> tuple[np.ndarray, np.ndarray]:
            if not trials:
                return np.zeros(0), np.zeros(0)
            if one:
                return (np.array([t.number for t in trials], dtype=float),
                        np.array([_values(t, [names[0]])[0] for t in trials]))
            V = np.array([_values(t, [names[i], names[j]]) for t in trials])
            return V[:, 0], V[:, 1]

        for trials, style, name in groups:
            x, y = coords(trials)
            if len(x):
                ax.scatter(x, y, label=f"{name} ({len(x)})", **style)
        if m == 2 and len(view.front) > 1:
            stairs = _staircase(study, view.front, i, j)
            ax.plot(stairs[:, 0], stairs[:, 1], color=_FRONT, lw=1.0, alpha=0.6, zorder=3)
        for t in completed:
            if t.number not in labelled:
                continue
            x, y = coords([t])
            ax.annotate(f"#{t.number}", (x[0], y[0]), xytext=(4, 4),
                        textcoords="offset points", fontsize=7, zorder=5)
        # thresholds, and the coordinates of an inferred reference point
        lines = [(ax.axhline, j)] if one else [(ax.axvline, i), (ax.axhline, j)]
        for draw, k in lines:
            o = study.objectives[k]
            value = ref.get(o.name, math.nan)
            if not math.isfinite(value):
                continue
            if o.threshold is not None:
                draw(value, color=_THRESHOLD, ls="--", lw=1.0, zorder=1)
            elif o.name in inferred:
                draw(value, color=_REFERENCE, ls=":", lw=1.0, zorder=1)
        for r, (ref_name, point) in enumerate(references.items()):
            if one:
                continue
            ax.scatter([point[names[i]]], [point[names[j]]], color="black",
                       marker=_REFERENCE_MARKERS[r % len(_REFERENCE_MARKERS)], s=70, zorder=6,
                       label=ref_name)
            ax.annotate(ref_name, (point[names[i]], point[names[j]]), xytext=(5, -10),
                        textcoords="offset points", fontsize=8, zorder=6)
        if one:
            ax.set_xlabel("trial number")
            ax.set_ylabel(_axis_label(study, 0))
            _format_axis(ax.yaxis, coords(completed)[1])
        else:
            ax.set_xlabel(_axis_label(study, i))
            ax.set_ylabel(_axis_label(study, j))
            xs = [coords(completed)[0]] + [np.array([p[names[i]]]) for p in references.values()]
            ys = [coords(completed)[1]] + [np.array([p[names[j]]]) for p in references.values()]
            _format_axis(ax.xaxis, np.concatenate(xs))
            _format_axis(ax.yaxis, np.concatenate(ys))
        ax.grid(True, lw=0.3, alpha=0.5)

    handles, labels = axes[0].get_legend_handles_labels()
    if any(o.threshold is not None for o in study.objectives):
        handles.append(Line2D([], [], color=_THRESHOLD, ls="--", lw=1.0))
        labels.append("threshold")
    if inferred and any(math.isfinite(ref.get(n, math.nan)) for n in inferred) and m > 1:
        handles.append(Line2D([], [], color=_REFERENCE, ls=":", lw=1.0))
        labels.append("reference (inferred)")
    if handles:
        axes[0].legend(handles, labels, fontsize=7, loc="best", framealpha=0.85)
    if title is None:
        title = f"Pareto front: {_status_counts(study) or 'no trials'}"
        if m > 2:
            title += f" (dominance judged in all {m} objectives)"
    fig.suptitle(title, fontsize=10)
    return fig


# ---------------------------------------------------------------------------- hypervolume
def hypervolume_trace(study: Study) -> tuple[np.ndarray, np.ndarray, list[Trial]]:
    """Hypervolume of the feasible completed trials after each finished trial, in order.

    Returns ``(n_finished, hypervolume, trials)``: after the k-th finished (completed or
    failed) trial in the order they finished, ``n_finished[k] = k + 1`` and
    ``hypervolume[k]`` is the hypervolume of the completed trials among the first k + 1
    that meet every outcome constraint, as :meth:`Study.hypervolume` counts them, with
    respect to the study's reference point (or one inferred for the plot by the study's
    rule when the study has none yet).
    """
    finished = sorted((t for t in study.trials if t.done),
                      key=lambda t: (t.finished if t.finished is not None else math.inf,
                                     t.number))
    ref_user, _ = _reference(study)
    signs = np.array([o.sign() for o in study.objectives])
    ref = np.array([ref_user[o.name] for o in study.objectives]) * signs
    names = [o.name for o in study.objectives]
    hv = np.zeros(len(finished))
    rows: list[np.ndarray] = []
    for k, t in enumerate(finished):
        if t.status == "completed" and t.feasible is not False:
            rows.append(_values(t, names) * signs)
        if rows and np.all(np.isfinite(ref)):
            hv[k] = hypervolume(np.array(rows), ref)
    return np.arange(1, len(finished) + 1), hv, finished


def plot_hypervolume(study: Study, *, title: str | None = None) -> Figure:
    """The hypervolume of the feasible completed trials after each finished trial."""
    fig = Figure(figsize=(6.4, 3.8), layout="constrained")
    ax = fig.subplots()
    n, hv, trials = hypervolume_trace(study)
    ref, inferred = _reference(study)
    if not len(n):
        _empty(ax, "no finished trials yet")
    else:
        ax.step(n, hv, where="post", color="0.3", lw=1.0, zorder=2)
        for source, colour in _SOURCE_COLOURS.items():
            idx = [k for k, t in enumerate(trials) if t.source == source]
            if idx:
                ax.scatter(n[idx], hv[idx], color=colour, s=14, zorder=3,
                           label=_SOURCE_NAMES[source])
        ax.set_xlabel("finished trials (completed or failed), in the order they finished")
        ax.set_ylabel("hypervolume")
        _format_axis(ax.yaxis, hv)
        ax.grid(True, lw=0.3, alpha=0.5)
        ax.legend(fontsize=7, loc="lower right")
    parts = []
    for o in study.objectives:
        value = ref[o.name]
        text = _number(value) if math.isfinite(value) else "unknown"
        parts.append(f"{o.name} {text}" + (" (inferred)" if o.name in inferred else ""))
    fig.suptitle(title or f"Hypervolume over trials; reference: {', '.join(parts)}",
                 fontsize=9)
    return fig


# ---------------------------------------------------------------------------- timeline
def _time_unit(span: float) -> tuple[float, str]:
    if span >= 3 * 3600:
        return 3600.0, "h"
    if span >= 180:
        return 60.0, "min"
    return 1.0, "s"


def _max_concurrent(intervals: Sequence[tuple[float, float]]) -> int:
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals],
                    key=lambda e: (e[0], e[1]))  # an end before a start at the same instant
    best = cur = 0
    for _, step in events:
        cur += step
        best = max(best, cur)
    return best


def plot_timeline(study: Study, *, title: str | None = None) -> Figure:
    """One bar per trial from start to end, coloured by outcome, after its proposal time.

    A trial's bar starts when it was asked and ends when its outcome was reported; a trial
    still running extends to the journal's last timestamp.
    """
    trials = [t for t in study.trials if t.started is not None]
    height = min(max(3.0, 0.12 * len(trials) + 1.5), 14.0)
    fig = Figure(figsize=(6.4, height), layout="constrained")
    ax = fig.subplots()
    if not trials:
        _empty(ax, "no trials yet")
        fig.suptitle(title or "Trial timeline", fontsize=10)
        return fig
    stamps = [t.started for t in trials] + [t.finished for t in trials if t.finished]
    t0, t_end = min(stamps), max(stamps)  # type: ignore[type-var]
    unit, unit_name = _time_unit(float(t_end - t0))  # type: ignore[operator]
    intervals = []
    for t in trials:
        start = float(t.started) - t0  # type: ignore[arg-type]
        end = float(t.finished if t.finished is not None else t_end) - t0
        intervals.append((start, end))
        colour = _STATUS_COLOURS.get(t.status, "0.6")
        ax.barh(t.number, (end - start) / unit, left=start / unit, height=0.8, color=colour,
                hatch="//" if t.status == "running" else None, lw=0)
        ask = float(t.timings.get("ask", 0.0))
        if ask > 0:
            ax.barh(t.number, ask / unit, left=(start - ask) / unit, height=0.8, color="black",
                    lw=0)
    ax.invert_yaxis()  # trial 0 on top, as in a schedule
    ax.set_xlabel(f"time since the first trial started ({unit_name})")
    ax.set_ylabel("trial number")
    ax.grid(True, axis="x", lw=0.3, alpha=0.5)
    present = [s for s in _STATUS_COLOURS if any(t.status == s for t in trials)]
    handles = [Patch(color=_STATUS_COLOURS[s], label=s) for s in present]
    handles.append(Patch(color="black", label="proposal (ask)"))
    ax.legend(handles=handles, fontsize=7, loc="lower right")
    wall = (t_end - t0) / unit  # type: ignore[operator]
    fig.suptitle(title or f"Trial timeline: {len(trials)} trials over {wall:.3g} {unit_name}, "
                 f"at most {_max_concurrent(intervals)} at once", fontsize=10)
    return fig


# ---------------------------------------------------------------------------- importance
@dataclass(frozen=True)
class Importance:
    """Parameter importance per objective from the fitted GP's ARD lengthscales.

    Attributes:
        parameters: parameter names, in the space's order.
        objectives: objective names.
        inverse_lengthscale: (m, p) kernel distance each parameter's range spans, per
            objective (``1 / lengthscale``; see the module docstring for categoricals).
        shares: (m, p) the same, normalised to sum to one per objective.
        n_trials: how many completed trials the GP was fitted to.
        method: one sentence saying how the numbers were obtained.
    """

    parameters: list[str]
    objectives: list[str]
    inverse_lengthscale: np.ndarray
    shares: np.ndarray
    n_trials: int
    method: str

    def order(self) -> list[int]:
        """Parameter indices, most important first (mean share over objectives; ties by name)."""
        mean = self.shares.mean(axis=0)
        return sorted(range(len(self.parameters)), key=lambda k: (-mean[k], self.parameters[k]))


def parameter_importance(study: Study) -> Importance:
    """Inverse ARD lengthscales of a GP fitted to the study's completed trials.

    The GP is the optimizer's own (:func:`mobo.gp.fit_gp` on the encoded parameters and
    the objectives in minimisation, the study's noise prior), warm-started from the last
    model the study fitted, if any. Raises ValueError with fewer than two completed trials.
    """
    # torch comes with the GP: reading a journal for the other figures does not need it
    from mobo.gp import NOISE_PRIOR, NOISY_NOISE_PRIOR, fit_gp

    done = [t for t in study.trials if t.status == "completed"]
    if len(done) < 2:
        raise ValueError(f"parameter importance needs at least 2 completed trials, "
                         f"got {len(done)}")
    names = [o.name for o in study.objectives]
    signs = np.array([o.sign() for o in study.objectives])
    X = study.space.encode_many([t.params for t in done])
    Y = np.array([_values(t, names) for t in done]) * signs
    # the last model the study fitted is the natural starting point: the fit screens it
    # against the default starts by their loss, so a poor warm start costs nothing
    warm = next((t.model_state for t in reversed(study.trials) if t.model_state), None)
    gp = fit_gp(X, Y, warm, noise_prior=NOISY_NOISE_PRIOR if study.noisy else NOISE_PRIOR)
    inv_col = 1.0 / gp.lengthscale.numpy()  # (m, d), one column per encoded dimension
    params = study.space.params
    inv = np.zeros((len(names), len(params)))
    for k, (p, cols) in enumerate(zip(params, study.space.slices, strict=True)):
        block = inv_col[:, cols]
        if isinstance(p, Categorical):
            # switching from choice a to choice b moves two one-hot columns by 1 each
            if block.shape[1] >= 2:
                sq = block**2
                top2 = np.sort(sq, axis=1)[:, -2:]
                inv[:, k] = np.sqrt(top2.sum(axis=1))
        else:
            inv[:, k] = block[:, 0]
    totals = inv.sum(axis=1, keepdims=True)
    shares = np.divide(inv, totals, out=np.zeros_like(inv), where=totals > 0)
    method = (f"inverse ARD lengthscales of a Matern-5/2 GP fitted by MAP to {len(done)} "
              "completed trials on the encoded unit cube (range of a numeric parameter = 1; "
              "a categorical counts its two most distant one-hot columns), as shares per "
              "objective")
    return Importance([p.name for p in params], names, inv, shares, len(done), method)


def plot_importance(importance: Importance, *, title: str | None = None) -> Figure:
    """Horizontal bars of each parameter's share of inverse lengthscale, per objective."""
    order = importance.order()
    p, m = len(order), len(importance.objectives)
    fig = Figure(figsize=(6.4, max(2.6, (0.16 + 0.06 * m) * p + 1.2)), layout="constrained")
    ax = fig.subplots()
    height = 0.8 / max(m, 1)
    colours = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")
    ypos = np.arange(p)
    for j, name in enumerate(importance.objectives):
        ax.barh(ypos + (j - (m - 1) / 2) * height, importance.shares[j, order], height=height,
                color=colours[j % len(colours)], label=name)
    ax.set_yticks(ypos, [importance.parameters[k] for k in order], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("share of inverse lengthscale (sums to 1 per objective)")
    ax.grid(True, axis="x", lw=0.3, alpha=0.5)
    ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(title or f"Parameter importance: inverse ARD lengthscales of the GP fitted "
                 f"to {importance.n_trials} completed trials", fontsize=9)
    return fig


# ---------------------------------------------------------------------------- posterior slice
_SLICE_POINTS = 201


@dataclass(frozen=True)
class PosteriorSlice:
    """The surrogate's posterior along one parameter, the others held at one trial's values.

    Attributes:
        parameter: the parameter swept.
        objectives: objective names.
        maximize: per objective, whether it is maximised.
        x: (g,) the parameter's values along the slice (a categorical: choice indices).
        X: (g, d) the same points in the encoded unit cube.
        mean, sd: (m, g) the latent posterior mean and standard deviation, in each
            objective's own units.
        base: the number of the trial whose other parameters are held.
        base_x: its value of the parameter (a categorical: its choice index).
        trial_x: (n,) the completed trials' values of the parameter (indices likewise).
        trial_y: (m, n) their objective values.
        choices: a categorical's choices, else None.
        log: whether the parameter is searched on a log scale.
    """

    parameter: str
    objectives: list[str]
    maximize: list[bool]
    x: np.ndarray
    X: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    base: int
    base_x: float
    trial_x: np.ndarray
    trial_y: np.ndarray
    choices: list[Any] | None
    log: bool


def _slice_base(study: Study) -> Trial:
    """The trial whose parameters a slice holds: the front's first, else a completed one."""
    front = study.pareto_front() or study.pareto_front(within_thresholds=False)
    if front:
        return front[0]
    return next(t for t in study.trials if t.status == "completed")


def posterior_slice(study: Study, importance: Importance | None = None, *,
                    points: int = _SLICE_POINTS) -> PosteriorSlice:
    """The posterior of :meth:`Study.surrogate` along the most important parameter.

    The parameter is the first of ``importance.order()`` (default
    :func:`parameter_importance` of ``study``); the other parameters are held at the
    encoding of the first trial of the Pareto front (the best trial for one objective;
    without a feasible trial, the first completed one). A numeric parameter is swept over
    ``points`` evenly spaced encoded values (its whole range), a categorical over its
    choices. Raises ValueError with fewer than two completed trials.
    """
    if importance is None:
        importance = parameter_importance(study)
    space = study.space
    k = importance.order()[0]
    param = space.params[k]
    cols = space.slices[k]
    base = _slice_base(study)
    x0 = space.encode(base.params)
    done = [t for t in study.trials if t.status == "completed"]
    if isinstance(param, Categorical):
        n_choices = len(param.choices)
        X = np.tile(x0, (n_choices, 1))
        X[:, cols] = np.eye(n_choices)
        x = np.arange(n_choices, dtype=float)
        trial_x = np.array([param.index(t.params[param.name]) for t in done], dtype=float)
        base_x = float(param.index(base.params[param.name]))
        choices: list[Any] | None = list(param.choices)
        log = False
    else:
        u = np.linspace(0.0, 1.0, points)
        X = np.tile(x0, (points, 1))
        X[:, cols.start] = u
        # the encoding is affine in the (log) value over the relaxed range (mobo.space)
        lo, hi = Space._relaxed_bounds(param)
        x = lo + u * (hi - lo)
        if param.log:
            x = np.exp(x)
        trial_x = np.array([float(t.params[param.name]) for t in done])
        base_x = float(base.params[param.name])
        choices = None
        log = bool(param.log)
    models = study.surrogate()
    names = [o.name for o in study.objectives]
    mean = np.zeros((len(names), len(X)))
    sd = np.zeros((len(names), len(X)))
    for j, name in enumerate(names):
        mean[j], var = models[name].predict(X)
        sd[j] = np.sqrt(var)
    trial_y = np.array([[float(t.values[n]) for t in done]  # type: ignore[index]
                        for n in names]).reshape(len(names), len(done))
    return PosteriorSlice(param.name, names, [o.maximize for o in study.objectives], x, X,
                          mean, sd, base.number, base_x, trial_x, trial_y, choices, log)


def plot_posterior_slice(slc: PosteriorSlice, *, title: str | None = None) -> Figure:
    """One panel per objective: posterior mean, +-2 sd band, the trials, the held trial.

    The mean is each panel's first line (``ax.lines[0]``, its data ``slc.x``,
    ``slc.mean[j]``).
    """
    m = len(slc.objectives)
    fig = Figure(figsize=(6.4, 2.4 * m + 0.9), layout="constrained")
    axes = fig.subplots(m, 1, sharex=True, squeeze=False)[:, 0]
    for j, ax in enumerate(axes):
        mean, sd = slc.mean[j], slc.sd[j]
        if slc.choices is None:
            ax.plot(slc.x, mean, color=_FRONT, lw=1.2, label="posterior mean", zorder=3)
            ax.fill_between(slc.x, mean - 2.0 * sd, mean + 2.0 * sd, color=_FRONT,
                            alpha=0.2, lw=0, label="mean +- 2 sd", zorder=1)
        else:
            ax.plot(slc.x, mean, color=_FRONT, marker="o", ls="none", label="posterior mean",
                    zorder=3)
            ax.errorbar(slc.x, mean, yerr=2.0 * sd, color=_FRONT, fmt="none", capsize=4,
                        lw=1.0, label="mean +- 2 sd", zorder=2)
        ax.scatter(slc.trial_x, slc.trial_y[j], color="0.35", s=12, zorder=4,
                   label=f"completed trials ({len(slc.trial_x)})")
        ax.set_ylabel(f"{slc.objectives[j]} "
                      f"({'maximised' if slc.maximize[j] else 'minimised'})", fontsize=8)
        _format_axis(ax.yaxis, np.concatenate([mean, slc.trial_y[j]]))
        ax.grid(True, lw=0.3, alpha=0.5)
        ax.axvline(slc.base_x, color=_REFERENCE, ls=":", lw=1.0, zorder=0,
                   label=f"trial #{slc.base} (other parameters held)")
    if slc.log:
        axes[-1].set_xscale("log")
    if slc.choices is not None:
        axes[-1].set_xticks(slc.x, [str(c) for c in slc.choices], fontsize=8)
    else:
        _format_axis(axes[-1].xaxis, slc.x)
    axes[-1].set_xlabel(slc.parameter + (" (log scale)" if slc.log else ""))
    axes[0].legend(fontsize=7, loc="best", framealpha=0.85)
    fig.suptitle(title or f"Posterior slice along {slc.parameter} (largest importance share), "
                 f"other parameters at trial #{slc.base}", fontsize=9)
    return fig


def _message_figure(title: str, text: str) -> Figure:
    fig = Figure(figsize=(6.4, 2.6), layout="constrained")
    _empty(fig.subplots(), text)
    fig.suptitle(title, fontsize=10)
    return fig


# ---------------------------------------------------------------------------- all at once
def write_figures(
    study: Study,
    out: str | os.PathLike[str],
    *,
    fmt: str = "png",
    references: Mapping[str, Mapping[str, float]] | None = None,
) -> dict[str, Path]:
    """Write every figure of :data:`FIGURES` into the folder ``out`` (created if needed).

    Returns the path of each figure by name. A study with too few completed trials for
    the importance and slice figures gets ones that say so.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"--out: {folder} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    try:
        importance = parameter_importance(study)
    except ValueError as e:
        importance_fig = _message_figure("Parameter importance", str(e))
        slice_fig = _message_figure("Posterior slice", str(e))
    else:
        importance_fig = plot_importance(importance)
        slice_fig = plot_posterior_slice(posterior_slice(study, importance))
    figures = {
        "pareto": plot_pareto(study, references=references),
        "hypervolume": plot_hypervolume(study),
        "timeline": plot_timeline(study),
        "importance": importance_fig,
        "slice": slice_fig,
    }
    return {name: save_figure(fig, folder / f"{name}.{fmt}") for name, fig in figures.items()}


# ---------------------------------------------------------------------------- command line
class _UsageError(Exception):
    """Bad command-line input: one ``error:`` line and exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m mobo.plot",
                description="Write the figures of a study from its journal: Pareto front, "
                "hypervolume over trials, trial timeline, parameter importance and a posterior "
                "slice along the most important parameter. The "
                "journal is only read, never modified.")
    p.add_argument("journal", help="the study's journal file (JSON lines)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="folder to write the figures into (created if needed)")
    p.add_argument("--format", choices=FORMATS, default="png",
                   help="figure format (default png)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mobo.plot``: returns the exit status (0, or 2 on bad input)."""
    try:
        args = _build_parser().parse_args(argv)
        path = Path(args.journal)
        if not path.exists():
            raise _UsageError(f"{path}: no such journal")
        if not path.is_file():
            raise _UsageError(f"{path}: not a journal file")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            study = Study.read(path)
        for w in caught:
            print(f"warning: {w.message}", file=sys.stderr)
        written = write_figures(study, args.out, fmt=args.format)
    except _UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ValueError as e:  # a damaged journal, an output path that is a file
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e.strerror or e}: {e.filename or args.out}", file=sys.stderr)
        return 2
    for name in FIGURES:
        print(written[name])
    return 0


if __name__ == "__main__":
    sys.exit(main())
