"""Tests of distill.synthetic: the synthetic SQuAD-2.0-format task."""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pytest

from distill.data import build_features, load_squad
from distill.synthetic import synthetic_squad


def test_synthetic_is_deterministic_and_seeded():
    a = synthetic_squad(seed=7, n_train=120, n_dev=40)
    b = synthetic_squad(seed=7, n_train=120, n_dev=40)
    c = synthetic_squad(seed=8, n_train=120, n_dev=40)
    assert a == b
    assert a[0] != c[0]
    assert len(a[0]) == 120 and len(a[1]) == 40


def test_synthetic_rows_are_squad_v2_rows(synth):
    train, dev = synth
    ids = [r["id"] for r in train + dev]
    assert len(set(ids)) == len(ids)
    for r in train + dev:
        assert set(r) == {"id", "title", "context", "question", "answers"}
        assert set(r["answers"]) == {"text", "answer_start"}
        texts, starts = r["answers"]["text"], r["answers"]["answer_start"]
        assert len(texts) == len(starts)
        for t, s in zip(texts, starts, strict=True):
            assert t and r["context"][s:s + len(t)] == t
        assert r["question"].endswith("?")
    assert all(len(r["answers"]["text"]) <= 1 for r in train)
    assert any(len(r["answers"]["text"]) == 2 for r in dev)  # e.g. "1912" and "in 1912"


def test_synthetic_unanswerable_share_is_about_a_third(synth):
    train, dev = synthetic_squad(seed=0)
    for rows in (train, dev):
        share = np.mean([not r["answers"]["text"] for r in rows])
        assert 0.27 <= share <= 0.40


def test_synthetic_has_distractors(synth):
    train, _ = synth
    contexts = {r["context"] for r in train}
    assert len(contexts) > len(train) / 6  # a few questions per paragraph
    # answers that are years usually sit next to another year (someone else's, or another event)
    year_rows = [r for r in train if r["answers"]["text"]
                 and re.fullmatch(r"\d{4}", r["answers"]["text"][0])]
    other_year = [bool(set(re.findall(r"\b\d{4}\b", r["context"])) - {r["answers"]["text"][0]})
                  for r in year_rows]
    assert len(year_rows) > 20 and np.mean(other_year) > 0.4
    # unanswerable "when" questions mostly have a tempting year in the paragraph
    when = [r for r in train if not r["answers"]["text"]
            and r["question"].startswith(("When", "In what year", "What year", "In which year"))]
    assert len(when) > 10
    assert np.mean([bool(re.search(r"\b\d{4}\b", r["context"])) for r in when]) > 0.75
    # some unanswerable questions name someone absent from the paragraph, some someone present
    absent = present = 0
    for r in train:
        if r["answers"]["text"]:
            continue
        names = re.findall(r"[A-Z][a-z]+(?: [A-Z][a-z]+)*", r["question"][1:])
        if any(n in r["context"] for n in names):
            present += 1
        else:
            absent += 1
    assert absent > 10 and present > 10


def test_synthetic_token_lengths(synth, tok):
    train, dev = synth
    feats = build_features(train + dev, tok)
    lengths = np.array(feats.lengths)
    assert len(feats) == len(train) + len(dev)  # one window each at max_length 384
    assert 50 <= np.median(lengths) <= 90
    assert np.percentile(lengths, 95) <= 120
    assert lengths.max() <= 160


def test_synthetic_corpus_is_pinned():
    # The committed distillation results were measured on this corpus: any change to the
    # generator (template order, random draws) would silently change the task.
    rows = synthetic_squad(seed=7, n_train=50, n_dev=20)
    digest = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()
    assert digest == "51acda3e1608e572e3c7bd4b700389e9ee6513b59deb1605dea86df0dccea5f4"


def test_load_squad_synthetic_is_the_generator():
    assert load_squad("synthetic", seed=2, n_train=30, n_dev=10) == synthetic_squad(
        seed=2, n_train=30, n_dev=10
    )
    with pytest.raises(ValueError, match="must be >= 0"):
        synthetic_squad(n_train=-1)
