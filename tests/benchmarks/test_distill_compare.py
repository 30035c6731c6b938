"""Tests of the distillation comparison's pipeline on a cheap stand-in for the task (no
training): every method, the CSV, resuming after an interruption, and the report."""

from __future__ import annotations

import csv
import importlib.util
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks import distill_compare as D
from mobo.run import default_n_initial
from mobo.space import Categorical, Float, Int, Space
from mobo.trial import Objective
from mobo.volume import hypervolume

REFERENCE = {"exact": 50.0, "num_parameters": 7000.0}
HAS_OPTUNA = importlib.util.find_spec("optuna") is not None
HAS_BOTORCH = importlib.util.find_spec("botorch") is not None


class Interrupted(BaseException):
    """A kill between trials (not an Exception: it must not become a failed trial)."""


class FakeTask:
    """A closed-form stand-in for the distillation task: bigger and better-tuned students
    score more; a learning rate above 0.008 fails the trial; ``stop_after`` calls
    interrupt the run."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.calls = 0
        self.stop_after = stop_after

    def __call__(self, params: Mapping[str, Any]) -> dict[str, float]:
        if self.stop_after is not None and self.calls >= self.stop_after:
            raise Interrupted
        self.calls += 1
        layers = int(params["n_layers"])
        lr = float(params["learning_rate"])
        if lr > 0.008:
            raise RuntimeError("diverged")
        bonus = 5.0 if params["init"] == "teacher" else 0.0
        exact = 40.0 + 6.0 * layers - 8.0 * abs(math.log10(lr) + 3.5) + bonus
        return {"exact": exact, "f1": exact + 3.0,
                "num_parameters": float(self.num_parameters(params)), "inference_time": 0.1}

    @staticmethod
    def num_parameters(params: Mapping[str, Any]) -> int:
        return 1000 * int(params["n_layers"]) + (500 if params["init"] == "pretrained" else 0)


def make_box(stop_after: int | None = None) -> tuple[D.Blackbox, FakeTask]:
    space = Space([
        Int("n_layers", 1, 6),
        Float("learning_rate", 1e-5, 1e-2, log=True),
        Categorical("init", ("teacher", "pretrained")),
    ])
    objectives = [Objective("exact", maximize=True, threshold=REFERENCE["exact"]),
                  Objective("num_parameters")]
    fake = FakeTask(stop_after)
    return D.Blackbox(space, objectives, fake, dict(REFERENCE)), fake


@pytest.fixture(autouse=True)
def _small_botorch_search(monkeypatch: pytest.MonkeyPatch) -> None:
    # the acquisition optimiser's full search costs minutes on the test machine
    monkeypatch.setattr(D, "BOTORCH_RESTARTS", 2)
    monkeypatch.setattr(D, "BOTORCH_RAW_SAMPLES", 32)
    monkeypatch.setattr(D, "BOTORCH_MIXED_OPTIONS", {"maxiter_alternating": 2,
                                                     "maxiter_continuous": 20})


def available(method: str) -> bool:
    return {"tpe": HAS_OPTUNA, "gp": HAS_OPTUNA, "botorch": HAS_BOTORCH}.get(method, True)


def csv_rows(out: Path) -> list[dict[str, str]]:
    with (out / "distill_compare.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == D.FIELDS
        return list(reader)


def comparable(rows: list[dict[str, str]]) -> list[tuple[str, ...]]:
    return [tuple(r[k] for k in D.FIELDS if k != "seconds") for r in rows]


def run(method: str, out: Path, budget: int, *, seed: int = 3,
        stop_after: int | None = None) -> FakeTask:
    box, fake = make_box(stop_after)
    D.run_method(method, box, seed, budget, out, lambda m, s, r: D.write_csv(out))
    return fake


@pytest.mark.parametrize("method", D.METHODS)
def test_each_method_fills_the_csv(method: str, tmp_path: Path) -> None:
    if not available(method):
        pytest.skip(f"{method}: peer not installed")
    # BoTorch's model fits are the slow part: fewer proposals
    budget = 5 if method == "botorch" else 7
    box, _ = make_box()
    n0 = default_n_initial(box.space.dim, budget)
    run(method, tmp_path, budget)
    rows = csv_rows(tmp_path)
    assert [int(r["trial"]) for r in rows] == list(range(budget))
    assert {r["method"] for r in rows} == {method} and {r["seed"] for r in rows} == {"3"}
    assert [r["source"] for r in rows] == ["initial"] * n0 + ["model"] * (budget - n0)
    for r in rows:
        assert r["status"] in ("completed", "failed")
        if r["status"] == "failed":
            assert r["exact"] == r["f1"] == r["num_parameters"] == ""
        else:
            params_count = float(r["num_parameters"])
            assert params_count in {1000.0 * k + e for k in range(1, 7) for e in (0, 500)}
            assert float(r["f1"]) == float(r["exact"]) + 3.0
        assert float(r["seconds"]) >= 0
    # a complete run does nothing more
    fake = run(method, tmp_path, budget)
    assert fake.calls == 0 and len(csv_rows(tmp_path)) == budget


def test_same_initial_design_for_every_method(tmp_path: Path) -> None:
    methods = [m for m in D.METHODS if available(m)]
    n0 = default_n_initial(make_box()[0].space.dim, 6)
    for m in methods:
        with pytest.raises(Interrupted):  # the design alone
            run(m, tmp_path, 6, stop_after=n0)
    firsts = {m: [json.dumps(r["params"], sort_keys=True)
                  for r in D.records(tmp_path, m, 3)[:n0]] for m in methods}
    assert all(v == firsts["sobol"] for v in firsts.values())


@pytest.mark.parametrize("method", ["mobo", "sobol"])
def test_resuming_after_a_kill_gives_the_uninterrupted_trials(method: str,
                                                              tmp_path: Path) -> None:
    budget = 8
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    run(method, whole, budget)
    with pytest.raises(Interrupted):
        run(method, parts, budget, stop_after=5)
    assert len(csv_rows(parts)) == 5
    fake = run(method, parts, budget)
    assert fake.calls == budget - 5
    assert comparable(csv_rows(parts)) == comparable(csv_rows(whole))


def test_sobol_resumes_after_a_torn_last_line(tmp_path: Path) -> None:
    budget = 6
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    run("sobol", whole, budget)
    run("sobol", parts, budget)
    path = D.run_path(parts, "sobol", 3)
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join(lines[:2]) + b"\n" + lines[2][: len(lines[2]) // 2])
    assert len(D.read_records(path)) == 2
    fake = run("sobol", parts, budget)
    assert fake.calls == budget - 2
    assert comparable(csv_rows(parts)) == comparable(csv_rows(whole))
    assert len(D.read_records(path)) == budget


def test_damage_before_the_last_line_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"trial": 0}\nnot json\n{"trial": 1}\n')
    with pytest.raises(ValueError, match="line 2"):
        D.read_records(path)


@pytest.mark.skipif(not HAS_OPTUNA, reason="optuna not installed")
def test_tpe_keeps_the_recorded_trials(tmp_path: Path) -> None:
    budget = 8
    with pytest.raises(Interrupted):
        run("tpe", tmp_path, budget, stop_after=5)
    before = D.records(tmp_path, "tpe", 3)
    assert len(before) == 5
    fake = run("tpe", tmp_path, budget)
    assert fake.calls == budget - 5  # replayed into the sampler, not evaluated again
    after = D.records(tmp_path, "tpe", 3)
    assert after[:5] == before and len(after) == budget
    assert [r["trial"] for r in after] == list(range(budget))


def test_report_numbers_come_from_the_csv(tmp_path: Path) -> None:
    budget = 30
    for seed in (0, 1):
        box, _ = make_box()
        D.run_method("sobol", box, seed, budget, tmp_path)
    box, _ = make_box()
    D.run_method("mobo", box, 0, 12, tmp_path)  # an incomplete run
    D.write_csv(tmp_path)
    (tmp_path / "distill_compare").mkdir(exist_ok=True)
    (tmp_path / "distill_compare" / "reference.json").write_text(json.dumps(REFERENCE))
    md, fig = D.write_report(tmp_path, budget, tmp_path / "fronts.png")
    text = md.read_text()
    assert fig.is_file() and fig.stat().st_size > 0

    rows = list(csv.DictReader((tmp_path / "distill_compare.csv").open(newline="")))
    ref = np.array([-REFERENCE["exact"], 1.0])

    def direct_hv(seed: int, n: int) -> float:
        ok = [r for r in rows if r["method"] == "sobol" and int(r["seed"]) == seed
              and int(r["trial"]) < n and r["status"] == "completed"]
        Y = np.array([[-float(r["exact"]), float(r["num_parameters"]) / 7000.0] for r in ok])
        Y = Y[np.all(Y < ref, axis=1)]
        return float(hypervolume(Y, ref)) if len(Y) else 0.0

    hv = [direct_hv(s, 25) for s in (0, 1)]
    q25, q50, q75 = np.percentile(hv, [25, 50, 75])
    assert f"{q50:.3f} [{q25:.3f}, {q75:.3f}] (n=2)" in text
    hv30 = [direct_hv(s, 30) for s in (0, 1)]
    assert f"{np.median(hv30):.3f} [" in text

    n0 = default_n_initial(box.space.dim, budget)
    shares = []
    for s in (0, 1):
        post = [r for r in rows if r["method"] == "sobol" and int(r["seed"]) == s
                and int(r["trial"]) >= n0]
        shares.append(sum(r["exact"] != "" and float(r["exact"]) > 50.0 for r in post)
                      / len(post))
    assert f"| sobol | {np.median(shares):.0%} | {shares[0]:.0%}, {shares[1]:.0%} |" in text

    bests = []
    for band in D.SIZE_BANDS:
        per_seed = [max((float(r["exact"]) for r in rows if r["method"] == "sobol"
                         and int(r["seed"]) == s and r["exact"] != ""
                         and float(r["num_parameters"]) <= band * 7000.0), default=50.0)
                    for s in (0, 1)]  # a run with no student that small counts as 50 (ref)
        bests.append(f"{np.median(per_seed):.2f}")
    assert "| sobol | " + " | ".join(bests) + " |" in text
    # complete runs count over every seed run here: mobo has not run seed 1
    assert "| mobo | 0 of 2 | 0 | 0: 12 |" in text
    assert "| sobol | 2 of 2 | 0 1 | 0: 30, 1: 30 |" in text
    assert "Incomplete: mobo (seed 0 at 12 trials, seed 1 not run). " in text
    assert "## Targets" in text and "median hypervolume after 30" in text


def test_the_verdicts_alone_and_beside_a_peer() -> None:
    def method(share: float, hv: float) -> dict[str, object]:
        return {"hv": {100: [hv]}, "share": [share],
                "best": {b: [40.0] for b in D.SIZE_BANDS}}

    alone = D._verdicts({"mobo": method(0.77, 13.0)}, [100])
    assert alone[0] == "- no peer run in this file: the comparisons with peers are not judged"
    assert alone[1].endswith("met (mobo 77%)")  # no dangling separator without peers
    assert len(alone) == 2  # neither hypervolume nor size bands judged against nobody
    both = D._verdicts({"mobo": method(0.77, 13.0), "tpe": method(0.80, 12.0)}, [100])
    assert both[0].startswith("- median hypervolume after 100 >= every peer's: met")
    assert both[1].endswith("MISSED (mobo 77%; tpe 80%)")


def test_main_report_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert D.main(["--report", "--out-dir", str(tmp_path)]) == 1
    assert "no results yet" in capsys.readouterr().err
    box, _ = make_box()
    D.run_method("sobol", box, 0, 5, tmp_path)
    D.write_csv(tmp_path)
    (tmp_path / "distill_compare" / "reference.json").write_text(json.dumps(REFERENCE))
    assert D.main(["--report", "--out-dir", str(tmp_path), "--budget", "5"]) == 0
    assert (tmp_path / "distill_compare.md").is_file()
    assert (tmp_path / "distill_compare_fronts.png").is_file()


def test_arguments() -> None:
    args = D.parse_args([])
    assert args.seeds == [10, 11, 12] and args.budget == 100
    assert args.methods == list(D.METHODS) and args.threads is None
    with pytest.raises(SystemExit):
        D.parse_args(["--budget", "0"])
    with pytest.raises(SystemExit):
        D.parse_args(["--methods", "nsga2"])
    # noisy mode as a development setting, and its number of front samples with it only
    assert D.mobo_overrides(args) == {}
    noisy = D.parse_args(["--mobo-noisy", "--mobo-front-samples", "8"])
    assert D.mobo_overrides(noisy) == {"noisy": True,
                                       "proposer_options": {"n_front_samples": 8}}
    assert D.mobo_overrides(D.parse_args(["--no-mobo-noisy"])) == {"noisy": False}
    sampled = D.parse_args(["--mobo-sample-front", "--mobo-front-samples", "8"])
    assert D.mobo_overrides(sampled) == {"proposer_options": {"n_front_samples": 8,
                                                              "sample_front": True}}
    plug = D.parse_args(["--mobo-sample-front", "--mobo-plug-in-front"])
    assert D.mobo_overrides(plug) == {"proposer_options": {"sample_front": True,
                                                           "plug_in_front": True}}
    # the front extension's share, a proposer option; 0 or none: off
    assert D.mobo_overrides(D.parse_args(["--mobo-extend", "0.5"])) == {
        "proposer_options": {"extend": 0.5}}
    assert D.mobo_overrides(D.parse_args(["--mobo-extend", "none"])) == {}
    # how it picks its point, a proposer option beside it
    for by in ("density", "cheapest"):
        assert D.mobo_overrides(D.parse_args(["--mobo-extend", "0.25", "--mobo-extend-by",
                                              by])) == {
            "proposer_options": {"extend": 0.25, "extend_by": by}}
    # where the exploration share's good trials come from, a proposer option
    assert D.mobo_overrides(D.parse_args(["--mobo-explore-good", "all"])) == {
        "proposer_options": {"explore_good": "all"}}
    for bad in (["--mobo-front-samples", "8"], ["--no-mobo-noisy", "--mobo-front-samples", "8"],
                ["--mobo-extend", "1"], ["--mobo-extend", "-0.2"],
                ["--mobo-explore-good", "some"], ["--mobo-extend-by", "density"],
                ["--mobo-extend", "0", "--mobo-extend-by", "density"],
                ["--mobo-extend", "0.5", "--mobo-extend-by", "tpe"],
                ["--mobo-noisy", "--mobo-front-samples", "0"],
                ["--no-mobo-sample-front", "--mobo-front-samples", "8"],
                ["--mobo-plug-in-front"], ["--mobo-noisy", "--mobo-plug-in-front",
                                           "--mobo-front-samples", "4"]):
        with pytest.raises(SystemExit):
            D.parse_args(bad)


def test_a_noisy_mode_override_reaches_the_study(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[tuple[bool, object]] = []
    original = D.Study.__init__

    def spy(self, *a, **kw):  # type: ignore[no-untyped-def]
        made.append((kw["noisy"], kw.get("proposer_options")))
        original(self, *a, **kw)

    monkeypatch.setattr(D.Study, "__init__", spy)
    box, _ = make_box()
    D.run_method("mobo", box, 0, 2, tmp_path / "a")
    D.run_method("mobo", box, 0, 2, tmp_path / "b",
                 mobo_options={"noisy": True, "proposer_options": {"n_front_samples": 4}})
    assert made == [(box.noisy, None), (True, {"n_front_samples": 4})]


def test_evaluation_cache_serves_what_another_run_evaluated(tmp_path: Path) -> None:
    box, fake = make_box()
    cache = D.EvaluationCache(tmp_path / "cache.jsonl", D.task_fingerprint(box))
    cached = D.Blackbox(box.space, box.objectives, D.CachedFn(fake, cache), box.reference)
    budget = 6
    D.run_method("sobol", cached, 4, budget, tmp_path / "a")
    records = D.read_records(D.run_path(tmp_path / "a", "sobol", 4))
    completed = sum(r["status"] == "completed" for r in records)
    failed = len(records) - completed
    assert fake.calls == budget and completed >= 1
    # another run of the same design (another process, as after a restart): only the
    # failed evaluations are tried again, the records are the same
    again = D.EvaluationCache(tmp_path / "cache.jsonl", D.task_fingerprint(box))
    cached2 = D.Blackbox(box.space, box.objectives, D.CachedFn(fake, again), box.reference)
    D.run_method("sobol", cached2, 4, budget, tmp_path / "b")
    assert fake.calls == budget + failed and again.hits == completed
    strip = [{k: v for k, v in r.items() if k != "seconds"}
             for r in D.read_records(D.run_path(tmp_path / "a", "sobol", 4))]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"}
                     for r in D.read_records(D.run_path(tmp_path / "b", "sobol", 4))]
    # failed evaluations are not kept: they are tried again
    failing = {"n_layers": 2, "learning_rate": 0.009, "init": "teacher"}
    for _ in range(2):
        with pytest.raises(RuntimeError):
            cached2.fn(failing)
    assert again.get(failing) is None
    # a torn line (a crash mid-write) is skipped, and the lines after it are read
    with (tmp_path / "cache.jsonl").open("a") as f:
        f.write('{"key": "{\\"n_lay')
    extra = {"n_layers": 3, "learning_rate": 1e-3, "init": "teacher"}
    cached2.fn(extra)
    third = D.EvaluationCache(tmp_path / "cache.jsonl", D.task_fingerprint(box))
    assert third.get(extra) == fake(extra)
    # another task's cache is refused
    other = D.Blackbox(box.space, box.objectives, fake, {"exact": 1.0, "num_parameters": 2.0})
    with pytest.raises(ValueError, match="another task"):
        D.EvaluationCache(tmp_path / "cache.jsonl", D.task_fingerprint(other))


def first_line(path: Path) -> Any:
    return json.loads(next(line for line in path.read_text().splitlines() if line.strip()))


def test_evaluation_cache_serves_only_its_own_environment(tmp_path: Path) -> None:
    box, fake = make_box()
    here = {"cpu": "CPU A", "torch": "2.13.0", "torch_threads": 1, "device": "cpu",
            "teacher": "0123456789abcdef"}
    path = tmp_path / "cache.jsonl"
    made = D.EvaluationCache(path, D.task_fingerprint(box), here)
    p = {"n_layers": 3, "learning_rate": 1e-3, "init": "teacher"}
    made.put(p, fake(p))
    assert first_line(path) == {
        "task": D.task_fingerprint(box), "environment": here}
    # the same environment: served, checked
    same = D.EvaluationCache(path, D.task_fingerprint(box), dict(here))
    assert same.get(p) == fake(p) and not same.unchecked
    # another teacher, or another thread count: refused, naming what differs
    for change in ({"teacher": "fedcba9876543210"}, {"torch_threads": 2}):
        with pytest.raises(ValueError, match=f"another environment.*{next(iter(change))}"):
            D.EvaluationCache(path, D.task_fingerprint(box), {**here, **change})
    # a file from before environments were recorded: served, marked unchecked
    old = tmp_path / "old.jsonl"
    old.write_text(json.dumps({"task": D.task_fingerprint(box)}) + "\n"
                   + json.dumps({"key": D.EvaluationCache.key(p), "values": fake(p)}) + "\n")
    legacy = D.EvaluationCache(old, D.task_fingerprint(box), here)
    assert legacy.unchecked == list(here) and legacy.get(p) == fake(p)
    # a file recording part of today's environment (made before the rest was recorded):
    # what it records is checked, the rest named unchecked
    more = {**here, "cpu_model": "AuthenticAMD family 25 model 17 stepping 1",
            "cpu_capability": "AVX512"}
    partial = D.EvaluationCache(path, D.task_fingerprint(box), more)
    assert partial.unchecked == ["cpu_model", "cpu_capability"] and partial.get(p) == fake(p)
    with pytest.raises(ValueError, match="another environment.*teacher"):
        D.EvaluationCache(path, D.task_fingerprint(box), {**more, "teacher": "f" * 16})
    # a file recording a part this environment differs in: refused
    full = tmp_path / "full.jsonl"
    D.EvaluationCache(full, D.task_fingerprint(box), more).put(p, fake(p))
    with pytest.raises(ValueError, match="another environment.*cpu_capability 'AVX512', "
                                         "here 'AVX2'"):
        D.EvaluationCache(full, D.task_fingerprint(box), {**more, "cpu_capability": "AVX2"})
    # without an environment of its own (the stand-in) nothing is checked or written
    plain = D.EvaluationCache(tmp_path / "plain.jsonl", D.task_fingerprint(box))
    assert not plain.unchecked
    assert first_line(tmp_path / "plain.jsonl") == {"task": D.task_fingerprint(box)}


def test_read_reference_reads_the_folder_reference_as_numbers(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a comparison folder"):
        D.read_reference(tmp_path)
    (tmp_path / "distill_compare").mkdir()
    (tmp_path / "distill_compare" / "reference.json").write_text(
        json.dumps({"exact": 32, "num_parameters": "22566146"}))
    assert D.read_reference(tmp_path) == {"exact": 32.0, "num_parameters": 22566146.0}
