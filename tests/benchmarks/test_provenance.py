"""Tests of benchmarks.provenance: commit stamps and staleness, checked in a scratch git
repository against what git itself says changed."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from benchmarks import compare as C
from benchmarks import provenance as P

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for rel in ("mobo/acquisition.py", "mobo/problems.py", "benchmarks/compare.py",
                "distill/train.py", "README.md"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"# {rel}\n")
    _git(root.parent, "init", "-q", str(root))
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    return root


def _commit(root: Path, rel: str, text: str) -> str:
    (root / rel).write_text(text)
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", rel)
    return _git(root, "rev-parse", "HEAD")


def test_cpu_model_reads_the_first_processors_vendor_family_model_and_stepping(
        tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n"
                    "model\t\t: 17\nmodel name\t: AMD EPYC\nstepping\t: 1\n\n"
                    "processor\t: 1\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n"
                    "model\t\t: 85\nstepping\t: 7\n")
    assert P.cpu_model(info) == "AuthenticAMD family 25 model 17 stepping 1"
    assert P.cpu_name(info) == "AMD EPYC"
    # no such file, or no vendor in it: the platform's word, never an error
    assert P.cpu_model(tmp_path / "absent") == P.platform.machine()
    info.write_text("processor\t: 0\n")
    assert P.cpu_model(info) == P.platform.machine()


def test_stamp_is_the_head_commit_and_dirty_only_for_the_covered_paths(repo: Path) -> None:
    head = _git(repo, "rev-parse", "HEAD")
    assert P.stamp(("mobo",), repo) == head
    (repo / "README.md").write_text("edited\n")
    assert P.stamp(("mobo",), repo) == head            # the change is outside mobo/
    assert P.stamp((), repo) == head + P.DIRTY           # but the tree is dirty
    (repo / "mobo" / "acquisition.py").write_text("edited\n")
    assert P.stamp(("mobo",), repo) == head + P.DIRTY
    assert P.stamp(("mobo",), repo.parent) == ""         # not a repository


def test_changed_since_lists_what_git_diff_lists_under_the_covered_paths(repo: Path) -> None:
    first = _git(repo, "rev-parse", "HEAD")
    mobo_mobo = P.covers("compare", "mobo")
    peer = P.covers("compare", "tpe")
    assert P.changed_since(first, mobo_mobo, repo) == []
    _commit(repo, "README.md", "other\n")
    assert P.changed_since(first, mobo_mobo, repo) == []          # not covered
    _commit(repo, "mobo/acquisition.py", "new acquisition\n")
    assert P.changed_since(first, mobo_mobo, repo) == ["mobo/acquisition.py"]
    assert P.changed_since(first, peer, repo) == []               # peers don't run it
    _commit(repo, "mobo/problems.py", "new problems\n")
    assert P.changed_since(first, peer, repo) == ["mobo/problems.py"]
    assert sorted(P.changed_since(first, mobo_mobo, repo)) == ["mobo/acquisition.py",
                                                               "mobo/problems.py"]
    # what cannot be checked is stale, each with its reason
    assert P.changed_since("", mobo_mobo, repo) == ["(no commit recorded)"]
    assert P.changed_since(first + P.DIRTY, mobo_mobo, repo) == [
        "(made from uncommitted changes)"]
    assert "not in this repository" in P.changed_since("0" * 40, mobo_mobo, repo)[0]


def test_code_of_drops_docstrings_comments_and_layout_but_nothing_else() -> None:
    base = 'def f(x):\n    """Doc."""\n    return x + 1  # why\n'
    same = ('"""A module."""\n\n\ndef f(x):\n    """Other words."""\n\n'
            '    # a new comment\n    return (x\n            + 1)\n')
    assert P.code_of(base) == P.code_of(same)
    # a string that is not the first statement is code, as is any other change
    assert P.code_of(base) != P.code_of('def f(x):\n    y = 0\n    "s"\n    return x + 1\n')
    assert P.code_of(base) != P.code_of('def f(x):\n    """Doc."""\n    return x + 2\n')
    assert P.code_of(base) != P.code_of('def f(x):\n    return x - 1\n')
    assert P.code_of('class A:\n    """Doc."""\n') == P.code_of('class A:\n    """B."""\n')
    assert P.code_of("new acquisition\n") is None


def test_an_edit_of_docstrings_and_comments_only_does_not_make_a_result_stale(
        repo: Path) -> None:
    rel = "mobo/acquisition.py"
    first = _commit(repo, rel, 'def f(x):\n    """Doc."""\n    return x + 1\n')
    covered = P.covers("compare", "mobo")
    _commit(repo, rel, '"""Module."""\n\n\ndef f(x):\n    """New doc."""\n'
            '    # why\n    return x + 1\n')
    assert P.changed_since(first, covered, repo) == []
    _commit(repo, "README.md", "a non-Python file changes by its text\n")
    # a file that does not parse cannot be compared: it counts as changed
    _commit(repo, "benchmarks/compare.py", "def broken(:\n")
    assert P.changed_since(first, covered, repo) == ["benchmarks/compare.py"]
    _commit(repo, rel, 'def f(x):\n    """New doc."""\n    return x + 2\n')
    assert sorted(P.changed_since(first, covered, repo)) == ["benchmarks/compare.py", rel]


def _declare(repo: Path, *neutral: dict[str, object],
             superseded: tuple[dict[str, object], ...] = ()) -> None:
    (repo / "results").mkdir(exist_ok=True)
    (repo / P.DECLARED_FILE).write_text(json.dumps(
        {"neutral": list(neutral), "superseded": list(superseded)}))


def test_changes_declared_neutral_are_forgiven_up_to_their_commit_only(repo: Path) -> None:
    first = _git(repo, "rev-parse", "HEAD")
    covered = P.covers("compare", "mobo")
    neutral = _commit(repo, "mobo/acquisition.py", "explore = None\n")
    run = ("results/compare.csv", "mobo")
    assert P._group(*run[:1], covered, run[1], [first], repo).stale_runs == 1
    _declare(repo, {"up_to": neutral[:12], "reason": "an option off in every run"})
    g = P._group(run[0], covered, run[1], [first, first], repo)
    assert g.stale_runs == 0 and g.judged[first].commit == neutral
    assert "judged from `" + neutral[:10] in P.markdown([g])
    assert "- up to `" + neutral[:10] + "`: an option off in every run" in P.markdown([g])
    # a run made after the declared commit is judged from its own commit
    assert P._group(run[0], covered, run[1], [neutral], repo).judged == {}
    # what changes after the declared commit still makes the run stale
    _commit(repo, "mobo/problems.py", "changed = True\n")
    g = P._group(run[0], covered, run[1], [first], repo)
    assert g.stale_runs == 1 and g.changed[first] == ["mobo/problems.py"]
    # a declaration for other results or methods does not apply; the newest that does wins
    later = _commit(repo, "README.md", "text\n")
    _declare(repo, {"up_to": neutral, "reason": "r1"},
             {"up_to": later, "reason": "r2", "results": ["results/distill*"]},
             {"up_to": later, "reason": "r3", "methods": ["tpe"]})
    assert P._group(run[0], covered, "mobo", [first], repo).judged[first].reason == "r1"
    assert P._group(run[0], covered, "tpe", [first], repo).judged[first].reason == "r3"
    assert P._group("results/distill_x.csv", covered, "mobo", [first],
                    repo).judged[first].reason == "r2"
    # a stamp no declaration can make checkable stays stale
    g = P._group(run[0], covered, "mobo", ["", first + P.DIRTY], repo)
    assert g.judged == {} and g.stale_runs == 2


def test_superseded_runs_are_counted_apart_and_only_when_stale(repo: Path) -> None:
    first = _git(repo, "rev-parse", "HEAD")
    covered = P.covers("distill_compare", "mobo")
    second = _commit(repo, "mobo/problems.py", "x = 1\n")
    new_default = _commit(repo, "distill/train.py", "default = 'new'\n")
    _declare(repo, superseded=({"before": new_default, "reason": "the previous default",
                                "methods": ["mobo"]},))
    g = P._group("results/distill_compare.csv", covered, "mobo", [first, second, new_default],
                 repo)
    assert (g.stale_runs, g.superseded_runs) == (0, 2)
    assert set(g.superseded) == {first, second}
    text = P.markdown([g])
    assert "| 3 | 1 | 0 | 2 |" in text and "2 runs are superseded." in text
    assert f"- made before `{new_default[:10]}`: the previous default" in text
    # another method, or a run made at or after the commit, is not covered by it
    assert P._group("results/distill_compare.csv", covered, "tpe", [first],
                    repo).stale_runs == 1
    # a later neutral declaration for every result (an unrelated edit) does not forgive
    # the change that superseded the runs made before it; runs made after it, it does
    edit = _commit(repo, "mobo/problems.py", "x = 2\n")
    _declare(repo, {"up_to": edit, "reason": "an edit that moves no number"},
             superseded=({"before": new_default, "reason": "the previous default",
                          "methods": ["mobo"]},))
    g = P._group("results/distill_compare.csv", covered, "mobo", [first, second, new_default],
                 repo)
    assert (g.stale_runs, g.superseded_runs) == (0, 2)
    assert set(g.judged) == {new_default} and g.judged[new_default].commit == edit
    assert "distill/train.py" in g.changed[first]
    # a run that is fresh is fresh, not superseded
    fresh = P._group("results/x.csv", ("README.md",), "mobo", [first], repo)
    assert (fresh.stale_runs, fresh.superseded_runs) == (0, 0)


@pytest.mark.parametrize("data, needle", [
    ({"neutral": [{"reason": "r"}]}, "neutral[0]: needs a \"up_to\" commit and a \"reason\""),
    ({"neutral": [{"up_to": "HEAD", "reason": " "}]}, "needs a \"up_to\" commit"),
    ({"neutral": [{"up_to": "0" * 40, "reason": "r"}]}, "is not a commit of this repository"),
    ({"neutral": [{"up_to": "HEAD", "reason": "r", "methods": "mobo"}]},
     "'methods' must be a list"),
    ({"neutral": [{"up_to": "HEAD", "reason": "r", "results": []}]},
     "'results' must be a list"),
    ({"superseded": [{"up_to": "HEAD", "reason": "r"}]},
     "superseded[0]: needs a \"before\" commit"),
    ({"changes": []}, "expected {\"neutral\""),
    ([], "expected {\"neutral\""),
])
def test_malformed_declarations_are_refused_naming_the_entry(
        repo: Path, data: object, needle: str) -> None:
    (repo / "results").mkdir(exist_ok=True)
    (repo / P.DECLARED_FILE).write_text(json.dumps(data))
    with pytest.raises(ValueError) as e:
        P.read_declared(repo)
    assert needle in str(e.value)


def test_files_stamped_once_or_per_entry_are_read_and_judged(repo: Path) -> None:
    first = _git(repo, "rev-parse", "HEAD")
    results = repo / "results"
    results.mkdir()
    covered = P.FILES["killtest.md"]
    assert "mobo" in covered
    # what the writers write is what the reader reads, clean and dirty
    (results / "killtest.md").write_text(f"# Kill test\n\nCode: commit `{first}`.\n")
    (results / "distill_task.json").write_text(json.dumps(
        {"command": "c", **P.stamp_fields(("distill",), repo)}))
    assert P.stamp_line(("mobo",), repo) == f"Code: commit `{first}`"
    assert P.file_stamps(results / "killtest.md") == {"-": [first]}
    assert P.file_stamps(results / "distill_task.json") == {"-": [first]}
    (repo / "distill" / "train.py").write_text("x = 2\n")          # uncommitted
    assert P.stamp_line(("distill",), repo).endswith(" with uncommitted changes")
    (results / "seed_shape.md").write_text(P.stamp_line(("distill",), repo) + "\n")
    assert P.file_stamps(results / "seed_shape.md") == {"-": [first + P.DIRTY]}
    assert P.stamp_fields(("distill",), repo) == {"commit": first, "dirty": True}
    _git(repo, "checkout", "--", "distill/train.py")
    # entries: their own commit, else the file's, else none (copied in by hand)
    (results / "speed_trainer.json").write_text(json.dumps({"measurements": [
        {"device_type": "cpu", "commit": "b" * 40, "dirty": True},
        {"device_type": "cpu", "recorded": "abc1234"},
        {"device_type": "cuda", "commit": first}]}))
    assert P.file_stamps(results / "speed_trainer.json") == {
        "cpu": ["b" * 40 + P.DIRTY, ""], "cuda": [first]}
    (results / "seed_shape.json").write_text(json.dumps(
        {"commit": first, "dirty": False, "measurements": [{"device": "cpu"}, {}]}))
    assert P.file_stamps(results / "seed_shape.json") == {"-": [first, first]}
    (results / "distill_boxes.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a JSON object"):
        P.file_stamps(results / "distill_boxes.json")
    (results / "distill_boxes.json").unlink()
    # judged against the code each file covers: a change to distill/ stales the task
    # facts, not the kill test; untracked files are left out when asked
    _commit(repo, "distill/train.py", "x = 3\n")
    groups = {(g.result, g.method): g for g in P.file_groups(repo)}
    assert groups[("results/killtest.md", "-")].stale_runs == 0
    assert groups[("results/distill_task.json", "-")].stale_runs == 1
    assert groups[("results/distill_task.json", "-")].changed[first] == ["distill/train.py"]
    trainer = groups[("results/speed_trainer.json", "cpu")]
    assert trainer.runs_by_commit == {"": 1, "b" * 40 + P.DIRTY: 1}
    assert trainer.stale_runs == 2
    assert ("results/seed_shape.md", "-") not in groups              # not in FILES
    assert [g.result for g in P.file_groups(repo, {"results/killtest.md"})] == [
        "results/killtest.md"]


def _rows(method: str, seed: int, commit: str) -> list[dict[str, object]]:
    return [{"problem": "zdt1", "method": method, "seed": seed, "n_evals": n,
             "hypervolume": 1.0, "max_hv": 2.0, "log10_gap": 0.0, "n_feasible": n,
             "wall_s": 1.0, "commit": commit} for n in (25, 50, 100)]


def test_compare_groups_count_runs_by_commit_and_judge_each(repo: Path) -> None:
    old = _git(repo, "rev-parse", "HEAD")
    new = _commit(repo, "mobo/acquisition.py", "changed\n")
    results = repo / "results"
    path = results / "compare.csv"
    C.append_rows(path, _rows("mobo", 0, old) + _rows("mobo", 1, new) + _rows("mobo", 2, "")
                  + _rows("sobol", 0, old))
    groups = {g.method: g for g in P.compare_groups(path, repo)}
    mobo = groups["mobo"]
    assert mobo.runs_by_commit == {"": 1, old: 1, new: 1}   # three runs, not nine rows
    assert mobo.stale_runs == 2                              # the unrecorded and the old
    assert mobo.changed[new] == [] and mobo.changed[old] == ["mobo/acquisition.py"]
    assert groups["sobol"].stale_runs == 0                   # sobol does not run it
    text = P.markdown(list(groups.values()))
    assert "| `results/compare.csv` | mobo | 3 | 1 | 2 |" in text
    assert "`mobo/acquisition.py`" in text and "unrecorded (1)" in text
    assert "2 of 4 runs are stale." in text


def test_speed_timings_are_runs_per_size_and_botorch_does_not_depend_on_mobo(
        repo: Path) -> None:
    old = _git(repo, "rev-parse", "HEAD")
    _commit(repo, "mobo/acquisition.py", "changed\n")
    path = repo / "results" / "speed.csv"
    path.parent.mkdir(exist_ok=True)
    rows = ["problem,d,m,n_obs,method,seed,fit_s,acquisition_s,total_s,commit"]
    rows += [f"dtlz2,6,2,{n},{m},{s},0.1,0.1,0.2,{old}" for n in (50, 200) for s in (0, 1)
             for m in ("mobo", "botorch")]
    path.write_text("\n".join(rows) + "\n")
    groups = {g.method: g for g in P.compare_groups(path, repo, "speed",
                                                    ("problem", "n_obs", "seed"))}
    assert groups["mobo"].runs_by_commit == {old: 4}       # two sizes times two seeds
    assert groups["mobo"].stale_runs == 4                  # mobo changed since
    assert groups["botorch"].stale_runs == 0               # BoTorch's time does not use it


def test_distill_groups_read_the_segment_log_and_count_unlogged_runs(repo: Path) -> None:
    head = _git(repo, "rev-parse", "HEAD")
    per_run = repo / "results" / "x" / "distill_compare"
    per_run.mkdir(parents=True)
    for name in ("mobo-10", "mobo-11", "tpe-10"):
        (per_run / f"{name}.jsonl").write_text("{}\n")
    lines = [{"method": "mobo", "seed": 10, "from_trial": 0, "commit": head},
             {"method": "mobo", "seed": 10, "from_trial": 40, "commit": head + P.DIRTY}]
    (per_run / "provenance.jsonl").write_text(
        "\n".join(json.dumps(e) for e in lines) + "\n{\"method\": \"mo")  # torn last line
    groups = {g.method: g for g in P.distill_groups(per_run.parent, repo)}
    # mobo: two logged segments of seed 10, and seed 11 with no line at all
    assert groups["mobo"].runs_by_commit == {"": 1, head: 1, head + P.DIRTY: 1}
    assert groups["mobo"].stale_runs == 2
    assert groups["tpe"].runs_by_commit == {"": 1}
    assert groups["mobo"].result == "results/x/distill_compare.csv"


def test_an_old_csv_gets_the_commit_column_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.csv"
    old_fields = [f for f in C.FIELDS if f != "commit"]
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=old_fields)
        w.writeheader()
        w.writerow({k: r for k, r in _rows("mobo", 0, "")[2].items() if k != "commit"})
    C.append_rows(path, _rows("tpe", 0, "a" * 40))
    rows = C.read_rows(path)
    assert [r["method"] for r in rows] == ["mobo", "tpe", "tpe", "tpe"]
    assert [r["commit"] for r in rows] == ["", "a" * 40, "a" * 40, "a" * 40]
    with path.open(newline="") as f:
        assert tuple(csv.DictReader(f).fieldnames or ()) == C.FIELDS


@pytest.fixture(scope="module")
def committed_groups() -> list[P.Group]:
    """The provenance of the checkout's committed results, computed once for the tests
    that read it: it walks the history of every result, most of this file's time."""
    return P.all_groups()


