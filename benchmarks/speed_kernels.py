"""Speed of the numba kernels against their peers, measured side by side in one run.

- ``mobo.volume.hypervolume`` against ``moocore.hypervolume`` (C) on mutually non-dominated
  points: 2 objectives x 10,000 points and 3 objectives x 1,000 points. Target: within
  2x of moocore.
- ``mobo.boxes.nondominated_boxes`` on 2- and 3-objective fronts of 50 points.
- ``mobo.improvement.ehvi`` throughput (candidates per second) against BoTorch's analytic
  ``ExpectedHypervolumeImprovement`` with a ``FastNondominatedPartitioning`` of the same
  front and a model whose posterior returns the same means and variances, on 2- and
  3-objective fronts of 50 points; the values are compared on the same candidates.
  Beside it, a floor: the Gaussian special functions alone (the density and the Mills
  polynomial of :mod:`mobo.normal`, as the kernels compute them) at every coordinate the
  exact EHVI of the same decomposition needs, with no box arithmetic
  (:func:`gaussian_tails`). Its throughput bounds what any kernel that evaluates those
  functions in double precision can reach; the report sets it against BoTorch's.

First-call latencies (numba compilation with an empty cache, and loading from a warm
cache) are measured in fresh interpreters, separately from the steady-state timings,
which are medians over repeats.

Usage (from the repository root of a checkout; benchmarks is not installed)::

    python -m benchmarks.speed_kernels [--out results/speed_kernels.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numba
import numpy as np
from numba import njit, prange

from benchmarks.provenance import FILES, command_line, cpu_name, stamp_line
from mobo.boxes import Boxes, decompose, nondominated_boxes
from mobo.improvement import ehvi, ehvi_boxes
from mobo.normal import G_COEF, INV_SQRT_2PI, Z_ZERO, g_fast
from mobo.vecmath import exp_neg
from mobo.volume import hypervolume

ROOT = Path(__file__).resolve().parents[1]


def sphere_front(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """(n, m) points on the unit sphere's positive orthant: mutually non-dominated."""
    X = np.abs(rng.normal(size=(n, m)))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def median_times(
    fns: Sequence[Callable[[], object]],
    repeats: int,
    min_total: float = 0.2,
    warmup: float = 0.3,
) -> list[float]:
    """Median wall time of one call of each function, over `repeats` rounds.

    Calls first run untimed for at least `warmup` seconds each (and at least twice): torch
    in particular is several times slower on its first calls in a process. Fast calls are
    grouped so each timed sample lasts at least ~min_total / repeats. Each round times
    every function once, in turn, so that the functions compared share the machine's
    conditions: on a shared machine the speed drifts considerably within minutes, and
    timing one side after the other would put that drift into their ratio.
    """
    inner = []
    for fn in fns:
        start = time.perf_counter()
        calls = 0
        while calls < 2 or time.perf_counter() - start < warmup:
            fn()
            calls += 1
        once = max((time.perf_counter() - start) / calls, 1e-7)
        inner.append(max(1, int(min_total / repeats / once)))
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, k, out in zip(fns, inner, samples, strict=True):
            t0 = time.perf_counter()
            for _ in range(k):
                fn()
            out.append((time.perf_counter() - t0) / k)
    return [float(np.median(x)) for x in samples]


def median_time(
    fn: Callable[[], object], repeats: int, min_total: float = 0.2, warmup: float = 0.3
) -> float:
    """Median wall time of one call over `repeats` timed samples (see median_times)."""
    return median_times([fn], repeats, min_total, warmup)[0]


# ---------------------------------------------------------------------------------------
# the floor: the special functions alone
# ---------------------------------------------------------------------------------------

# candidates per block, as mobo.improvement scores them, so that the loop over a block
# vectorises the same way
_BLOCK = 16


