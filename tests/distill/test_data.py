"""Tests of distill.data: loading, features, batching."""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from distill.data import (
    Features,
    TokenOffsets,
    build_features,
    collate,
    length_grouped_batches,
    load_squad,
    load_tokenizer,
    minilm_dir,
)

CTX_A = "The Normans were a people who in the 10th and 11th centuries gave their name to Normandy."
CTX_B = "Zorvath Quelmarin was born in Brastovia in 1912. She died in 1980."


def _official(tmp: Path, name: str, with_impossible: bool = True) -> Path:
    qas_a = [
        {"id": "a1", "question": "When did the Normans give their name to Normandy?",
         "answers": [{"text": "10th and 11th centuries", "answer_start": CTX_A.index("10th")},
                     {"text": "in the 10th and 11th centuries",
                      "answer_start": CTX_A.index("in the 10th")}],
         "is_impossible": False},
    ]
    if with_impossible:
        qas_a.append({"id": "a2", "question": "Who gave their name to France?", "answers": [],
                      "plausible_answers": [{"text": "Normans", "answer_start": 4}],
                      "is_impossible": True})
    obj = {"version": "v2.0", "data": [
        {"title": "Normans", "paragraphs": [{"context": CTX_A, "qas": qas_a}]},
        {"title": "Quelmarin", "paragraphs": [{"context": CTX_B, "qas": [
            {"id": "b1", "question": "Where was Quelmarin born?",
             "answers": [{"text": "Brastovia", "answer_start": CTX_B.index("Brastovia")}],
             "is_impossible": False},
            {"id": "b2", "question": "When did she die?",
             "answers": [{"text": "1980", "answer_start": CTX_B.index("1980")}],
             "is_impossible": False},
        ]}]},
    ]}
    path = tmp / name
    path.write_text(json.dumps(obj))
    return path




# ----------------------------------------------------------------------------- tokenizer


def test_minilm_tokenizer_is_the_real_vocabulary(tok):
    assert (minilm_dir() / "tokenizer.json").is_file()
    assert tok.is_fast
    assert len(tok) == 30522
    assert tok.tokenize("Where was he born?") == ["where", "was", "he", "born", "?"]


def test_load_tokenizer_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_tokenizer(tmp_path / "nope")


# ----------------------------------------------------------------------------- loading


def test_load_squad_from_official_json(tmp_path):
    _official(tmp_path, "train-v2.0.json")
    _official(tmp_path, "dev-v2.0.json")
    train, dev = load_squad(str(tmp_path))
    assert [r["id"] for r in train] == ["a1", "a2", "b1", "b2"]
    a1, a2 = train[0], train[1]
    assert a1 == {"id": "a1", "title": "Normans", "context": CTX_A,
                  "question": "When did the Normans give their name to Normandy?",
                  "answers": {"text": ["10th and 11th centuries", "in the 10th and 11th centuries"],
                              "answer_start": [CTX_A.index("10th"),
                                               CTX_A.index("in the 10th")]}}
    assert a2["answers"] == {"text": [], "answer_start": []}
    for r in train + dev:
        for t, s in zip(r["answers"]["text"], r["answers"]["answer_start"], strict=True):
            assert r["context"][s:s + len(t)] == t


def test_load_squad_explicit_files(tmp_path):
    tr = _official(tmp_path, "a.json")
    dv = _official(tmp_path, "b.json", with_impossible=False)
    train, dev = load_squad("squad_v2", train_file=tr, dev_file=dv)
    assert len(train) == 4 and len(dev) == 3
    with pytest.raises(ValueError, match="give both train_file and dev_file"):
        load_squad("synthetic", train_file=tr)


def test_load_squad_missing_files(tmp_path):
    with pytest.raises(ValueError, match="train-v2.0.json"):
        load_squad(str(tmp_path))
    with pytest.raises(ValueError, match="expected 'synthetic', 'squad_v2' or a directory"):
        load_squad(str(tmp_path / "absent"))


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda o: o.pop("data"), "'data'"),
        (lambda o: o["data"][0].pop("paragraphs"), r"data\[0\]: field 'paragraphs'"),
        (lambda o: o["data"][1]["paragraphs"][0].pop("context"), "field 'context'"),
        (lambda o: o["data"][0]["paragraphs"][0]["qas"][0].pop("id"), r"qas\[0\]: field 'id'"),
        (lambda o: o["data"][1]["paragraphs"][0]["qas"][1]["answers"][0].update(answer_start="3"),
         r"qas\[1\]\.answers\[0\]: field 'answer_start'"),
        (lambda o: o["data"][1]["paragraphs"][0]["qas"][0]["answers"][0].update(answer_start=999),
         "outside the context"),
        (lambda o: o["data"][0]["paragraphs"][0]["qas"][0].update(is_impossible="no"),
         "'is_impossible'"),
    ],
)
def test_malformed_json_names_the_field(tmp_path, mutate, field):
    path = _official(tmp_path, "train-v2.0.json")
    obj = json.loads(path.read_text())
    mutate(obj)
    path.write_text(json.dumps(obj))
    _official(tmp_path, "dev-v2.0.json")
    with pytest.raises(ValueError, match=field) as err:
        load_squad(str(tmp_path))
    assert "train-v2.0.json" in str(err.value)


