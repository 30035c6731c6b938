import json

import torch
from transformers import BertConfig, BertModel

from benchmarks.distill_reference import BASELINE, reference
from distill.models import QAModel, save_qa_model
from distill.objective import TEACHER_RECIPE, DistillationTask


def test_reference_schema(tmp_path):
    # other tests leave torch on one thread; the record must say what this run used
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        _check_reference(tmp_path)
    finally:
        torch.set_num_threads(threads)


def _check_reference(tmp_path):
    torch.manual_seed(0)
    # a tiny teacher and encoder with MiniLM's vocabulary and 12 heads, as the baseline needs
    cfg = BertConfig(vocab_size=30522, hidden_size=48, num_hidden_layers=2,
                     num_attention_heads=12, intermediate_size=64, max_position_embeddings=512)
    save_qa_model(QAModel(cfg), tmp_path / "teacher")
    BertModel(cfg, add_pooling_layer=False).save_pretrained(tmp_path / "encoder")
    task = DistillationTask(teacher=tmp_path / "teacher", encoder=tmp_path / "encoder",
                            cache_dir=tmp_path / "cache", device="cpu", train_examples=32,
                            synthetic_size=(60, 40), verbose=False)
    out = json.loads(json.dumps(reference(task)))  # JSON-serialisable as it stands
    assert set(out) == {"task", "always_no_answer_exact", "teacher", "baseline",
                        "teacher_recipe", "measured_on"}
    assert out["task"] == {"data": "synthetic", "seed": 0, "train_questions": 60,
                           "dev_questions": 40, "trial_train_questions": 32}
    assert out["always_no_answer_exact"] == task.no_answer_em
    assert set(out["teacher"]) == {"exact", "f1", "HasAns_exact", "NoAns_exact",
                                   "num_parameters"}
    assert out["teacher"]["num_parameters"] == task.teacher_num_parameters
    base = out["baseline"]
    assert set(base) == {"exact", "f1", "num_parameters", "inference_time", "seconds",
                         "params"}
    assert base["params"] == BASELINE
    assert base["num_parameters"] == task.num_parameters(BASELINE)
    assert 0.0 <= base["exact"] <= 100.0 and base["seconds"] > 0
    assert out["teacher_recipe"] == TEACHER_RECIPE
    assert set(out["measured_on"]) == {"device", "torch_threads", "cpu", "date", "load_average"}
    assert out["measured_on"]["device"] == "cpu" and out["measured_on"]["torch_threads"] == 2
