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
    median_times,
    sphere_front,
)
from mobo.boxes import nondominated_boxes
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


def test_median_times_interleaves_the_sides() -> None:
    calls: list[str] = []
    times = median_times(
        [lambda: calls.append("a"), lambda: calls.append("b")], repeats=3, min_total=0.0,
        warmup=0.0,
    )
    assert len(times) == 2 and all(t >= 0.0 for t in times)
    # two warm-up calls each, then one timed call of each side per round
    assert calls == ["a", "a", "b", "b"] + ["a", "b"] * 3
