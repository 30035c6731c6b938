"""benchmarks.seed_shape on a tiny shape: the JSON it writes and the report made from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.seed_shape import main, markdown, project

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("seed_shape")
    assert main(["--device", "cpu", "--threads", "1", "--hidden", "32", "--heads", "2",
                 "--layers", "1", "--ffn", "64", "--vocab", "100", "--seq", "32",
                 "--batch", "2", "--steps", "1", "--warmup", "1", "--repeats", "3",
                 "--out-dir", str(out)]) == 0
    return json.loads((out / "seed_shape.json").read_text()), \
        (out / "seed_shape.md").read_text()


def test_the_json_records_the_run(written: tuple[dict, str]) -> None:
    r, _ = written
    assert r["shape"] == {"hidden": 32, "heads": 2, "layers": 1, "ffn": 64, "vocab": 100}
    assert (r["seq"], r["batch"], r["steps"], r["warmup"], r["repeats"]) == (32, 2, 1, 1, 3)
    assert r["threads"] == 1 and r["torch"] and r["command"].startswith(
        "python -m benchmarks.seed_shape --device cpu")
    assert r["commit"] is None or len(r["commit"]) == 40
    (m,) = r["measurements"]
    assert m["device"] == "cpu" and m["precision"] == "float32"
    assert len(m["examples_per_second_runs"]) == 3
    assert m["examples_per_second"] == sorted(m["examples_per_second_runs"])[1] > 0
    # 1 layer at width 32: embeddings, one layer, the span head
    embeddings = (100 + 512 + 2) * 32 + 2 * 32
    layer = 4 * (32 * 32 + 32) + 2 * 32 + (32 * 64 + 64) + (64 * 32 + 32) + 2 * 32
    assert m["num_parameters"] == embeddings + layer + 32 * 2 + 2
    p = r["projection"]
    assert (p["trials"], p["epochs"], p["features"], p["parallel"]) == (200, 3, 130_000, 20)
    assert p["example_passes"] == 200 * 3 * 130_000
    assert m["projection"] == project(m["examples_per_second"], trials=200, epochs=3,
                                      features=130_000, parallel=20)
    assert m["projection"]["wall_hours"] * 20 == pytest.approx(
        m["projection"]["device_hours"])


def test_the_report_is_made_from_the_json(written: tuple[dict, str]) -> None:
    r, text = written
    assert text == markdown(r)
    (m,) = r["measurements"]
    assert f"| {m['examples_per_second']:.3g} |" in text
    hours = m["projection"]["device_hours"]
    assert (f"| {hours:,.0f} h |" if hours >= 100 else f"| {hours:.3g} h |") in text
    assert "No GPU was measured here" in text and "78,000,000" in text
    # a changed number in the JSON changes the report
    changed = json.loads(json.dumps(r))
    changed["measurements"][0]["examples_per_second"] = 12345.0
    assert "| 1.23e+04 |" in markdown(changed)


def test_the_committed_report_matches_its_json() -> None:
    data = ROOT / "results" / "seed_shape.json"
    if not data.is_file():
        pytest.skip("results/seed_shape.json not written yet")
    r = json.loads(data.read_text())
    assert (ROOT / "results" / "seed_shape.md").read_text() == markdown(r)
    assert r["shape"] == {"hidden": 768, "heads": 12, "layers": 6, "ffn": 3072,
                          "vocab": 30522} and r["seq"] == 384