def test_not_json(tmp_path):
    (tmp_path / "train-v2.0.json").write_text("{not json")
    _official(tmp_path, "dev-v2.0.json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_squad(str(tmp_path))


def test_squad_v2_from_datasets_cache_is_offline(monkeypatch):
    calls = {}

    def load_dataset(name, download_mode=None):
        calls["offline"] = os.environ.get("HF_DATASETS_OFFLINE")
        calls["args"] = (name, download_mode)
        row = {"id": "x", "title": "T", "context": "ab cd", "question": "q?",
               "answers": {"text": ["cd"], "answer_start": [3]}}
        imp = dict(row, id="y", answers={"text": [], "answer_start": []})
        return {"train": [row], "validation": [row, imp]}

    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    cfg = types.SimpleNamespace(HF_DATASETS_OFFLINE=False, HF_HUB_OFFLINE=False)
    fake = types.SimpleNamespace(load_dataset=load_dataset, config=cfg)
    monkeypatch.setitem(sys.modules, "datasets", fake)
    train, dev = load_squad("squad_v2")
    assert calls == {"offline": "1", "args": ("squad_v2", "reuse_dataset_if_exists")}
    assert cfg.HF_DATASETS_OFFLINE is True and cfg.HF_HUB_OFFLINE is True
    assert train[0]["answers"] == {"text": ["cd"], "answer_start": [3]}
    assert [r["id"] for r in dev] == ["x", "y"]


def test_squad_v2_cache_missing_is_a_clear_error(monkeypatch):
    def load_dataset(name, download_mode=None):
        raise ConnectionError("Couldn't reach the Hub (offline mode is enabled)")

    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    with pytest.raises(ValueError, match="no cached copy found offline"):
        load_squad("squad_v2")
    monkeypatch.setitem(sys.modules, "datasets", None)  # import fails
    with pytest.raises(ValueError, match="needs the 'datasets' package") as info:
        load_squad("squad_v2")
    assert "mobo[data]" not in str(info.value)  # the extra is gone: datasets is a dependency
    assert "pip install -e ." in str(info.value)


# ----------------------------------------------------------------------------- features


def _check_round_trip(examples, feats):
    hit = set()
    for i in range(len(feats)):
        ex = examples[feats.example_index[i]]
        s, e = feats.start_positions[i], feats.end_positions[i]
        if s == 0:
            assert e == 0
            continue
        assert ex["answers"]["text"], "impossible question labelled with a span"
        assert 0 < s <= e < len(feats.input_ids[i])
        c0, c1 = feats.offsets[i][s][0], feats.offsets[i][e][1]
        assert ex["context"][c0:c1] == ex["answers"]["text"][0]
        hit.add(feats.example_index[i])
    return hit


def test_feature_round_trip_synthetic(synth, tok):
    train, dev = synth
    for rows in (train, dev):
        feats = build_features(rows, tok)
        hit = _check_round_trip(rows, feats)
        answerable = {i for i, r in enumerate(rows) if r["answers"]["text"]}
        assert hit == answerable


def test_feature_round_trip_official_json(tmp_path, tok):
    _official(tmp_path, "train-v2.0.json")
    _official(tmp_path, "dev-v2.0.json")
    train, _ = load_squad(str(tmp_path))
    feats = build_features(train, tok)
    assert _check_round_trip(train, feats) == {0, 2, 3}
    i = feats.example_index.index(0)
    ids = feats.input_ids[i]
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
    sep = ids.index(tok.sep_token_id)
    assert feats.token_type_ids[i][: sep + 1] == [0] * (sep + 1)
    assert set(feats.token_type_ids[i][sep + 1:]) == {1}
    assert all(o is None for o in feats.offsets[i][: sep + 1])
    assert feats.offsets[i][-1] is None


def test_doc_stride_windows_and_labels(tok):
    words = [f"w{k}" for k in range(120)]
    context = " ".join(words)
    target = "w97 w98"
    ex = {"id": "x", "title": "", "context": context, "question": "which?",
          "answers": {"text": [target], "answer_start": [context.index(target)]}}
    imp = dict(ex, id="y", answers={"text": [], "answer_start": []})
    feats = build_features([ex, imp], tok, max_length=48, doc_stride=16, max_query_length=8)
    n_windows = feats.example_index.count(0)
    assert n_windows > 3 and feats.example_index.count(1) == n_windows
    labelled = 0
    for i in range(len(feats)):
        assert len(feats.input_ids[i]) <= 48
        if feats.example_index[i] == 1:
            assert feats.start_positions[i] == feats.end_positions[i] == 0
            continue
        ctx = [o for o in feats.offsets[i] if o is not None]
        inside = ctx[0][0] <= ex["answers"]["answer_start"][0] and \
            ctx[-1][1] >= ex["answers"]["answer_start"][0] + len(target)
        assert (feats.start_positions[i] > 0) == inside
        labelled += inside
    assert labelled >= 1
    # consecutive windows overlap by doc_stride tokens
    w0 = [o for o in feats.offsets[0] if o is not None]
    w1 = [o for o in feats.offsets[1] if o is not None]
    assert w1[0] == w0[len(w0) - 16]


def test_answer_cut_by_window_boundary_is_cls(tok):
    context = " ".join(f"w{k}" for k in range(60))
    target = " ".join(f"w{k}" for k in range(20, 45))  # longer than any window's context part
    ex = {"id": "x", "title": "", "context": context, "question": "q?",
          "answers": {"text": [target], "answer_start": [context.index(target)]}}
    feats = build_features([ex], tok, max_length=32, doc_stride=8, max_query_length=4)
    assert len(feats) > 2
    assert all(s == 0 and e == 0 for s, e in zip(feats.start_positions, feats.end_positions,
                                                 strict=True))


def test_long_question_is_truncated(tok):
    q = "who " * 100 + "?"
    ex = {"id": "x", "title": "", "context": "a b c", "question": q,
          "answers": {"text": ["b"], "answer_start": [2]}}
    feats = build_features([ex], tok, max_query_length=10)
    ids = feats.input_ids[0]
    assert ids.index(tok.sep_token_id) == 11  # CLS + 10 question tokens
    assert feats.start_positions[0] == feats.end_positions[0] == 13


def test_bad_feature_arguments(tok):
    with pytest.raises(ValueError, match="doc_stride"):
        build_features([], tok, max_length=64, doc_stride=64, max_query_length=16)
    assert len(build_features([], tok)) == 0


# ----------------------------------------------------------------------------- batching


def test_length_grouped_batches_cover_and_group():
    rng = np.random.default_rng(0)
    lengths = rng.integers(10, 200, size=1003).tolist()
    batches = length_grouped_batches(lengths, 8, rng=np.random.default_rng(1), mega_batch_mult=10)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(1003))
    assert all(len(b) <= 8 for b in batches)
    # grouping: padding waste far below that of random batches
    def waste(bs):
        return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in bs)

    perm = np.random.default_rng(2).permutation(1003).tolist()
    rand = [perm[i:i + 8] for i in range(0, 1003, 8)]
    assert waste(batches) < 0.25 * waste(rand)
    again = length_grouped_batches(lengths, 8, rng=np.random.default_rng(1), mega_batch_mult=10)
    assert again == batches
    other = length_grouped_batches(lengths, 8, rng=np.random.default_rng(3), mega_batch_mult=10)
    assert other != batches


