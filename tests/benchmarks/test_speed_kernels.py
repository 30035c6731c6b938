"""The kernel speed benchmark runs end to end on tiny sizes and writes every table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.speed_kernels import median_times

pytest.importorskip("moocore")
pytest.importorskip("botorch")


@pytest.mark.slow
def test_speed_kernels_writes_all_sections(tmp_path: Path) -> None:
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
    # the value check compares mobo's EHVI with BoTorch's on the same inputs
    assert "max abs diff" in text


def test_median_times_interleaves_the_sides() -> None:
    calls: list[str] = []
    times = median_times(
        [lambda: calls.append("a"), lambda: calls.append("b")], repeats=3, min_total=0.0,
        warmup=0.0,
    )
    assert len(times) == 2 and all(t >= 0.0 for t in times)
    # two warm-up calls each, then one timed call of each side per round
    assert calls == ["a", "a", "b", "b"] + ["a", "b"] * 3
