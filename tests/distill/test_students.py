"""Keeping the front's students: staging, promotion, pruning, and what a kill leaves."""

import json
import warnings
from types import SimpleNamespace

import pytest
import torch
from transformers import BertConfig

import distill
from distill.config import DistillConfig
from distill.data import load_tokenizer
from distill.models import QAModel
from distill.students import (
    CONFIG_FILE,
    STAGING,
    keep_front_students,
    load_student,
    save_student,
    student_key,
)


def config_of(params) -> DistillConfig:
    return DistillConfig().replace(**params)


def key_of(params) -> str:
    return student_key(config_of(params))


class FakeStudy:
    """What keep_front_students reads of a Study: its trials and its Pareto front."""

    def __init__(self) -> None:
        self.trials = []
        self.front = set()

    def add(self, status: str, on_front: bool = False, **params):
        t = SimpleNamespace(number=len(self.trials), params=params, status=status)
        self.trials.append(t)
        if on_front:
            self.front.add(t.number)
        return t

    def pareto_front(self):
        return [t for t in self.trials if t.number in self.front]


def stage(root, params, suffix: str = ""):
    """A staged student as save_student leaves it (its config is what identifies it)."""
    folder = root / STAGING / (key_of(params) + suffix)
    folder.mkdir(parents=True)
    config_of(params).save(folder / CONFIG_FILE)
    (folder / "model.safetensors").write_bytes(b"weights")
    return folder


def tree(root) -> set:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def keep(study, root, reported=None):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        missing = keep_front_students(study, root, key_of, reported=reported)
    return missing, [str(w.message) for w in caught]


def test_key_survives_a_journal_round_trip():
    live = {"learning_rate": 0.1 + 0.2, "n_layers": 3, "temperature": 2, "init": "teacher"}
    journaled = json.loads(json.dumps(live))
    assert key_of(live) == key_of(journaled)
    # an integer-valued float and the int mean the same configuration
    assert key_of({**live, "n_layers": 3.0}) == key_of(live)
    assert key_of(live) != key_of({**journaled, "n_layers": 4})


def test_front_students_kept_others_dropped(tmp_path):
    study = FakeStudy()
    a = study.add("completed", on_front=True, n_layers=1)
    study.add("completed", n_layers=2)  # dominated
    study.add("failed", n_layers=3)
    running = study.add("running", n_layers=4)
    for n in (1, 2, 4):
        stage(tmp_path, {"n_layers": n})
    stage(tmp_path, {"n_layers": 4}, suffix=".tmp-abc")  # a running trial still saving
    missing, warned = keep(study, tmp_path)
    assert missing == [] and warned == []
    assert (tmp_path / f"trial-{a.number}" / CONFIG_FILE).is_file()
    staged = {p.name for p in (tmp_path / STAGING).iterdir()}
    assert staged == {key_of(running.params), key_of(running.params) + ".tmp-abc"}
    before = tree(tmp_path)
    assert keep(study, tmp_path) == ([], [])  # idempotent
    assert tree(tmp_path) == before

    # the running trial finishes on the front and pushes trial 0 off it
    running.status = "completed"
    study.front = {running.number}
    keep(study, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {STAGING, f"trial-{running.number}"}
    assert list((tmp_path / STAGING).iterdir()) == []


def test_an_empty_front_leaves_no_folder(tmp_path):
    study = FakeStudy()
    study.add("failed", n_layers=3)
    root = tmp_path / "students"
    assert keep(study, root) == ([], [])
    assert not root.exists()
    # once there is a folder, an empty front empties it
    study.add("completed", on_front=True, n_layers=2)
    stage(root, {"n_layers": 2})
    keep(study, root)
    study.front = set()
    keep(study, root)
    assert tree(root) == {STAGING}


def test_kill_states_are_repaired(tmp_path):
    study = FakeStudy()
    done = study.add("completed", on_front=True, n_layers=1)
    lost = study.add("completed", on_front=True, n_layers=2)  # its student never saved
    study.add("abandoned", n_layers=3)
    # killed after saving, before the journal said anything: a key no trial claims
    stage(tmp_path, {"n_layers": 7})
    # killed mid-save and mid-delete
    stage(tmp_path, {"n_layers": 8}, suffix=".tmp-x1")
    (tmp_path / STAGING / ".trash-trial-9").mkdir()
    # the abandoned trial saved its student but was not told: it will be asked again
    stage(tmp_path, {"n_layers": 3})
    # killed between the rename to trial-N and anything else: nothing to repair there
    stage(tmp_path, {"n_layers": 1})
    # a trial folder holding another configuration's student (renumbered after a loss)
    wrong = tmp_path / f"trial-{lost.number}"
    wrong.mkdir()
    config_of({"n_layers": 5}).save(wrong / CONFIG_FILE)
    reported: set[int] = set()
    missing, warned = keep(study, tmp_path, reported)
    assert missing == [lost.number]
    assert len(warned) == 1 and "\n" not in warned[0] and f"{lost.number}" in warned[0]
    assert {p.name for p in tmp_path.iterdir()} == {STAGING, f"trial-{done.number}"}
    assert list((tmp_path / STAGING).iterdir()) == []
    # warned once, not after every trial
    missing, warned = keep(study, tmp_path, reported)
    assert missing == [lost.number] and warned == []


def test_repeated_configuration_on_the_front_is_kept_twice(tmp_path):
    study = FakeStudy()
    first = study.add("completed", on_front=True, n_layers=2)
    second = study.add("completed", on_front=True, n_layers=2)
    stage(tmp_path, {"n_layers": 2})
    assert keep(study, tmp_path) == ([], [])
    for t in (first, second):
        assert DistillConfig.load(tmp_path / f"trial-{t.number}" / CONFIG_FILE) == \
            config_of({"n_layers": 2})


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1,
                     num_attention_heads=4, intermediate_size=48)
    model = QAModel(cfg, qa_dropout=0.2).eval()
    config = DistillConfig(n_layers=1, n_heads=4, max_seq_length=128, doc_stride=32)
    folder = save_student(model, load_tokenizer(), config, tmp_path)
    assert folder == tmp_path / STAGING / student_key(config)
    names = {p.name for p in folder.iterdir()}
    assert {"model.safetensors", "config.json", "heads.json", CONFIG_FILE,
            "tokenizer.json"} <= names
    assert not any(n.endswith((".bin", ".pt", ".pkl")) for n in names)
    again = save_student(model, load_tokenizer(), config, tmp_path)  # replaces in place
    assert again == folder and len(list((tmp_path / STAGING).iterdir())) == 1

    loaded, tok = distill.load_student(folder)
    assert not loaded.training and tok.is_fast
    ids = torch.tensor([[101, 2054, 102, 3000, 102]])
    with torch.no_grad():
        for a, b in zip(model(ids), loaded(ids), strict=True):
            torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="not a saved student"):
        load_student(tmp_path)
