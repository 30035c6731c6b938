"""A cheap stand-in of the embedded distillation task, learned from its recorded trials.

A distillation trial costs seconds to minutes; an optimiser's behaviour on the task (where
its proposals go, how often they beat the no-answer threshold) is worth looking at over
many seeds and variants before a real run is spent on one. This module fits a regression
forest (extremely randomised trees, Geurts, Ernst & Wehenkel 2006, "Extremely randomized
trees") to the trials of the real task recorded in mobo journals -- the unit-cube point a
trial was asked at and the ``exact`` and ``f1`` it scored -- and serves the forest's
prediction as the black box. ``num_parameters`` is exact, not learned: the student's count
is affine in ``n_layers`` and in ``n_layers * n_heads`` (embeddings, then per layer a
pruned attention block and a feed-forward block; :func:`distill.models.num_parameters`),
so its three coefficients are solved from the journals' recorded counts and checked to
reproduce every one of them.

The stand-in is a development tool and nothing more: it keeps the real task's plateau
(collapsed students score the always-no-answer EM), its cliff and the coarse effects of
depth, heads, initialisation and learning rate, since the trees split on whatever the
trials show; it knows nothing the trials do not, it is deterministic where the real task
varies with the training draw, and it is biased toward where earlier optimisers sampled.
Settings are chosen on it and on the development seeds of the real task; every reported
figure comes from the real task (:mod:`benchmarks.distill_compare`).

Journals used by default (all of the default task, task seed 0, on this repository's CPU
runs): ``results/distill_budget200.jsonl`` and the development runs under
``results/distill_dev/``. Run it through ``python -m benchmarks.distill_compare
--standin`` (see there).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.ensemble import ExtraTreesRegressor

from mobo import Objective, Space

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"
# the journals the stand-in learns from: the default task (task seed 0) on CPU
DEFAULT_JOURNALS: tuple[str, ...] = (
    "distill_budget200.jsonl",
    "distill_dev/none/distill_compare/mobo-0.jsonl",
    "distill_dev/none/distill_compare/mobo-1.jsonl",
    "distill_dev/rank/distill_compare/mobo-0.jsonl",
    "distill_dev/threshold/distill_compare/mobo-0.jsonl",
)
# the forest: enough trees for smooth averages, leaves of at least 2 trials so that a
# single lucky trial does not become a spike no optimiser could find twice
N_TREES = 200
MIN_SAMPLES_LEAF = 2
FOREST_SEED = 0


def read_trials(paths: Sequence[Path]) -> tuple[Space, float, list[dict[str, Any]]]:
    """The space, the ``exact`` threshold and the completed trials (``x``: unit-cube point,
    ``params``, ``values``) of mobo journals of one task. Raises ValueError when the
    journals disagree on the space or the threshold, or hold no completed trial."""
    space: Space | None = None
    threshold: float | None = None
    trials: list[dict[str, Any]] = []
    for path in paths:
        asks: dict[int, dict[str, Any]] = {}
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line of a journal that was being written
            if e["event"] == "study":
                s = Space.from_dict(e["space"])
                thr = next(o["threshold"] for o in e["objectives"] if o["name"] == "exact")
                if space is not None and (s != space or thr != threshold):
                    raise ValueError(f"{path}: another task's journal (space or threshold)")
                space, threshold = s, float(thr)
            elif e["event"] == "ask":
                asks[e["number"]] = e
            elif e["event"] == "tell" and e.get("values") and e["number"] in asks:
                a = asks[e["number"]]
                trials.append({"x": a["x"], "params": a["params"], "values": e["values"]})
    if space is None or threshold is None or not trials:
        raise ValueError(f"no completed trial in {[str(p) for p in paths]}")
    return space, threshold, trials


def parameter_count_model(trials: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """(3,) coefficients c with num_parameters = c0 + c1 n_layers + c2 n_layers n_heads,
    solved from the trials and checked to reproduce each recorded count to 0.5."""
    A = np.array([[1.0, t["params"]["n_layers"], t["params"]["n_layers"] * t["params"]["n_heads"]]
                  for t in trials])
    y = np.array([t["values"]["num_parameters"] for t in trials], dtype=np.float64)
    c, *_ = np.linalg.lstsq(A, y, rcond=None)
    worst = float(np.max(np.abs(A @ c - y)))
    if worst > 0.5:
        raise ValueError(f"num_parameters is not affine in n_layers and n_layers*n_heads "
                         f"(worst residual {worst:.1f})")
    return c


class StandIn:
    """The black box: ``standin(params) -> {"exact", "f1", "num_parameters"}``.

    ``exact`` and ``f1`` are the forest's predictions at the encoded point (one forest,
    two outputs), ``num_parameters`` the exact affine count."""

    def __init__(self, paths: Sequence[Path] | None = None) -> None:
        paths = [RESULTS_DIR / p for p in DEFAULT_JOURNALS] if paths is None else list(paths)
        self.space, self.threshold, trials = read_trials(paths)
        self.n_trials = len(trials)
        self._count = parameter_count_model(trials)
        X = np.array([t["x"] for t in trials], dtype=np.float64)
        Y = np.array([[t["values"]["exact"], t["values"]["f1"]] for t in trials])
        self._forest = ExtraTreesRegressor(n_estimators=N_TREES, min_samples_leaf=MIN_SAMPLES_LEAF,
                                           random_state=FOREST_SEED, n_jobs=1).fit(X, Y)

    def num_parameters(self, params: Mapping[str, Any]) -> float:
        L, h = params["n_layers"], params["n_heads"]
        return float(self._count[0] + self._count[1] * L + self._count[2] * L * h)

    def __call__(self, params: Mapping[str, Any]) -> dict[str, float]:
        x = self.space.encode(params)[None, :]
        exact, f1 = self._forest.predict(x)[0]
        return {"exact": float(exact), "f1": float(f1),
                "num_parameters": self.num_parameters(params)}

    def objectives(self) -> list[Objective]:
        """The real task's objectives: exact above the always-no-answer EM, the parameter
        count known in closed form."""
        return [Objective("exact", maximize=True, threshold=self.threshold),
                Objective("num_parameters", maximize=False, known=self.num_parameters)]
