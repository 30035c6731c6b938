"""How well a surrogate fitted to one run's trials predicts another run's students.

A replay of mobo's proposals (:mod:`benchmarks.distill_whatif`) shows its GP putting a
peer's best students near the no-answer plateau. That can be the model's form (a kernel
that cannot carry what the trials say about one parameter across the others) or the data
(no trial anywhere near those students). This benchmark separates the two: it fits each
surrogate below to the completed trials of one run and predicts the completed post-initial
trials of another run of the same seed on the same machine (so the same black box), in
both directions:

- ``mobo GP``: mobo's own fit (:func:`mobo.gp.fit_gp`: Matern 5/2 with one lengthscale per
  input, MAP with mobo's priors, as the proposer fits the exact match);
- ``GPyTorch product``: the same kernel form in GPyTorch (a scaled ARD Matern 5/2, constant
  mean, Gaussian likelihood) fitted by maximising the marginal likelihood with Adam;
- ``GPyTorch product + additive``: that kernel plus one scaled 1-D Matern 5/2 per input
  column (a first-order additive component, Duvenaud, Nickisch & Rasmussen 2011,
  "Additive Gaussian processes"), which can carry a parameter's effect to configurations
  that differ in every other parameter.

Inputs are the study's unit-cube encoding (:meth:`mobo.Space.encode`), the output the exact
match. Per model and direction: the test RMSE, the mean log predictive density (Gaussian,
noise included), Spearman's rank correlation of prediction and outcome, and for the test
run's ten most accurate students their mean observed and mean predicted exact match.

Usage (from the repository root; reads the per-run files, trains no student)::

    python -m benchmarks.distill_surrogates      # the one-machine pair, held-out seed 10
    python -m benchmarks.distill_surrogates --runs A.jsonl B.jsonl --out-json J --out-md M
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import gpytorch
import numpy as np
import scipy.stats
import torch

from benchmarks.distill_compare import mobo_records, read_records
from benchmarks.provenance import (
    FILES,
    check_out_folders,
    command_line,
    relative,
    stamp_fields,
    write_result,
)
from mobo.gp import NOISE_PRIOR, fit_gp
from mobo.space import Space
from mobo.study import Study

ROOT = Path(__file__).resolve().parents[1]
PAIR = ROOT / "results" / "distill_compare_onemachine" / "distill_compare"
DEFAULT_RUNS = (PAIR / "mobo-10.jsonl", PAIR / "tpe-10.jsonl")
DEFAULT_JSON = ROOT / "results" / "distill_surrogates.json"
DEFAULT_MD = ROOT / "results" / "distill_surrogates.md"
TOP = 10
ADAM_STEPS = 300
ADAM_LR = 0.05

Predictor = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # X (q, d) -> mean, sd


def is_journal(path: Path) -> bool:
    """Whether a per-run file is a mobo journal (its first line is the study header)."""
    with path.open() as f:
        head = f.readline()
    try:
        first = json.loads(head)
    except json.JSONDecodeError:
        return False
    return isinstance(first, dict) and first.get("event") == "study"


def run_trials(path: Path) -> list[dict[str, Any]]:
    """A per-run file's completed trials (mobo journal or a peer's records), in order, each
    with ``params``, ``exact`` and ``source``."""
    recs = mobo_records(path) if is_journal(path) else read_records(path)
    return [{"params": r["params"], "exact": float(r["values"]["exact"]),
             "source": r["source"]} for r in recs
            if r["status"] == "completed" and r.get("values")
            and r["values"].get("exact") is not None]


def fit_mobo(X: np.ndarray, y: np.ndarray) -> Predictor:
    """mobo's GP on ``X`` (n, d) and exact match ``y`` (n,) (minimised inside, as the
    proposer fits it); predictions with the fitted noise added."""
    gp = fit_gp(X, -y[:, None], None, noise_prior=NOISE_PRIOR)
    state = gp.model_state()
    noise = float(np.ravel(state["noises"])[0]) * float(np.ravel(state["y_scale"])[0]) ** 2

    def predict(Xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, sd = gp.posterior(Xq)
        return -mean[:, 0], np.sqrt(sd[:, 0] ** 2 + noise)
    return predict


class _Exact(gpytorch.models.ExactGP):  # type: ignore[misc]
    """Constant mean; a scaled ARD Matern 5/2, plus per-column 1-D ones when additive."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor,
                 likelihood: gpytorch.likelihoods.GaussianLikelihood, additive: bool) -> None:
        super().__init__(X, y, likelihood)
        d = X.shape[1]
        self.mean = gpytorch.means.ConstantMean()
        kernel = gpytorch.kernels.ScaleKernel(
            gpytorch.kernels.MaternKernel(nu=2.5, ard_num_dims=d))
        if additive:
            for i in range(d):
                kernel = kernel + gpytorch.kernels.ScaleKernel(
                    gpytorch.kernels.MaternKernel(nu=2.5, active_dims=[i]))
        self.kernel = kernel

    def forward(self, x: torch.Tensor) -> gpytorch.distributions.MultivariateNormal:
        return gpytorch.distributions.MultivariateNormal(self.mean(x), self.kernel(x))


