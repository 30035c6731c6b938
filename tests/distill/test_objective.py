"""Tests of distill.objective: the distillation black box on tiny teachers and sources."""

import json
import pickle
from types import SimpleNamespace

import pytest
import torch
from transformers import (
    BertConfig,
    BertForQuestionAnswering,
    BertModel,
    DistilBertConfig,
    DistilBertModel,
)

import distill.train as train_module
from distill.answer import main as answer_main
from distill.config import DistillConfig, embedded_space, seed_space
from distill.models import QAModel, save_qa_model
from distill.objective import TEACHER_RECIPE, DistillationTask, no_answer_exact
from distill.students import STAGING, student_key
from distill.train import TrialFailed

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    """A tiny random teacher and general encoder (MiniLM's vocabulary, hidden 32)."""
    root = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2,
                     num_attention_heads=4, intermediate_size=64, max_position_embeddings=512)
    save_qa_model(QAModel(cfg), root / "teacher")
    BertModel(cfg, add_pooling_layer=False).save_pretrained(root / "encoder")
    return root


@pytest.fixture(scope="module")
def task(tiny_dirs):
    t = DistillationTask(teacher=tiny_dirs / "teacher", encoder=tiny_dirs / "encoder",
                         cache_dir=tiny_dirs / "cache", device="cpu", train_examples=48,
                         synthetic_size=(120, 90), verbose=False)
    messages = []
    t.prepare(progress=messages.append)
    t.messages = messages
    return t


def trial_dirs(task) -> set:
    root = task.cache_dir / "trials"
    return set(root.iterdir()) if root.exists() else set()


def params(task, **changes):
    p = task.space.decode(task.space.sobol(1, seed=0)[0])
    p.update(n_layers=1, n_heads=2, train_batch_size=16, eval_batch_size=32,
             learning_rate=1e-3, init="teacher", layer_choice="spaced")
    p.update(changes)
    return p


def test_space_and_objectives(task):
    assert "init" in task.space.names and "layer_choice" in task.space.names
    exact, size = task.objectives
    assert exact.name == "exact" and exact.maximize
    assert 20.0 <= exact.threshold <= 50.0
    assert exact.threshold == pytest.approx(no_answer_exact(task._state.dev_examples))
    assert size.name == "num_parameters" and not size.maximize
    # the threshold is computed from data alone, without preparing anything
    fresh = DistillationTask(cache_dir=task.cache_dir, synthetic_size=(120, 90), verbose=False)
    assert fresh.no_answer_em == pytest.approx(exact.threshold)
    assert fresh._state is None


def test_no_answer_exact():
    rows = [{"answers": {"text": [], "answer_start": []}},
            {"answers": {"text": ["x"], "answer_start": [0]}},
            {"answers": {"text": [], "answer_start": []}},
            {"answers": {"text": ["y"], "answer_start": [3]}}]
    assert no_answer_exact(rows) == 50.0
    with pytest.raises(ValueError):
        no_answer_exact([])


def test_trial_values_and_folder(task):
    p = params(task)
    before = trial_dirs(task)
    values = task(p)
    assert set(values) == {"exact", "f1", "num_parameters", "inference_time"}
    assert values["num_parameters"] == task.num_parameters(p)
    assert 0.0 <= values["exact"] <= 100.0 and values["inference_time"] > 0
    (last,) = trial_dirs(task) - before
    config = DistillConfig.load(last / "config.json")
    assert config == task.config_for(p)
    assert config.n_train_examples == 48
    record = json.loads((last / "metrics.json").read_text())
    assert record["status"] == "completed" and record["exact"] == values["exact"]


def test_with_training_seed_trains_under_another_seed_on_the_same_prepared_task(task):
    p = params(task)
    other = task.with_training_seed(3)
    assert other._state is task._state and other.space == task.space
    assert other.config_for(p) == task.config_for(p).replace(seed=3)
    assert task.base.seed == 0  # the task itself is unchanged
    before = trial_dirs(task)
    first = other(p)
    (last,) = trial_dirs(task) - before
    assert DistillConfig.load(last / "config.json").seed == 3
    # one seed, one machine: the same scores again
    again = other(p)
    assert {k: again[k] for k in ("exact", "f1")} == {k: first[k] for k in ("exact", "f1")}
    assert task.with_training_seed(0).config_for(p) == task.config_for(p)
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="seed"):
            task.with_training_seed(bad)


def test_pickle_leaves_heavy_state_behind(task):
    blob = pickle.dumps(task)
    assert len(blob) < 20_000
    again = pickle.loads(blob)
    assert again._state is None and again.space == task.space
    assert again.config_for(params(task)) == task.config_for(params(task))