def test_length_grouped_batches_eval_order_and_drop_last():
    lengths = [5, 9, 1, 9, 3]
    assert length_grouped_batches(lengths, 2, rng=None) == [[1, 3], [0, 4], [2]]
    assert length_grouped_batches(lengths, 2, rng=None, drop_last=True) == [[1, 3], [0, 4]]
    assert length_grouped_batches([], 4, rng=np.random.default_rng(0)) == []
    with pytest.raises(ValueError, match="batch_size"):
        length_grouped_batches(lengths, 0, rng=None)


def test_collate_pads_dynamically():
    f = Features(
        input_ids=[[101, 7, 102], [101, 7, 8, 9, 102], [101, 102]],
        token_type_ids=[[0, 0, 1], [0, 0, 1, 1, 1], [0, 1]],
        start_positions=[1, 2, 0], end_positions=[1, 3, 0], example_index=[0, 1, 2],
        offsets=[[None, (0, 1), None], [None, None, (0, 1), (2, 3), None], [None, None]],
    )
    b = collate(f, [0, 2], pad_id=0)
    assert b["input_ids"].tolist() == [[101, 7, 102], [101, 102, 0]]
    assert b["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert b["token_type_ids"].tolist() == [[0, 0, 1], [0, 1, 0]]
    assert b["start_positions"].tolist() == [1, 0] and b["end_positions"].tolist() == [1, 0]
    assert all(t.dtype == torch.long for t in b.values())
    b = collate(f, [1, 0], pad_id=5)
    assert b["input_ids"].shape == (2, 5) and b["input_ids"][1, 3:].tolist() == [5, 5]
    with pytest.raises(ValueError, match="empty"):
        collate(f, [], pad_id=0)


def test_token_offsets_behave_like_a_list():
    spans = [None, (0, 3), (4, 7), None]
    offs = TokenOffsets(spans)
    assert len(offs) == 4 and list(offs) == spans and offs == spans
    assert offs[1] == (0, 3) and offs[-1] is None and offs[1:3] == [(0, 3), (4, 7)]
    assert offs.context_mask.tolist() == [False, True, True, False]
    assert offs.array.dtype == np.int32 and offs.array.shape == (4, 2)
    assert TokenOffsets(offs.array.copy()) == offs
    assert offs != [None, (0, 3), (4, 8), None]
    assert all(isinstance(v, int) for v in offs[2])