def fit_gpytorch(X: np.ndarray, y: np.ndarray, additive: bool) -> Predictor:
    """A GPyTorch GP on standardised ``y`` (n,), fitted by Adam on the exact marginal
    likelihood (:data:`ADAM_STEPS` steps, float64, seed 0); predictive with noise."""
    torch.manual_seed(0)
    mu, scale = float(y.mean()), float(y.std()) or 1.0
    Xt = torch.tensor(X, dtype=torch.float64)
    yt = torch.tensor((y - mu) / scale, dtype=torch.float64)
    likelihood = gpytorch.likelihoods.GaussianLikelihood(
        noise_constraint=gpytorch.constraints.GreaterThan(1e-4)).double()
    model = _Exact(Xt, yt, likelihood, additive).double()
    model.train()
    likelihood.train()
    opt = torch.optim.Adam(model.parameters(), lr=ADAM_LR)
    mll = gpytorch.mlls.ExactMarginalLogLikelihood(likelihood, model)
    for _ in range(ADAM_STEPS):
        opt.zero_grad()
        loss = -mll(model(Xt), yt)
        loss.backward()
        opt.step()
    model.eval()
    likelihood.eval()

    def predict(Xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.no_grad(), gpytorch.settings.fast_pred_var(False):
            p = likelihood(model(torch.tensor(Xq, dtype=torch.float64)))
        return p.mean.numpy() * scale + mu, np.sqrt(p.variance.numpy()) * scale
    return predict


MODELS: dict[str, Callable[[np.ndarray, np.ndarray], Predictor]] = {
    "mobo GP": fit_mobo,
    "GPyTorch product": lambda X, y: fit_gpytorch(X, y, additive=False),
    "GPyTorch product + additive": lambda X, y: fit_gpytorch(X, y, additive=True),
}


def scores(mean: np.ndarray, sd: np.ndarray, y: np.ndarray, top: int = TOP
           ) -> dict[str, float]:
    """Test metrics of predictions ``mean``, ``sd`` (q,) against outcomes ``y`` (q,)."""
    z = (y - mean) / sd
    best = np.argsort(-y, kind="stable")[:top]
    return {
        "rmse": float(np.sqrt(np.mean((y - mean) ** 2))),
        "mlpd": float(np.mean(-0.5 * np.log(2 * np.pi * sd**2) - 0.5 * z**2)),
        "spearman": float(scipy.stats.spearmanr(mean, y).statistic),
        "top_observed": float(y[best].mean()),
        "top_predicted": float(mean[best].mean()),
        "top_sd": float(sd[best].mean()),
    }


def cross_predict(space: Space, train: Sequence[Mapping[str, Any]],
                  test: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Every model fitted to ``train``'s trials, scored on ``test``'s post-initial ones."""
    X = np.array([space.encode(t["params"]) for t in train])
    y = np.array([t["exact"] for t in train])
    post = [t for t in test if t["source"] != "initial"]
    if len(train) < 2 or len(post) < 2:
        raise ValueError("need at least 2 training trials and 2 post-initial test trials")
    Xq = np.array([space.encode(t["params"]) for t in post])
    yq = np.array([t["exact"] for t in post])
    out = {}
    for name, fit in MODELS.items():
        mean, sd = fit(X, y)(Xq)
        out[name] = {"n_train": len(train), "n_test": len(post), **scores(mean, sd, yq)}
    return out


def analyse(runs: Sequence[Path]) -> dict[str, Any]:
    """Both directions of the pair ``runs`` (two per-run files of one seed); the space is
    read from whichever is a mobo journal."""
    journal = next((p for p in runs if is_journal(p)), None)
    if journal is None:
        raise ValueError("--runs: one of the two must be a mobo journal (it names the space)")
    space = Study.read(journal).space
    trials = [run_trials(p) for p in runs]
    names = [relative(p) for p in runs]
    return {"runs": names, "directions": [
        {"train": names[a], "test": names[b], "models": cross_predict(space, trials[a],
                                                                      trials[b])}
        for a, b in ((0, 1), (1, 0))]}


def markdown(data: Mapping[str, Any]) -> str:
    """The report, from the JSON alone."""
    lines = [
        "# How well a surrogate fitted to one run predicts another run's students",
        "",
        f"Generated by `{data['command']}`; `benchmarks/distill_surrogates.py` says how. "
        f"Code: commit `{data['commit']}`"
        + (" with uncommitted changes" if data.get("dirty") else "") + ".",
        "",
        "Each model is fitted to the completed trials of one run and predicts the exact "
        "match of the other run's completed post-initial trials (same seed, same machine: "
        f"the same black box). Top {TOP}: the test run's {TOP} most accurate students, "
        "their mean observed and mean predicted exact match and mean predictive sd.",
        "",
    ]
    for d in data["directions"]:
        any_model = next(iter(d["models"].values()))
        lines += [f"## Fitted to `{d['train']}` ({any_model['n_train']} trials), predicting "
                  f"`{d['test']}` ({any_model['n_test']} trials)", "",
                  "| model | RMSE | mean log predictive density | Spearman | "
                  f"top {TOP} observed | top {TOP} predicted | top {TOP} sd |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for name, s in d["models"].items():
            lines.append(f"| {name} | {s['rmse']:.1f} | {s['mlpd']:.2f} | "
                         f"{s['spearman']:.2f} | {s['top_observed']:.1f} | "
                         f"{s['top_predicted']:.1f} | {s['top_sd']:.1f} |")
        lines.append("")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.distill_surrogates",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", nargs=2, type=Path, default=list(DEFAULT_RUNS),
                    metavar=("A", "B"), help="two per-run files of one seed, one of them a "
                    "mobo journal (default: the one-machine pair's mobo-10 and tpe-10)")
    ap.add_argument("--out-json", type=Path, default=DEFAULT_JSON)
    ap.add_argument("--out-md", type=Path, default=DEFAULT_MD)
    args = ap.parse_args(argv)
    for path in args.runs:
        if not path.is_file():
            ap.error(f"--runs: {path} is not a file")
    check_out_folders(ap, out_json=args.out_json, out_md=args.out_md)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    stamp = stamp_fields(FILES["distill_surrogates.json"])  # the code imported now
    torch.set_num_threads(1)  # one thread: the fits are small, and reproducible so
    try:
        data = analyse([p.resolve() for p in args.runs])
    except (ValueError, KeyError, json.JSONDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    data = {**stamp, "command": command_line("benchmarks.distill_surrogates", argv), **data}
    write_result(data, args.out_json, args.out_md, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