def test_cache_is_reused(task, tiny_dirs):
    assert not any("cached" in m for m in task.messages)
    other = DistillationTask(teacher=tiny_dirs / "teacher", encoder=tiny_dirs / "encoder",
                             cache_dir=tiny_dirs / "cache", device="cpu", train_examples=48,
                             synthetic_size=(120, 90), verbose=False)
    messages = []
    other.prepare(progress=messages.append)
    assert any("teacher logits: cached" in m for m in messages)


def test_trial_failed_propagates(task, monkeypatch):
    def nan_loss(*args, **kwargs):
        return torch.tensor(float("nan"), requires_grad=True)

    monkeypatch.setattr(train_module, "kd_loss", nan_loss)
    before = trial_dirs(task)
    with pytest.raises(TrialFailed, match="nan"):
        task(params(task, n_layers=2))
    (new,) = trial_dirs(task) - before
    record = json.loads((new / "metrics.json").read_text())
    assert record["status"] == "failed" and "nan" in record["error"]


def test_bad_parameters(task):
    with pytest.raises(ValueError, match="colour"):
        task({"colour": 1})
    with pytest.raises(ValueError, match="learning_rate"):
        task(params(task, learning_rate=-1.0))
    with pytest.raises(ValueError, match="fixed"):
        DistillationTask(fixed={"n_layers": 3})
    with pytest.raises(ValueError, match="head_choice"):
        DistillationTask(fixed={"head_choice": "best"})


def test_teacher_digest_names_the_teacher_bit_for_bit(task, tiny_dirs):
    digest = task.teacher_digest
    assert len(digest) == 16 and int(digest, 16) >= 0
    # another task object over the same cached teacher and logits: the same digest
    again = DistillationTask(teacher=tiny_dirs / "teacher", encoder=tiny_dirs / "encoder",
                             cache_dir=tiny_dirs / "cache", device="cpu", train_examples=48,
                             synthetic_size=(120, 90), verbose=False)
    again.prepare(progress=lambda msg: None)
    assert again.teacher_digest == digest
    # one weight one ulp away (as another CPU's sums would leave it): another digest
    weight = next(again._state.teacher.parameters())
    with torch.no_grad():
        weight.view(-1)[0] = torch.nextafter(weight.view(-1)[0], torch.tensor(1.0))
    again._teacher_digest = None
    assert again.teacher_digest != digest
    # and one teacher logit changed: another digest too
    third = DistillationTask(teacher=tiny_dirs / "teacher", encoder=tiny_dirs / "encoder",
                             cache_dir=tiny_dirs / "cache", device="cpu", train_examples=48,
                             synthetic_size=(120, 90), verbose=False)
    third.prepare(progress=lambda msg: None)
    third._state.trial_logits.end[-1] = third._state.trial_logits.end[-1] + 1e-3
    assert third.teacher_digest != digest


def test_teacher_num_parameters(task):
    expected = sum(p.numel() for p in task._state.teacher.parameters())
    assert task.teacher_num_parameters == expected
    # a teacher-initialised student with all of the teacher's layers and heads is its size
    n_layers = len(task._state.teacher.bert.encoder.layer)
    assert task.num_parameters(params(task, n_layers=n_layers, n_heads=4)) == expected


def test_teacher_recipe_is_plain_fine_tuning_of_the_whole_encoder():
    config = DistillConfig().replace(n_train_examples=None, **TEACHER_RECIPE)
    assert config.alpha_ce == 0.0  # no teacher to distil from yet
    assert config.init == "pretrained"
    assert (config.n_layers, config.n_heads) == (6, 12)  # MiniLM-L6, unpruned
    steps = -(-3000 // config.train_batch_size) * config.epochs  # the embedded task's 3,000
    assert 0 < config.warm_up_steps <= 0.2 * steps


# ---- sources, fitted space, real-run knobs, kept students -----------------------------


@pytest.fixture(scope="module")
def hub_dirs(tmp_path_factory):
    """A BERT QA teacher only in a faked local Hugging Face cache (hidden 32, 4 heads, 3
    layers) and a DistilBERT encoder folder of another shape (hidden 24, 2 heads, 2 layers),
    both over MiniLM's vocabulary."""
    root = tmp_path_factory.mktemp("hub")
    commit = "f" * 40
    repo = root / "hf" / "hub" / "models--org--tiny-bert-qa"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    torch.manual_seed(1)
    cfg = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=3,
                     num_attention_heads=4, intermediate_size=64, max_position_embeddings=512)
    BertForQuestionAnswering(cfg).save_pretrained(repo / "snapshots" / commit)
    DistilBertModel(DistilBertConfig(vocab_size=30522, dim=24, n_layers=2, n_heads=2,
                                     hidden_dim=40)).save_pretrained(root / "distil")
    DistilBertModel(DistilBertConfig(vocab_size=30000, dim=24, n_layers=1, n_heads=2,
                                     hidden_dim=40)).save_pretrained(root / "other-vocab")
    return root