def test_the_command_line_writes_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           committed_groups: list[P.Group]) -> None:
    monkeypatch.setattr(P, "all_groups", lambda: committed_groups)
    out = tmp_path / "provenance.md"
    assert P.main(["--out", str(out)]) == 0
    text = out.read_text()
    assert text.startswith("# Provenance of the results")
    assert "`results/compare.csv`" in text
    with pytest.raises(SystemExit) as e:
        P.main(["--out", str(tmp_path / "no" / "p.md")])
    assert e.value.code == 2


def _checkable_repository() -> bool:
    return (P.git("rev-parse", "HEAD") is not None
            and P.git("rev-parse", "--is-shallow-repository") == "false")


@pytest.mark.skipif(not _checkable_repository(),
                    reason="needs the checkout's full git history")
def test_no_stamped_committed_result_is_stale(committed_groups: list[P.Group]) -> None:
    # runs made before stamps were recorded are listed in results/provenance.md as
    # unrecorded; every run that carries a stamp must still match the code it covers, or
    # be declared the record of the code it was made with (superseded)
    stale = [f"{g.result} {g.method} @ {c[:10]}: {', '.join(g.changed[c][:3])}"
             for g in committed_groups for c in g.runs_by_commit
             if c and g.changed[c] and c not in g.superseded]
    assert not stale, "rerun these (the code they depend on changed): " + "; ".join(stale)


