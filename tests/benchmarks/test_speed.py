"""The proposal-speed benchmark runs end to end on tiny sizes and reports what it timed."""

from __future__ import annotations

import csv
from pathlib import Path

from benchmarks import provenance, speed


def test_speed_script_writes_rows_for_every_method_and_size(tmp_path: Path) -> None:
    out = tmp_path / "speed"
    assert speed.main(["--sizes", "8", "--repeats", "1", "--methods", "mobo", "mobo_in_study",
                       "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.with_suffix(".csv").open()))
    assert {(r["problem"], r["method"]) for r in rows} == {
        (p, m) for p in ("dtlz2", "vehiclesafety") for m in ("mobo", "mobo_in_study")
    }
    assert all(float(r["total_s"]) > 0 for r in rows)
    head = provenance.git("rev-parse", "HEAD")
    if head:  # a git checkout: every row says which commit timed it
        assert {r["commit"].removesuffix(provenance.DIRTY) for r in rows} == {head}
    md = out.with_suffix(".md").read_text()
    assert "in a running study" in md
    assert "| dtlz2 | 6 | 2 | 8 |" in md
    assert "python -m benchmarks.speed --sizes 8 --repeats 1 --methods mobo" in md
    if head:
        assert f"at commit `{head[:12]}" in md


def test_a_stamp_is_shown_short_and_keeps_dirty() -> None:
    assert speed._short("a" * 40) == "a" * 12
    assert speed._short("a" * 40 + provenance.DIRTY) == "a" * 12 + provenance.DIRTY
    assert speed._short("") == "unknown"