def hub_task(hub_dirs, **kwargs):
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("HF_HUB_CACHE", raising=False)
        mp.setenv("HF_HOME", str(hub_dirs / "hf"))
        return DistillationTask(teacher="org/tiny-bert-qa", cache_dir=hub_dirs / "cache",
                                device="cpu", train_examples=48, synthetic_size=(120, 90),
                                verbose=False, **kwargs)


def test_embedded_default_is_unchanged(tmp_path):
    task = DistillationTask(cache_dir=tmp_path, verbose=False)
    assert task.space == embedded_space()
    b = task.base
    assert (b.n_train_examples, b.epochs, b.max_seq_length, b.doc_stride, b.init) == \
        (1000, 1, 384, 128, "teacher")
    assert not task.trial_progress and task.students_dir is None
    assert task.teacher is None and task.encoder is None and task.tokenizer is None


def test_real_data_recipe_and_knobs(hub_dirs):
    task = hub_task(hub_dirs, encoder=hub_dirs / "distil")
    assert task.space == embedded_space(max_heads=2, max_layers=3)  # synthetic: embedded
    real = DistillationTask("squad_v2", teacher=task.teacher, cache_dir=hub_dirs / "cache")
    b = real.base
    assert (b.n_train_examples, b.epochs, b.max_seq_length, b.doc_stride, b.init) == \
        (None, 3, 384, 128, "pretrained")
    assert real.trial_progress
    # the teacher's own encoder: n_heads stops at the teacher's 4; depth stays the study's
    assert real.space == seed_space(max_heads=4)
    assert real.space.params[real.space.names.index("n_layers")].high == 20
    knobs = DistillationTask("squad_v2", teacher=task.teacher, train_examples=10, epochs=2,
                             max_seq_length=256, doc_stride=64, trial_progress=False)
    b = knobs.base
    assert (b.n_train_examples, b.epochs, b.max_seq_length, b.doc_stride) == (10, 2, 256, 64)
    assert not knobs.trial_progress
    text = real.describe()
    assert "n_heads" in text and "[1, 4]" in text and "3 epoch(s)" in text


def test_sources_checked_at_construction(hub_dirs):
    with pytest.raises(ValueError, match="vocabulary of 30000 tokens"):
        hub_task(hub_dirs, encoder=hub_dirs / "other-vocab")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HOME", str(hub_dirs / "hf"))
        mp.delenv("HF_HUB_CACHE", raising=False)
        with pytest.raises(ValueError, match="hf download org/absent"):
            DistillationTask(teacher="org/absent", verbose=False)


def test_hub_teacher_distilbert_encoder_and_kept_students(hub_dirs, capsys):
    students = hub_dirs / "students"
    task = hub_task(hub_dirs, encoder=hub_dirs / "distil", students_dir=students,
                    trial_progress=True)
    task.prepare(progress=lambda m: None)
    done = []
    for init, n_layers, n_heads in (("pretrained", 3, 2), ("teacher", 2, 1)):
        p = params(task, init=init, n_layers=n_layers, n_heads=n_heads)
        values = task(p)  # a count != built mismatch would raise
        assert values["num_parameters"] == task.num_parameters(p)
        done.append(p)
        assert (students / STAGING / student_key(task.config_for(p))).is_dir()
    err = capsys.readouterr().err
    assert "step" in err and "ETA" in err and "ex/s" in err
    # the first trial alone on the front
    trials = [SimpleNamespace(number=i, params=p, status="completed")
              for i, p in enumerate(done)]
    study = SimpleNamespace(trials=trials, pareto_front=lambda: trials[:1])
    assert task.keep_front_students(study, trials[1]) == []
    assert sorted(p.name for p in students.iterdir()) == [STAGING, "trial-0"]
    assert answer_main(["--model", str(students / "trial-0"), "--context",
                        "Paris is the capital of France.", "--question",
                        "What is the capital of France?"]) == 0
    assert capsys.readouterr().out.strip()


def test_teacher_only_students_count_from_the_teacher(hub_dirs):
    """The bug: pretrained students were counted from the teacher but built from MiniLM."""
    task = hub_task(hub_dirs)
    assert task.encoder is None
    task.prepare(progress=lambda m: None)
    assert task._state.encoder is task._state.teacher.bert
    p = params(task, init="pretrained", n_layers=3, n_heads=4)
    values = task(p)
    assert values["num_parameters"] == task.num_parameters(p)
    assert task.keep_front_students(SimpleNamespace(trials=[], pareto_front=list)) == []