@pytest.mark.skipif(not _checkable_repository(),
                    reason="needs the checkout's full git history")
def test_the_committed_report_is_what_the_stamps_give(committed_groups: list[P.Group]) -> None:
    committed = (P.ROOT / "results" / "provenance.md").read_text()
    assert committed == P.markdown(committed_groups), "run python -m benchmarks.provenance"


# The results made before runs recorded their commit (results/provenance.md lists them as
# unrecorded). The list only shrinks: a result written since carries its stamp. The
# reference measures the teacher the committed CPU journals were made with; a rerun on
# another machine measures that machine's teacher instead (results/distill_recheck.md).
_MADE_BEFORE_STAMPS = {
    ("results/compare.csv", "botorch"), ("results/compare.csv", "gp"),
    ("results/distill_reference.json", "-"),
    ("results/speed_trainer.json", "cpu"), ("results/speed_trainer.json", "cuda"),
    *((f"results/distill_dev/{folder}/distill_compare.csv", "mobo") for folder in (
        "none", "rank", "threshold", "trust_region", "trust_region_005",
        "trust_region_crossover", "trust_region_escape", "trust_region_levels",
        "trust_region_loo", "trust_region_onebox", "trust_region_ordinal",
        "trust_region_raw", "trust_region_widen")),
}