@njit(cache=True, parallel=True, error_model="numpy", fastmath={"contract"})
def _tails_kernel(
    mean: np.ndarray, std: np.ndarray, grid: np.ndarray, counts: np.ndarray, gc: np.ndarray
) -> np.ndarray:  # pragma: no cover - numba
    """Per candidate, the sum over every used coordinate c of every axis j of
    s_j phi(z) g(|z|), z = (c - mu_j) / s_j: the special functions the exact kernels need
    (one density and one Mills polynomial per coordinate), evaluated the same way, summed
    only so that the compiler cannot drop them."""
    n, m = mean.shape
    out = np.zeros(n)
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    for blk in prange(n_blocks):
        i0 = blk * _BLOCK
        mu = np.empty(_BLOCK)
        sd = np.empty(_BLOCK)
        inv = np.empty(_BLOCK)
        acc = np.zeros(_BLOCK)
        for j in range(m):
            for b in range(_BLOCK):
                mu[b] = mean[min(i0 + b, n - 1), j]
                sd[b] = std[min(i0 + b, n - 1), j]
                inv[b] = 1.0 / sd[b] if sd[b] > 0.0 else 1.0
            for t in range(counts[j]):
                c = grid[j, t]
                for b in range(_BLOCK):
                    az = min(abs((c - mu[b]) * inv[b]), Z_ZERO)
                    p = INV_SQRT_2PI * exp_neg(-0.5 * az * az)
                    small = sd[b] * p * g_fast(az, gc)
                    acc[b] += small if (sd[b] > 0.0) & (az < Z_ZERO) else 0.0
        for b in range(min(_BLOCK, n - i0)):
            out[i0 + b] = acc[b]
    return out


def gaussian_tails(mean: np.ndarray, std: np.ndarray, boxes: Boxes) -> np.ndarray:
    """(n,) sum over the decomposition's coordinates c of each axis j of
    min(E[(c - Y_j)^+], E[(Y_j - c)^+]) = s_j h(-|z|), h(x) = x Phi(x) + phi(x),
    z = (c - mean_j) / std_j, Y_j ~ N(mean_j, std_j^2) (a term is 0 where std_j = 0).

    The work the exact EHVI kernels of :mod:`mobo.improvement` cannot avoid: each needs
    these special functions at each of the ``sum(boxes.counts)`` coordinates per candidate
    (the fused 2-objective kernel, two per strip). mean, std: (n, m), std >= 0."""
    mean = np.ascontiguousarray(mean, dtype=np.float64)
    std = np.ascontiguousarray(std, dtype=np.float64)
    return _tails_kernel(mean, std, boxes.grid, boxes.counts, G_COEF)


# ---------------------------------------------------------------------------------------
# first-call latency, in fresh interpreters
# ---------------------------------------------------------------------------------------

_FIRST_CALL = r"""
import json, time
import numpy as np
t0 = time.perf_counter()
from mobo.boxes import nondominated_boxes
from mobo.volume import hypervolume
t_import = time.perf_counter() - t0
rng = np.random.default_rng(0)
out = {"import mobo.volume (and the mobo package)": t_import}
for m in (2, 3):
    Y = rng.random((50, m))
    t0 = time.perf_counter()
    hypervolume(Y, np.ones(m))
    out[f"hypervolume, m={m}"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    nondominated_boxes(Y, np.ones(m))
    out[f"nondominated_boxes, m={m}"] = time.perf_counter() - t0
try:
    t0 = time.perf_counter()
    from mobo.improvement import ehvi
    out["import mobo.improvement"] = time.perf_counter() - t0
    for m in (2, 3):
        t0 = time.perf_counter()
        ehvi(rng.random((10, m)), np.full((10, m), 0.1), rng.random((20, m)), np.ones(m))
        out[f"ehvi, m={m}"] = time.perf_counter() - t0
except ImportError:
    pass
print(json.dumps(out))
"""


