"""The paper's table of the distillation search's development runs (paper/trust_region.py)
from small hand-made folders: coverage, hypervolume at the common trial count, the share
above the threshold and the share of 1-layer proposals."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from benchmarks.distill_compare import FIELDS, NAME
from paper.trust_region import DEV_SETTINGS, STANDIN_SETTINGS, trust_region_section

REFERENCE = {"exact": 30.0, "num_parameters": 100.0}
ONE_LAYER = 40.0  # the largest 1-layer count: students of at most 40 "parameters"


def _folder(root: Path, runs: dict[int, list[tuple[str, float, float]]],
            method: str = "mobo") -> Path:
    """A run folder with ``runs``: seed -> trials (source, exact, num_parameters)."""
    root.mkdir(parents=True)
    (root / NAME).mkdir()
    (root / NAME / "reference.json").write_text(json.dumps(REFERENCE))
    with (root / f"{NAME}.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        for seed, trials in runs.items():
            for k, (source, exact, size) in enumerate(trials):
                w.writerow({"method": method, "seed": seed, "trial": k, "source": source,
                            "status": "completed", "exact": exact, "f1": exact,
                            "num_parameters": size, "seconds": 1.0})
    return root


def _journal_with_one_layer(results: Path) -> None:
    lines = [{"event": "ask", "number": 0, "params": {"n_layers": 1}},
             {"event": "tell", "number": 0, "values": {"num_parameters": ONE_LAYER}},
             {"event": "ask", "number": 1, "params": {"n_layers": 2}},
             {"event": "tell", "number": 1, "values": {"num_parameters": 60.0}}]
    (results / "distill_budget200.jsonl").write_text(
        "".join(json.dumps(e) + "\n" for e in lines))


def test_table_rows_from_hand_made_runs(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    _journal_with_one_layer(results)
    design = [("initial", 20.0, 90.0)] * 25
    # seed 0: 30 trials, model trials alternate a 1-layer miss and a 2-layer hit
    model0 = [("model", 29.0, 35.0) if k % 2 else ("model", 50.0, 60.0) for k in range(5)]
    # seed 1: 27 trials, both model trials 2-layer hits
    model1 = [("model", 40.0, 50.0)] * 2
    _folder(results / "distill_dev" / "trust_region", {0: design + model0, 1: design + model1})
    _folder(results / "distill_standin" / "peers", {0: design + model1}, method="tpe")
    values, tables = trust_region_section(results)
    table = tables["table_trust_region"]
    assert values["trust_region_table"] == table
    rows = [line.split(" | ") for line in table.splitlines() if line.startswith("| stand")
            or line.startswith("| task")]
    assert len(rows) == 2
    peers, mobo = rows
    assert peers[3] == "tpe" and peers[2] == "-" and peers[4] == "27"
    assert mobo[1] == "`trust_region/`" and mobo[4] == "30, 27"
    # both seeds reached 27 trials; the checkpoint used is the largest at most that: 25
    assert mobo[5] == "0.00 (after 25)"
    # shares above the threshold: seed 0 3 of 5, seed 1 2 of 2 -> median 80%
    assert mobo[6] == "80%"
    # 1-layer proposals: 2 of the 7 post-initial trials
    assert mobo[7].rstrip(" |") == f"{2 / 7:.0%}"


def test_a_folder_made_on_a_named_machine_says_which(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    _journal_with_one_layer(results)
    design = [("initial", 20.0, 90.0)] * 25
    _folder(results / "distill_dev" / "epyc_default", {0: design + [("model", 40.0, 50.0)]})
    _folder(results / "distill_dev" / "onemachine_peers", {0: design}, method="tpe")
    _, tables = trust_region_section(results)
    rows = {line.split(" | ")[1]: line.split(" | ")[0].lstrip("| ")
            for line in tables["table_trust_region"].splitlines() if line.startswith("| task")}
    assert rows == {"`epyc_default/`": "task (AMD EPYC)",
                    "`onemachine_peers/`": "task (Intel Xeon)"}


def test_missing_folders_are_skipped(tmp_path: Path) -> None:
    results = tmp_path / "results"
    results.mkdir()
    _journal_with_one_layer(results)
    _, tables = trust_region_section(results)
    assert not [line for line in tables["table_trust_region"].splitlines()
                if line.startswith("| task") or line.startswith("| stand")]
    (results / "distill_budget200.jsonl").unlink()
    with pytest.raises(ValueError, match="no distillation journal with a 1-layer student"):
        trust_region_section(results)


@pytest.mark.parametrize("kind, settings", [("distill_standin", STANDIN_SETTINGS),
                                            ("distill_dev", DEV_SETTINGS)])
def test_the_table_names_every_committed_development_folder(
        kind: str, settings: tuple[tuple[str, str], ...]) -> None:
    # the section says its table lists every development run in the repository
    root = Path(__file__).resolve().parents[2] / "results" / kind
    committed = {p.parent.name for p in root.glob(f"*/{NAME}.csv")}
    listed = [folder for folder, _ in settings]
    assert committed and committed <= set(listed)
    assert len(listed) == len(set(listed))