def test_only_results_made_before_stamps_are_unrecorded(
        committed_groups: list[P.Group]) -> None:
    unrecorded = {(g.result, g.method) for g in committed_groups if "" in g.runs_by_commit}
    assert unrecorded <= _MADE_BEFORE_STAMPS, (
        "results without a commit stamp: " + ", ".join(
            f"{r} {m}" for r, m in sorted(unrecorded - _MADE_BEFORE_STAMPS)))


def test_command_line_quotes_the_arguments_as_a_shell_takes_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert P.command_line("benchmarks.x", ["--note", "it's two words", "--n", "3"]) == (
        "python -m benchmarks.x --note 'it'\"'\"'s two words' --n 3")
    monkeypatch.setattr(P.sys, "argv", ["ignored", "--out", "a b.md"])
    assert P.command_line("benchmarks.y") == "python -m benchmarks.y --out 'a b.md'"
    assert P.command_line("benchmarks.y", []) == "python -m benchmarks.y"


def test_the_toy_comparisons_csvs_are_the_records_and_the_tracked_variants(repo: Path) -> None:
    results = repo / "results"
    (results / "compare_dev").mkdir(parents=True)
    for rel in ("compare.csv", "compare_heldout.csv", "compare_dev/noisy.csv",
                "compare_dev/untracked.csv", "other.csv"):
        (results / rel).write_text("problem,method,seed,n_evals,commit\n")
    tracked = {"results/compare.csv", "results/compare_dev/noisy.csv", "results/other.csv"}
    assert P.compare_paths(results, tracked, repo) == [results / "compare.csv",
                                                       results / "compare_dev" / "noisy.csv"]
    assert P.compare_paths(results, set(), repo) == []


