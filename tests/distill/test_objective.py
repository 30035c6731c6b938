import json
import pickle

import pytest
import torch
from transformers import BertConfig, BertModel

from distill.config import DistillConfig
from distill.models import QAModel, save_qa_model
from distill.objective import TEACHER_RECIPE, DistillationTask, no_answer_exact
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
                         cache_dir=tiny_dirs / "cache", device="cpu", n_train_examples=48,
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


def test_pickle_leaves_heavy_state_behind(task):
    blob = pickle.dumps(task)
    assert len(blob) < 20_000
    again = pickle.loads(blob)
    assert again._state is None and again.space == task.space
    assert again.config_for(params(task)) == task.config_for(params(task))


def test_cache_is_reused(task, tiny_dirs):
    assert not any("cached" in m for m in task.messages)
    other = DistillationTask(teacher=tiny_dirs / "teacher", encoder=tiny_dirs / "encoder",
                             cache_dir=tiny_dirs / "cache", device="cpu", n_train_examples=48,
                             synthetic_size=(120, 90), verbose=False)
    messages = []
    other.prepare(progress=messages.append)
    assert any("teacher logits: cached" in m for m in messages)


def test_trial_failed_propagates(task, monkeypatch):
    import distill.train as train_module

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
