"""The kernel speed benchmark runs end to end on tiny sizes and writes every table, and its
BoTorch peer computes the same EHVI as mobo on the same candidates."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.speed_kernels import (
    _botorch_ehvi,
    ehvi_mpmath,
    gaussian_tails,
    median_times,
    sphere_front,
)
from mobo.boxes import decompose, nondominated_boxes
from mobo.improvement import ehvi


@pytest.mark.parametrize("m", [2, 3])
def test_mobo_and_botorch_agree_on_the_benchmark_candidates(m: int) -> None:
    pytest.importorskip("botorch")
    rng = np.random.default_rng(m)
    front = sphere_front(12, m, rng)
    ref = np.full(m, 1.1)
    # as the benchmark draws them: around and beyond the front, moderate and small sd
    mean = rng.uniform(0.2, 1.2, size=(40, m))
    std = rng.uniform(0.02, 0.3, size=(40, m))
    ours = ehvi(mean, std, front, ref)
    theirs = _botorch_ehvi(mean, std, front, ref)()
    assert theirs.shape == ours.shape
    assert (ours > 1e-3).sum() >= 10  # enough candidates with a real improvement
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-14)
    # and both are the 50-digit value where it matters
    lower, upper = nondominated_boxes(front, ref)
    for i in np.argsort(ours)[-3:]:
        assert ours[i] == pytest.approx(ehvi_mpmath(mean[i], std[i], lower, upper), rel=1e-10)


def _tails_reference(mean: np.ndarray, std: np.ndarray, grid: np.ndarray,
                     counts: np.ndarray) -> np.ndarray:
    """The floor's sum, term by term in 40-digit arithmetic: min(E[(c - Y)^+], E[(Y - c)^+])
    from its definition as the smaller of s h(z) and s h(-z), h(x) = x Phi(x) + phi(x)."""
    mpmath = pytest.importorskip("mpmath")
    out = []
    with mpmath.workdps(40):
        for mu_row, s_row in zip(mean, std, strict=True):
            total = mpmath.mpf(0)
            for j, (mu, s) in enumerate(zip(mu_row, s_row, strict=True)):
                if s == 0.0:
                    continue
                for c in grid[j, : counts[j]]:
                    z = (mpmath.mpf(c) - mpmath.mpf(mu)) / mpmath.mpf(s)
                    above = s * (z * mpmath.ncdf(z) + mpmath.npdf(z))
                    below = s * (-z * mpmath.ncdf(-z) + mpmath.npdf(-z))
                    total += min(above, below)
            out.append(float(total))
    return np.array(out)


@pytest.mark.parametrize("m", [2, 3])
def test_gaussian_tails_matches_the_definition(m: int) -> None:
    rng = np.random.default_rng(10 + m)
    front = sphere_front(7, m, rng)
    ref = np.full(m, 1.1)
    boxes = decompose(front, ref)
    # 37 candidates (blocks of 16 and a ragged last one), then degenerate ones: a mean on a
    # coordinate (z = 0), zero std on one axis and on all, and tails far beyond |z| = 37.5
    mean = rng.uniform(0.2, 1.2, size=(37, m))
    std = rng.uniform(0.02, 0.3, size=(37, m))
    on_grid = boxes.grid[:, 0].copy()
    extra_mean = np.array([on_grid, on_grid, on_grid, np.full(m, 50.0), np.full(m, 1.0)])
    extra_std = np.array([np.full(m, 0.1), np.r_[0.0, np.full(m - 1, 0.1)], np.zeros(m),
                          np.full(m, 0.5), np.full(m, 1e-3)])
    mean = np.vstack([mean, extra_mean])
    std = np.vstack([std, extra_std])
    ours = gaussian_tails(mean, std, boxes)
    expected = _tails_reference(mean, std, boxes.grid, boxes.counts)
    np.testing.assert_allclose(ours, expected, rtol=1e-13, atol=1e-300)
    assert ours[-3] == 0.0  # zero std everywhere: no term
    # a single candidate scores as it does among others
    assert gaussian_tails(mean[5:6], std[5:6], boxes)[0] == ours[5]


@pytest.mark.slow
def test_speed_kernels_writes_all_sections(tmp_path: Path) -> None:
    pytest.importorskip("moocore")
    pytest.importorskip("botorch")
    out = tmp_path / "kernels.md"
    subprocess.run(
        [sys.executable, "-m", "benchmarks.speed_kernels", "--repeats", "1",
         "--candidates", "64", "--out", str(out)],
        check=True, capture_output=True, text=True, timeout=600,
    )
    text = out.read_text()
    for heading in ("Hypervolume vs moocore", "nondominated_boxes", "EHVI vs BoTorch",
                    "First-call latency"):
        assert heading in text
    # the value check compares mobo's EHVI with BoTorch's on the same inputs: one row per
    # number of objectives, and the two agree
    section = text[text.index("| objectives | mobo boxes |"):]
    rows = [line.split("|")[1:-1] for line in section.splitlines()[2:4]]
    assert [int(r[0]) for r in rows] == [2, 3]
    for r in rows:
        # absolute differences at rounding level; relative ones only loosely, since BoTorch
        # loses digits on EHVIs near 1e-12; mobo is the 50-digit value on the worst five
        assert float(r[3]) < 1e-12 and float(r[4]) < 1e-4 and float(r[5]) < 1e-10, r
    assert re.search(r"\| 2 \| [\d,]+ \| [\d,]+ \|", text)  # the speed rows are filled in
    # and each has the floor of the special functions beside the ratio to BoTorch
    speed = text[text.index("| objectives | mobo, 1 thread |"):]
    for line in speed.splitlines()[2:4]:
        cells = line.split("|")[1:-1]
        assert len(cells) == 9 and float(cells[7].replace(",", "")) > 0, line


def test_median_times_interleaves_the_sides() -> None:
    calls: list[str] = []
    times = median_times(
        [lambda: calls.append("a"), lambda: calls.append("b")], repeats=3, min_total=0.0,
        warmup=0.0,
    )
    assert len(times) == 2 and all(t >= 0.0 for t in times)
    # two warm-up calls each, then one timed call of each side per round
    assert calls == ["a", "a", "b", "b"] + ["a", "b"] * 3