def test_fit_subset_runs_are_grouped_by_variant_and_depend_on_mobo(repo: Path) -> None:
    old = _git(repo, "rev-parse", "HEAD")
    new = _commit(repo, "mobo/acquisition.py", "changed\n")
    results = repo / "results"
    results.mkdir(exist_ok=True)
    rows = ["problem,variant,seed,n_evals,hypervolume,max_hv,log10_gap,proposal_s,commit"]
    rows += [f"dtlz2,{v},{s},{n},1,2,-2,0.5,{c}" for v, s, c in
             (("subset", 0, old), ("subset", 1, new), ("full", 0, new)) for n in (512, 600)]
    (results / "fit_subset_x.csv").write_text("\n".join(rows) + "\n")
    (results / "other.csv").write_text("\n".join(rows) + "\n")
    tracked = {"results/fit_subset_x.csv", "results/other.csv"}
    assert P.fit_subset_paths(results, tracked, repo) == [results / "fit_subset_x.csv"]
    assert P.fit_subset_paths(results, set(), repo) == []
    groups = {g.method: g for g in P.compare_groups(results / "fit_subset_x.csv", repo,
                                                    "fit_subset", ("problem", "seed"),
                                                    "variant")}
    assert groups["subset"].runs_by_commit == {old: 1, new: 1}  # runs, not checkpoints
    assert groups["subset"].stale_runs == 1 and groups["full"].stale_runs == 0
    assert groups["subset"].changed[old] == ["mobo/acquisition.py"]