def first_call_latency() -> tuple[dict[str, float], dict[str, float]]:
    """(compile, cache-load) seconds per step, from two fresh interpreters on one empty cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=str(ROOT))
        runs = []
        for _ in range(2):
            res = subprocess.run(
                [sys.executable, "-c", _FIRST_CALL],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
    return runs[0], runs[1]


# ---------------------------------------------------------------------------------------
# sections
# ---------------------------------------------------------------------------------------


def bench_hypervolume(repeats: int) -> list[str]:
    import moocore  # an optional peer (the 'peers' and 'test' extras)

    rng = np.random.default_rng(1)
    lines = [
        "| objectives | points | mobo (ms) | moocore (ms) | mobo / moocore | within 2x | "
        "abs. difference |",
        "|---:|---:|---:|---:|---:|:---:|---:|",
    ]
    for m, n in [(2, 10_000), (3, 1_000)]:
        Y = sphere_front(n, m, rng)
        ref = np.full(m, 1.1)
        ours, peer = median_times(
            [
                lambda Y=Y, ref=ref: hypervolume(Y, ref),
                lambda Y=Y, ref=ref: moocore.hypervolume(Y, ref=ref),
            ],
            repeats,
        )
        diff = abs(hypervolume(Y, ref) - float(moocore.hypervolume(Y, ref=ref)))
        ratio = ours / peer
        lines.append(
            f"| {m} | {n:,} | {ours * 1e3:.3f} | {peer * 1e3:.3f} | {ratio:.2f} | "
            f"{'yes' if ratio <= 2.0 else 'no'} | {diff:.1e} |"
        )
    return lines


def bench_boxes(repeats: int) -> list[str]:
    rng = np.random.default_rng(2)
    lines = ["| objectives | front points | boxes | time (us) |", "|---:|---:|---:|---:|"]
    for m in (2, 3):
        front = sphere_front(50, m, rng)
        ref = np.full(m, 1.1)
        t = median_time(lambda front=front, ref=ref: nondominated_boxes(front, ref), repeats)
        K = len(nondominated_boxes(front, ref)[0])
        lines.append(f"| {m} | 50 | {K} | {t * 1e6:.1f} |")
    return lines


def _botorch_ehvi(
    mean: np.ndarray, std: np.ndarray, front: np.ndarray, ref: np.ndarray
) -> Callable[[], np.ndarray]:
    """A closure evaluating BoTorch's analytic EHVI on the same predictions (maximising)."""
    # BoTorch is an optional peer (the 'peers' extra); it and torch are loaded only for the
    # EHVI comparison, after the numba-only sections have been measured
    import torch
    from botorch.acquisition.multi_objective.analytic import ExpectedHypervolumeImprovement
    from botorch.utils.multi_objective.box_decompositions.non_dominated import (
        FastNondominatedPartitioning,
    )
    from botorch.utils.testing import MockModel, MockPosterior

    ref_t = torch.tensor(-ref, dtype=torch.float64)
    partitioning = FastNondominatedPartitioning(
        ref_point=ref_t, Y=torch.tensor(-front, dtype=torch.float64)
    )
    chunk = 256  # BoTorch materialises batch x cells x 2^m x m tensors
    acqs = []
    for start in range(0, len(mean), chunk):
        mu = torch.tensor(-mean[start : start + chunk], dtype=torch.float64).unsqueeze(-2)
        var = torch.tensor(std[start : start + chunk] ** 2, dtype=torch.float64).unsqueeze(-2)
        model = MockModel(MockPosterior(mean=mu, variance=var))
        acq = ExpectedHypervolumeImprovement(
            model=model, ref_point=ref_t.tolist(), partitioning=partitioning
        )
        acqs.append((acq, torch.zeros(mu.shape[0], 1, 1, dtype=torch.float64)))

    def run() -> np.ndarray:
        with torch.no_grad():
            return torch.cat([acq(X) for acq, X in acqs]).numpy()

    return run


