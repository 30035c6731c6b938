"""Tests of mobo.plot: grouping of trials, hypervolume trace, importance, posterior slice, CLI."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mobo.gp import NOISE_PRIOR, fit_gp
from mobo.plot import (
    FIGURES,
    classify,
    hypervolume_trace,
    main,
    parameter_importance,
    plot_pareto,
    plot_posterior_slice,
    posterior_slice,
    save_figure,
    write_figures,
)
from mobo.space import Categorical, Float, Space
from mobo.study import Study
from mobo.trial import Constraint, Objective
from mobo.volume import hypervolume

ROOT = Path(__file__).resolve().parents[2]
JOURNAL40 = ROOT / "results" / "distill_budget40.jsonl"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# acc (maximised, threshold 0.5) and size (minimised, no threshold) of each trial told
TOLD = {
    0: (0.9, 5.0),  # front
    1: (0.8, 3.0),  # front
    2: (0.7, 4.0),  # dominated by 1
    3: (0.4, 1.0),  # below the threshold, though the smallest
    4: (0.6, 2.0),  # front
    6: (0.5, 0.5),  # exactly at the threshold: not strictly better, so below
}
FAILED, RUNNING = 5, 7


def _small_study(path: Path | None = None) -> Study:
    space = Space([Float("x", 0.0, 1.0), Float("y", 0.0, 1.0)])
    objectives = [Objective("acc", maximize=True, threshold=0.5), Objective("size")]
    study = Study(space, objectives, seed=1, n_initial=20, storage=path)
    for number in range(8):
        trial = study.ask()
        assert trial.number == number
        if number == FAILED:
            study.tell(trial, failed=True, error="diverged")
        elif number in TOLD:
            acc, size = TOLD[number]
            study.tell(trial, {"acc": acc, "size": size})
    return study  # trial 7 is left running


@pytest.fixture()
def journal(tmp_path: Path) -> Path:
    path = tmp_path / "small.jsonl"
    _small_study(path).close()
    return path


def test_classify_marks_front_dominated_and_below_threshold() -> None:
    view = classify(_small_study())
    assert [t.number for t in view.front] == [0, 1, 4]
    assert [t.number for t in view.dominated] == [2]
    assert [t.number for t in view.below_threshold] == [3, 6]
    assert view.infeasible == []
    assert [t.number for t in view.failed] == [FAILED]
    assert [t.number for t in view.unfinished] == [RUNNING]


def test_a_trial_breaking_a_constraint_is_marked_and_counts_for_nothing() -> None:
    space = Space([Float("x", 0.0, 1.0)])
    study = Study(space, [Objective("acc", maximize=True, threshold=0.5), "size"],
                  constraints=[Constraint("load", upper=0.6)], seed=0, n_initial=10)
    told = [(0.9, 5.0, 0.5), (0.95, 1.0, 0.9), (0.7, 4.0, 0.1), (0.6, 6.0, 0.2)]
    for acc, size, load in told:
        study.tell(study.ask(), {"acc": acc, "size": size, "load": load})
    view = classify(study)
    # trial 1 would dominate every other one, but it breaks the load constraint
    assert [t.number for t in view.infeasible] == [1]
    assert [t.number for t in view.front] == [0, 2]
    assert [t.number for t in view.dominated] == [3]
    _, hv, _ = hypervolume_trace(study)
    ref = 6.0 + 0.1 * (6.0 - 4.0)  # inferred from the feasible trials only
    assert hv[-1] == pytest.approx(study.hypervolume(ref={"acc": 0.5, "size": ref}))
    assert hv[1] == hv[0]  # the infeasible trial added nothing
    labels = plot_pareto(study).axes[0].get_legend_handles_labels()[1]
    assert "breaks a constraint (1)" in labels


def test_hypervolume_trace_matches_the_kernel_on_each_prefix() -> None:
    study = _small_study()
    n, hv, trials = hypervolume_trace(study)
    assert list(n) == list(range(1, 8))
    assert [t.number for t in trials] == [0, 1, 2, 3, 4, 5, 6]  # finishing order
    # no reference inferred yet: the plot's rule is nadir + 10% of the range of size
    sizes = [s for _, s in TOLD.values()]
    ref = np.array([-0.5, max(sizes) + 0.1 * (max(sizes) - min(sizes))])
    for k in range(len(n)):
        rows = [(-TOLD[t.number][0], TOLD[t.number][1]) for t in trials[: k + 1]
                if t.number in TOLD]
        assert hv[k] == pytest.approx(hypervolume(np.array(rows), ref), rel=1e-12)
    assert np.all(np.diff(hv) >= 0)
    assert hv[-1] == pytest.approx(study.hypervolume(ref={"acc": 0.5, "size": ref[1]}))
    assert hv[-1] > 0


def test_importance_finds_the_parameters_each_objective_depends_on() -> None:
    space = Space([Float("a", 0.0, 1.0), Float("b", 0.0, 1.0), Float("c", 0.0, 1.0),
                   Categorical("k", ["u", "v", "w"])])
    study = Study(space, ["f", "g"], seed=0, n_initial=40)
    for _ in range(40):
        t = study.ask()
        p = t.params
        study.tell(t, {"f": math.sin(6.0 * p["a"]) + 0.5 * p["a"],
                       "g": 2.0 * p["b"] + (1.5 if p["k"] == "w" else 0.0)})
    imp = parameter_importance(study)
    assert imp.parameters == ["a", "b", "c", "k"] and imp.objectives == ["f", "g"]
    assert imp.n_trials == 40
    np.testing.assert_allclose(imp.shares.sum(axis=1), 1.0)
    assert np.all(imp.shares >= 0)
    f, g = imp.shares
    assert int(np.argmax(f)) == 0  # f depends on a only
    assert set(np.argsort(g)[-2:]) == {1, 3}  # g on b and the categorical
    assert f[2] < f[0] / 3 and g[2] < min(g[1], g[3]) / 3  # c matters to neither
    assert imp.order()[0] in (0, 1, 3) and imp.order()[-1] == 2
    assert "lengthscale" in imp.method


def test_importance_needs_two_completed_trials() -> None:
    study = Study(Space([Float("a", 0.0, 1.0)]), ["f"], seed=0)
    study.tell(study.ask(), {"f": 1.0})
    with pytest.raises(ValueError, match="at least 2 completed trials, got 1"):
        parameter_importance(study)


def test_posterior_slice_draws_the_surrogate_along_the_most_important_parameter(
        tmp_path: Path) -> None:
    space = Space([Float("a", 0.0, 1.0), Float("b", 1e-3, 1.0, log=True)])
    study = Study(space, [Objective("f", maximize=True), "g"], seed=0, n_initial=12)
    for _ in range(12):
        t = study.ask()
        a, b = t.params["a"], t.params["b"]
        study.tell(t, {"f": math.sin(6.0 * a) + 0.05 * b, "g": 3.0 * a**2 + 0.01 * math.log(b)})
    imp = parameter_importance(study)
    slc = posterior_slice(study, imp)
    assert slc.parameter == imp.parameters[imp.order()[0]] == "a"
    base = study.pareto_front()[0]
    assert slc.base == base.number and slc.base_x == base.params["a"]
    # the slice: a swept over its range, b held at the base trial's encoding
    enc = space.encode(base.params)
    np.testing.assert_array_equal(slc.X[:, 0], np.linspace(0.0, 1.0, len(slc.X)))
    assert np.all(slc.X[:, 1] == enc[1])
    np.testing.assert_allclose(slc.x, slc.X[:, 0], rtol=1e-15)
    fig = plot_posterior_slice(slc)
    assert len(fig.axes) == 2
    # the plotted mean is the surrogate's posterior, in the objective's own units, and
    # mobo.gp's posterior of the same fit (the maximised f un-negated)
    models = study.surrogate()
    done = [t for t in study.trials if t.status == "completed"]
    X = space.encode_many([t.params for t in done])
    Y = np.array([[-t.values["f"], t.values["g"]] for t in done])
    gp = fit_gp(X, Y, study._last_model_state, noise_prior=NOISE_PRIOR)
    idx = [0, 37, 100, len(slc.X) - 1]
    mu, sd = gp.posterior(slc.X[idx])
    for j, (name, sign) in enumerate((("f", -1.0), ("g", 1.0))):
        x, y = fig.axes[j].lines[0].get_xydata().T
        np.testing.assert_array_equal(x, slc.x)
        mean, var = models[name].predict(slc.X[idx])
        np.testing.assert_allclose(y[idx], mean, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(y[idx], sign * mu[:, j], rtol=1e-8, atol=1e-9)
        np.testing.assert_allclose(slc.sd[j, idx], sd[:, j], rtol=1e-8, atol=1e-12)
        np.testing.assert_array_equal(slc.trial_y[j], [t.values[name] for t in done])
    out = write_figures(study, tmp_path / "figs")
    assert out["slice"].read_bytes().startswith(PNG_MAGIC)


def test_posterior_slice_of_a_categorical_and_of_too_few_trials(tmp_path: Path) -> None:
    space = Space([Float("a", 0.0, 1.0), Categorical("k", ["u", "v", "w"])])
    study = Study(space, ["f"], seed=0, n_initial=10)
    for _ in range(10):
        t = study.ask()
        study.tell(t, {"f": 0.1 * t.params["a"] + {"u": 0.0, "v": 3.0, "w": 1.0}[t.params["k"]]})
    slc = posterior_slice(study)
    assert slc.parameter == "k" and slc.choices == ["u", "v", "w"]
    np.testing.assert_array_equal(slc.X[:, 1:], np.eye(3))
    best = min((t for t in study.trials), key=lambda t: t.values["f"])
    assert slc.base == best.number
    fig = plot_posterior_slice(slc)
    assert len(fig.axes) == 1
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["u", "v", "w"]
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(),
                               study.surrogate()["f"].predict(slc.X)[0], rtol=1e-12)
    one = Study(space, ["f"], seed=0)
    one.tell(one.ask(), {"f": 1.0})
    with pytest.raises(ValueError, match="at least 2 completed trials"):
        posterior_slice(one)
    assert write_figures(one, tmp_path / "one")["slice"].stat().st_size > 1000


def test_write_figures_is_deterministic_and_leaves_the_journal_alone(journal: Path,
                                                                   tmp_path: Path) -> None:
    before = journal.read_bytes()
    study = Study.read(journal)
    assert study.trials[RUNNING].status == "running"
    first = write_figures(study, tmp_path / "a")
    second = write_figures(Study.read(journal), tmp_path / "b")
    assert list(first) == list(FIGURES)
    for name in FIGURES:
        data = first[name].read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000
        assert data == second[name].read_bytes(), name
    assert journal.read_bytes() == before
    svg = write_figures(study, tmp_path / "svg", fmt="svg")
    again = write_figures(study, tmp_path / "svg2", fmt="svg")
    for name in FIGURES:
        text = svg[name].read_text()
        assert text.lstrip().startswith("<?xml") and "<dc:date>" not in text
        assert svg[name].read_bytes() == again[name].read_bytes(), name


def test_pareto_figure_with_references_and_other_objective_counts(tmp_path: Path) -> None:
    study = _small_study()
    fig = plot_pareto(study, references={"teacher": {"acc": 0.95, "size": 6.0}})
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert "Pareto front (3)" in labels and "dominated (1)" in labels
    assert "below a threshold (2)" in labels and "teacher" in labels
    assert sorted(t.get_text() for t in ax.texts) == ["#0", "#1", "#4", "teacher"]
    with pytest.raises(ValueError, match=r"references\['teacher'\]: missing"):
        plot_pareto(study, references={"teacher": {"acc": 0.95}})
    with pytest.raises(ValueError, match="unsupported figure format"):
        save_figure(fig, tmp_path / "x.jpg")
    # one and three objectives draw too (a strip over trial numbers; pairwise panels)
    for names in (["f"], ["f", "g", "h"]):
        s = Study(Space([Float("a", 0.0, 1.0)]), names, seed=0, n_initial=6)
        for _ in range(6):
            t = s.ask()
            s.tell(t, {n: (i + 1) * t.params["a"] + i * (1 - t.params["a"]) ** 2
                       for i, n in enumerate(names)})
        out = write_figures(s, tmp_path / f"m{len(names)}")
        assert all(p.stat().st_size > 5000 for p in out.values())
    assert len(plot_pareto(s).axes) == 3


def test_cli_writes_the_figures_of_the_committed_journal(tmp_path: Path) -> None:
    before = JOURNAL40.read_bytes()
    run = subprocess.run([sys.executable, "-m", "mobo.plot", str(JOURNAL40), "--out",
                          str(tmp_path / "figs")], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    written = run.stdout.split()
    assert written == [str(tmp_path / "figs" / f"{n}.png") for n in FIGURES]
    assert all(Path(p).read_bytes().startswith(PNG_MAGIC) for p in written)
    assert JOURNAL40.read_bytes() == before
    view = classify(Study.read(JOURNAL40))
    # the front of the 40-trial run, as results/distill.md lists it
    assert sorted(t.number for t in view.front) == [3, 4, 8, 10, 13, 34]
    assert len(view.front) + len(view.dominated) + len(view.below_threshold) == 40


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_bad_input_exits_2_with_one_error_line(journal: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    not_json = tmp_path / "notes.jsonl"
    not_json.write_text("hello\n")
    not_study = tmp_path / "events.jsonl"
    not_study.write_text('{"event": "ask", "number": 0}\n')
    a_file = tmp_path / "file.txt"
    a_file.write_text("")
    cases = [
        ([str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o")], "no such journal"),
        ([str(tmp_path), "--out", str(tmp_path / "o")], "not a journal file"),
        ([str(not_json), "--out", str(tmp_path / "o")], "line 1: invalid JSON"),
        ([str(not_study), "--out", str(tmp_path / "o")], "not a mobo study journal"),
        ([str(journal), "--out", str(a_file)], "is not a folder"),
        ([str(journal)], "--out"),
        ([str(journal), "--out", str(tmp_path / "o"), "--format", "gif"], "--format"),
    ]
    before = journal.read_bytes()
    for argv, needle in cases:
        code, out, err = _cli(argv, capsys)
        assert code == 2, (argv, err)
        assert out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        assert needle in lines[0], (needle, lines[0])
    assert journal.read_bytes() == before
    assert not (tmp_path / "o").exists()


def test_cli_reads_a_torn_journal_without_repairing_it(journal: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    with open(journal, "ab") as f:
        f.write(b'{"event": "tell", "num')
    before = journal.read_bytes()
    code, out, err = _cli([str(journal), "--out", str(tmp_path / "figs")], capsys)
    assert code == 0, err
    assert err.startswith("warning: ") and "torn last line" in err
    assert len(out.split()) == len(FIGURES)
    assert journal.read_bytes() == before
