"""Tests of the distillation task's command-line entry (distill.task)."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest
from transformers import BertConfig, BertForQuestionAnswering

from distill import objective
from distill.config import DistillConfig
from distill.objective import DistillationTask
from distill.students import CONFIG_FILE, STAGING, student_key
from distill.task import ENTRY, add_arguments, build
from mobo.run import main
from mobo.study import Study
from mobo.tasks import Task, available_tasks

_FLAGS = ("data", "train_file", "dev_file", "teacher", "device")


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser.add_argument_group("distill"))
    return parser.parse_args(argv)


def test_the_entry_point_finds_this_entry() -> None:
    assert available_tasks()["distill"] is ENTRY
    assert ENTRY.name == "distill" and ENTRY.add_arguments is add_arguments


def test_flags_parse_and_default_to_none(tmp_path: Path) -> None:
    assert all(getattr(_parse(), flag) is None for flag in _FLAGS)
    args = _parse("--data", str(tmp_path), "--train-file", "t.json", "--dev-file", "d.json",
                  "--teacher", "ckpt", "--device", "cpu")
    assert [getattr(args, f) for f in _FLAGS] == [str(tmp_path), "t.json", "d.json", "ckpt",
                                                  "cpu"]


def test_build_wraps_the_distillation_task() -> None:
    task = build(_parse("--device", "cpu"), seed=3)
    assert isinstance(task, Task) and isinstance(task.fn, DistillationTask)
    assert task.fn.seed == 3 and task.fn.synthetic
    assert [o.name for o in task.objectives] == ["exact", "num_parameters"]
    assert task.space is task.fn.space and task.constraints == [] and not task.noisy
    assert task.prepare == task.fn.prepare and task.callbacks == [] and task.on_open is None


@pytest.mark.parametrize("argv, message", [
    (["--data", "/no/such/folder"], "--data: expected 'synthetic', 'squad_v2' or a directory, "
     "got '/no/such/folder' (no such directory)"),
    (["--train-file", "/no/such/train-v2.0.json"],
     "--train-file: /no/such/train-v2.0.json is not a file"),
    (["--teacher", "/no/such/teacher"], "--teacher: /no/such/teacher is neither a folder "
     "nor a Hugging Face hub name"),
])
def test_bad_flags_raise_and_exit_2_with_the_same_message(
        argv: list[str], message: str, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError) as info:
        build(_parse(*argv), seed=0)
    assert str(info.value) == message
    journal = tmp_path / "j.jsonl"
    assert main([*argv, "--storage", str(journal)], out=io.StringIO()) == 2
    assert capsys.readouterr().err == f"error: {message}\n"
    assert not journal.exists()


def test_source_budget_and_students_flags(tmp_path: Path, monkeypatch) -> None:
    commit = "e" * 40
    repo = tmp_path / "hf" / "hub" / "models--org--tiny-qa"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    BertForQuestionAnswering(BertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=48)).save_pretrained(repo / "snapshots" / commit)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    data = tmp_path / "squad"
    data.mkdir()
    for name in ("train-v2.0.json", "dev-v2.0.json"):
        (data / name).write_text('{"version": "v2.0", "data": [{"title": "t", "paragraphs": '
                                 '[{"context": "Ann is here.", "qas": [{"id": "' + name +
                                 '", "question": "Who?", "is_impossible": true, '
                                 '"answers": []}]}]}]}')
    args = _parse("--data", str(data), "--teacher", "org/tiny-qa", "--epochs", "2",
                  "--train-examples", "5", "--max-seq-length", "256", "--doc-stride", "64",
                  "--no-trial-progress", "--device", "cpu")
    args.storage = str(tmp_path / "runs" / "S.jsonl")
    task = build(args, seed=0)
    fn = task.fn
    b = fn.base
    assert (b.epochs, b.n_train_examples, b.max_seq_length, b.doc_stride) == (2, 5, 256, 64)
    assert not fn.trial_progress and fn.students_dir == tmp_path / "runs" / "S.students"
    assert task.callbacks == [fn.keep_front_students] and task.on_open == fn.keep_front_students
    assert fn.space.params[fn.space.names.index("n_heads")].high == 4
    assert "n_heads" in ENTRY.header(task)
    assert ENTRY.header(build(_parse(), seed=0)) == ""  # the embedded default: as before
    with pytest.raises(ValueError, match="^--encoder: org/absent .*hf download org/absent"):
        build(_parse("--encoder", "org/absent"), seed=0)


def test_a_resumed_run_repairs_the_students_before_its_first_new_trial(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = tmp_path / "S.jsonl"
    students = tmp_path / "S.students"
    seen: list[set[str]] = []  # the students folder as each trial found it

    def prepare(self, progress=print) -> None:
        pass

    def evaluate(self, params: dict) -> dict[str, float]:
        seen.append({p.name for p in students.rglob("*") if p.parent in (students,
                                                                         students / STAGING)})
        # stages its student as a real trial does: under its configuration's key
        config = self.config_for(params)
        folder = students / STAGING / student_key(config)
        folder.mkdir(parents=True, exist_ok=True)
        config.save(folder / CONFIG_FILE)
        layers = params["n_layers"]
        return {"exact": 90.0 + layers, "f1": 90.0, "num_parameters": 1e6 * layers,
                "inference_time": 0.01}

    # the real preparation and trials train models; what is tested is when the folder is
    # put right
    monkeypatch.setattr(objective.DistillationTask, "prepare", prepare)
    monkeypatch.setattr(objective.DistillationTask, "__call__", evaluate)
    # the known parameter count, in the stand-in's closed form (the real one needs prepare)
    monkeypatch.setattr(objective.DistillationTask, "num_parameters",
                        lambda self, params: 1e6 * params["n_layers"])
    monkeypatch.setenv("MOBO_CACHE", str(tmp_path / "cache"))
    argv = ["--device", "cpu", "--seed", "0", "--storage", str(journal)]
    assert main([*argv, "--budget", "3"], out=io.StringIO()) == 0
    # a new study gets the task's recommended settings
    assert ENTRY.study_options == {"trust_region": 0.05, "explore": 0.7}
    read = Study.read(journal)
    assert read.trust_region == 0.05 and read.explore == 0.7
    front = [t.number for t in Study.read(journal).pareto_front()]
    kept = {p.name for p in students.iterdir()} - {STAGING}
    assert front and kept == {f"trial-{n}" for n in front}

    # a kill between staging and promotion leaves the student staged and no trial-N folder;
    # a kill mid-save leaves a half-written staging folder
    lost = students / f"trial-{front[0]}"
    key = student_key(DistillConfig.load(lost / CONFIG_FILE))
    lost.rename(students / STAGING / key)
    stray = students / STAGING / "0123456789abcdef0123.tmp-killed"
    stray.mkdir()
    seen.clear()
    assert main([*argv, "--budget", "4"], out=io.StringIO()) == 0
    # the first new trial already found the folder repaired
    assert seen[0] == {*kept, STAGING}
    front = [t.number for t in Study.read(journal).pareto_front()]
    assert {p.name for p in students.iterdir()} - {STAGING} == {f"trial-{n}" for n in front}
    assert list((students / STAGING).iterdir()) == []


def test_windows_the_features_cannot_cut_are_refused_before_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a question keeps up to 64 tokens of a window, so a window of 96 may hold as few as 29
    # context tokens and a stride of 32 would not advance; this used to fail only once the
    # run had started, with a traceback
    journal = tmp_path / "j.jsonl"
    argv = ["--max-seq-length", "96", "--doc-stride", "32", "--storage", str(journal)]
    assert main(argv, out=io.StringIO()) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --max-seq-length/--doc-stride: doc_stride=32 ")
    assert err.count("\n") == 1 and not journal.exists()
    assert build(_parse("--max-seq-length", "96", "--doc-stride", "16"), seed=0).fn.base \
        .doc_stride == 16