def ehvi_mpmath(mean: np.ndarray, std: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """EHVI of one candidate from a box decomposition, in 50-digit arithmetic.

    sum_k prod_j (H(u_kj) - H(l_kj)), H(c) = E[(c - Y)^+] = s (z Phi(z) + phi(z)),
    z = (c - mu) / s; an independent reference for both implementations' rounding.
    """
    import mpmath  # an optional reference (the 'peers' and 'test' extras)

    with mpmath.workdps(50):

        def H(c: float, mu: float, s: float) -> mpmath.mpf:
            if np.isneginf(c):
                return mpmath.mpf(0)
            z = (mpmath.mpf(c) - mpmath.mpf(mu)) / mpmath.mpf(s)
            return mpmath.mpf(s) * (z * mpmath.ncdf(z) + mpmath.npdf(z))

        total = mpmath.mpf(0)
        for lo, hi in zip(lower, upper, strict=True):
            term = mpmath.mpf(1)
            for j in range(len(mean)):
                term *= H(hi[j], mean[j], std[j]) - H(lo[j], mean[j], std[j])
            total += term
        return float(total)


def bench_ehvi(repeats: int, n_candidates: int) -> tuple[list[str], list[str]]:
    # the optional BoTorch peer and torch, loaded late: see _botorch_ehvi
    import torch
    from botorch.utils.multi_objective.box_decompositions.non_dominated import (
        FastNondominatedPartitioning,
    )

    rng = np.random.default_rng(3)
    speed = [
        "| objectives | mobo, 1 thread | mobo, 2 threads | mobo, decomposition reused, best "
        "| BoTorch, 1 thread | BoTorch, 2 threads | best mobo / best BoTorch "
        "| Gaussian tails alone, best | tails alone / best BoTorch |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    values = [
        "| objectives | mobo boxes | BoTorch cells | max abs diff | max rel diff | "
        "worst 5: max rel error, mobo | worst 5: max rel error, BoTorch |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    numba_threads = numba.get_num_threads()
    torch_threads = torch.get_num_threads()
    for m in (2, 3):
        front = sphere_front(50, m, rng)
        ref = np.full(m, 1.1)
        # candidates around and beyond the front, with moderate and small uncertainty
        mean = rng.uniform(0.2, 1.2, size=(n_candidates, m))
        std = rng.uniform(0.02, 0.3, size=(n_candidates, m))
        boxes = decompose(front, ref)
        peer = _botorch_ehvi(mean, std, front, ref)
        ours: dict[int, float] = {}
        reuse: dict[int, float] = {}
        theirs: dict[int, float] = {}
        tails: dict[int, float] = {}

        def threaded(fn: Callable[[], object], k: int) -> Callable[[], object]:
            def call() -> object:
                numba.set_num_threads(min(k, numba.config.NUMBA_NUM_THREADS))
                torch.set_num_threads(k)
                return fn()

            return call

        sides = [
            lambda a=mean, s=std, f=front, r=ref: ehvi(a, s, f, r),
            lambda a=mean, s=std, b=boxes: ehvi_boxes(a, s, b),
            peer,
            lambda a=mean, s=std, b=boxes: gaussian_tails(a, s, b),
        ]
        # every side at both thread counts in the same rounds, so that the choice of each
        # side's best thread count is made under the same conditions
        try:
            times = median_times([threaded(fn, k) for k in (1, 2) for fn in sides], repeats)
        finally:
            numba.set_num_threads(numba_threads)
            torch.set_num_threads(torch_threads)
        for i, k in enumerate((1, 2)):
            ours[k], reuse[k], theirs[k], tails[k] = times[4 * i : 4 * i + 4]
        # throughput in candidates per second; the ratios compare each side's best
        best_ours = n_candidates / min(ours.values())
        best_theirs = n_candidates / min(theirs.values())
        best_tails = n_candidates / min(tails.values())
        speed.append(
            f"| {m} | {n_candidates / ours[1]:,.0f} | {n_candidates / ours[2]:,.0f} | "
            f"{n_candidates / min(reuse.values()):,.0f} | {n_candidates / theirs[1]:,.0f} | "
            f"{n_candidates / theirs[2]:,.0f} | {best_ours / best_theirs:,.0f} | "
            f"{best_tails:,.0f} | {best_tails / best_theirs:,.0f} |"
        )
        ours_v = ehvi(mean, std, front, ref)
        peer_v = peer()
        diff = np.abs(ours_v - peer_v)
        counted = peer_v > 1e-12
        rel = diff[counted] / peer_v[counted]
        # arbitrate the five largest relative disagreements in high precision
        lower, upper = nondominated_boxes(front, ref)
        idx = np.flatnonzero(counted)[np.argsort(rel)[-5:]]
        exact = np.array([ehvi_mpmath(mean[i], std[i], lower, upper) for i in idx])
        err_ours = np.max(np.abs(ours_v[idx] - exact) / exact)
        err_peer = np.max(np.abs(peer_v[idx] - exact) / exact)
        cells = FastNondominatedPartitioning(
            ref_point=torch.tensor(-ref), Y=torch.tensor(-front)
        ).get_hypercell_bounds()
        values.append(
            f"| {m} | {len(lower)} | {cells.shape[1]} | {diff.max():.1e} | {rel.max():.1e} | "
            f"{err_ours:.1e} | {err_peer:.1e} |"
        )
    return speed, values


def machine() -> list[str]:
    import moocore  # an optional peer (the 'peers' and 'test' extras)

    versions = {"python": platform.python_version(), "numpy": np.__version__}
    versions["numba"] = numba.__version__
    versions["moocore"] = getattr(moocore, "__version__", "?")
    try:
        # optional peer, and loaded only now (see _botorch_ehvi)
        import botorch
        import torch

        versions["torch"] = torch.__version__
        versions["botorch"] = botorch.__version__
    except ImportError:
        pass
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    model = cpu_name()
    return [
        f"- Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {model}, {cpus} usable CPU cores, {platform.system()} {platform.release()}",
        f"- numba threads available: {numba.config.NUMBA_NUM_THREADS}",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        "- The machine is shared: other processes may have been running during the "
        "measurements, which inflates some medians (see the load averages below).",
    ]


def load_average() -> str:
    if not hasattr(os, "getloadavg"):
        return "n/a"
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def report(repeats: int, n_candidates: int, command: str = "") -> str:
    """The markdown report; ``command`` (the command line that made it) goes in its header
    beside the commit of the code (:func:`benchmarks.provenance.stamp_line`)."""
    code = stamp_line(FILES["speed_kernels.md"])
    load_before = load_average()
    compile_s, load_s = first_call_latency()
    hv = bench_hypervolume(repeats)
    boxes = bench_boxes(repeats)
    ehvi_speed, ehvi_values = bench_ehvi(repeats, n_candidates)
    out = ["# Kernel speed: hypervolume, box decomposition, EHVI", ""]
    out += machine()
    if command:
        out.append(f"- Command: `{command}`")
    out.append(f"- {code}")
    out.append(
        f"- Load average (1 / 5 / 15 min) at the start: {load_before}; at the end: "
        f"{load_average()} (2 would mean both cores busy)."
    )
    out += [
        "",
        "Steady-state times are medians over repeated calls after 0.3 s of warm-up calls; "
        "the sides of a comparison (for EHVI: each side at 1 and at 2 threads) are timed in "
        "turn, one call each per round, so that all see the same machine conditions. "
        "Points are "
        "mutually non-dominated: uniform directions on the unit sphere's positive orthant, "
        "reference point 1.1 in every objective.",
        "",
        "## Hypervolume vs moocore (target: within 2x)",
        "",
        *hv,
        "",
        "## nondominated_boxes",
        "",
        *boxes,
        "",
        "## EHVI vs BoTorch analytic ExpectedHypervolumeImprovement",
        "",
        "Front: 50 non-dominated points. Candidates: means uniform in [0.2, 1.2]^m, standard "
        "deviations uniform in [0.02, 0.3]. `mobo ehvi` is "
        "`mobo.improvement.ehvi(mean, std, front, ref)` per call, decomposition included; "
        "the reused column scores with a precomputed "
        "decomposition (`ehvi_boxes`), as the optimiser does. BoTorch: float64, partitioning "
        "and acquisition objects built once outside the timing, candidates in batches of "
        "256, `torch.no_grad()`, posterior from a mock model returning the same means and "
        "variances (objectives negated, since BoTorch maximises). Throughput in candidates "
        "per second. Each side is timed with 1 and 2 threads (numba / torch threads): on a "
        "busy machine parallel threads wait for each other and one thread can be faster, "
        "so the ratios compare each side's best. `Gaussian tails alone` times the special "
        "functions that the exact kernels evaluate for each candidate (a density and a "
        "Mills-ratio polynomial at each distinct coordinate of the decomposition on each "
        "axis, computed as the kernels compute them) with no box arithmetic: a kernel that "
        "needs these functions and computes them this way cannot score candidates faster, "
        "so its ratio to BoTorch bounds the ratio such a kernel could reach.",
        "",
        *ehvi_speed,
        "",
        "Same values? Differences over all candidates; relative ones over candidates with "
        "EHVI > 1e-12. The five candidates with the largest relative disagreement are "
        "recomputed from the box decomposition in 50-digit arithmetic (mpmath) to show "
        "which side the error is on.",
        "",
        *ehvi_values,
        "",
        "## First-call latency (fresh interpreter, seconds)",
        "",
        "| step | empty numba cache (compile) | warm cache (load) |",
        "|---|---:|---:|",
    ]
    for key in compile_s:
        out.append(f"| {key} | {compile_s[key]:.2f} | {load_s.get(key, float('nan')):.3f} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="also write the report here")
    parser.add_argument("--repeats", type=int, default=15, help="timed samples per median")
    parser.add_argument("--candidates", type=int, default=2048, help="EHVI candidates")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.candidates < 1:
        parser.error("--repeats and --candidates must be positive")
    text = report(args.repeats, args.candidates,
                  command_line("benchmarks.speed_kernels", argv))
    print(text, end="")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
