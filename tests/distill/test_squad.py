"""Tests of distill.squad: post-processing of logits and the official SQuAD 2.0 scores."""

from __future__ import annotations

import numpy as np
import pytest

from distill.data import Features, build_features, load_tokenizer
from distill.squad import compute_exact, compute_f1, normalize_answer, postprocess, score
from distill.synthetic import synthetic_squad


def _ex(qid: str, texts: list[str], context: str = "") -> dict:
    starts = [max(context.find(t), 0) for t in texts]
    return {"id": qid, "title": "", "context": context, "question": "?",
            "answers": {"text": texts, "answer_start": starts}}


# ----------------------------------------------------------------------------- scoring


@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("The Cat!", "cat"),
        ("  an apple,   a pear. ", "apple pear"),
        ("Theatre of the Absurd", "theatre of absurd"),  # articles only as whole words
        ("A", ""),
        ("U.S.A.", "usa"),
        ("rock-n-roll's", "rocknrolls"),
        ("PARIS", "paris"),
        ("the\tend\nof it", "end of it"),
    ],
)
def test_normalize_answer(raw, norm):
    assert normalize_answer(raw) == norm


def test_f1_hand_computed():
    assert compute_f1("the cat sat", "cat sat") == 1.0  # the article vanishes
    # duplicates count as a multiset: gold {cat:2, sat:1}
    assert compute_f1("cat cat sat", "cat") == pytest.approx(2 * 1 * (1 / 3) / (1 + 1 / 3))
    assert compute_f1("cat cat sat", "cat cat cat") == pytest.approx(2 / 3)
    assert compute_f1("in 1912", "1912") == pytest.approx(2 * 1 * 0.5 / 1.5)
    assert compute_f1("", "") == 1.0
    assert compute_f1("", "anything") == 0.0
    assert compute_f1("something", "") == 0.0
    assert compute_f1("dog", "cat") == 0.0
    assert compute_exact("The Eiffel Tower.", "eiffel tower") == 1
    assert compute_exact("Eiffel Tower", "Eiffel") == 0


def test_score_hand_computed():
    ctx = "x"
    examples = [
        _ex("q1", ["1912", "in 1912"], ctx),       # several gold answers
        _ex("q2", ["the Quelnor Institute"], ctx),
        _ex("q3", [], ctx),                         # unanswerable
        _ex("q4", [], ctx),
        _ex("q5", ["Brastovia"], ctx),
    ]
    preds = {"q1": "in the year 1912", "q2": "Quelnor institute", "q3": "", "q4": "Brastovia",
             "q5": ""}
    out = score(examples, preds)
    # q1: EM 0; F1 max("1912": p=1/3,r=1 -> .5 ; "in 1912": p=2/3,r=1 -> .8) = .8
    # q2: EM 1 (article, case); q3: 1/1; q4: 0/0; q5: 0/0 (empty prediction, answerable)
    assert out["exact"] == pytest.approx(100 * 2 / 5)
    assert out["f1"] == pytest.approx(100 * (0.8 + 1 + 1) / 5)
    assert out["total"] == 5
    assert out["HasAns_exact"] == pytest.approx(100 / 3)
    assert out["HasAns_f1"] == pytest.approx(100 * 1.8 / 3)
    assert out["HasAns_total"] == 3
    assert out["NoAns_exact"] == pytest.approx(50.0)
    assert out["NoAns_f1"] == pytest.approx(50.0)
    assert out["NoAns_total"] == 2


def test_score_key_sets_follow_the_official_script():
    only_no = [_ex("a", []), _ex("b", [])]
    out = score(only_no, {"a": "", "b": ""})
    assert set(out) == {"exact", "f1", "total", "NoAns_exact", "NoAns_f1", "NoAns_total"}
    assert out["exact"] == 100.0
    only_has = [_ex("a", ["x"], "x")]
    out = score(only_has, {"a": "x"})
    assert set(out) == {"exact", "f1", "total", "HasAns_exact", "HasAns_f1", "HasAns_total"}


def test_gold_that_normalises_to_nothing_means_empty_string():
    # the split follows the raw answer list; the gold text "the" leaves only "" to match
    ex = [_ex("a", ["the"], "the")]
    out = score(ex, {"a": ""})
    assert out["HasAns_total"] == 1 and out["exact"] == 100.0
    assert score(ex, {"a": "the"})["exact"] == 100.0  # "the" normalises to "" as well
    assert score(ex, {"a": "cat"})["exact"] == 0.0


def test_missing_predictions_score_zero_with_a_warning():
    ex = [_ex("a", []), _ex("b", ["x"], "x")]
    with pytest.warns(UserWarning, match="1 of 2 questions have no prediction"):
        out = score(ex, {"b": "x"})
    assert out["exact"] == 50.0 and out["NoAns_exact"] == 0.0 and out["total"] == 2


def test_score_errors():
    with pytest.raises(ValueError, match="no examples"):
        score([], {})
    with pytest.raises(ValueError, match="not str"):
        score([_ex("a", [])], {"a": None})


def test_always_no_answer_equals_unanswerable_share():
    _, dev = synthetic_squad(seed=0, n_train=0, n_dev=300)
    out = score(dev, {r["id"]: "" for r in dev})
    share = 100 * np.mean([not r["answers"]["text"] for r in dev])
    assert out["exact"] == pytest.approx(share) and out["f1"] == pytest.approx(share)
    assert out["HasAns_exact"] == 0.0 and out["NoAns_exact"] == 100.0


# ----------------------------------------------------------------------------- postprocess

CTX = "abc def ghi jkl"
#              CLS   q     SEP   abc     def     ghi      jkl       SEP
OFFS = [None, None, None, (0, 3), (4, 7), (8, 11), (12, 15), None]


def _one(offsets=OFFS, n_ex=1, example_index=None):
    n = len(offsets)
    k = 1 if example_index is None else len(example_index)
    return Features(
        input_ids=[[0] * n] * k, token_type_ids=[[0] * n] * k, start_positions=[0] * k,
        end_positions=[0] * k, example_index=example_index or [0], offsets=[offsets] * k,
    )


def _logits(n=8, **peaks):
    out = np.zeros(n)
    for pos, val in peaks.items():
        out[int(pos[1:])] = val
    return out


def test_postprocess_picks_the_best_span():
    f = _one()
    ex = [_ex("q", ["def ghi"], CTX)]
    s, e = _logits(p4=5.0, p5=1.0), _logits(p5=6.0, p3=2.0)
    assert postprocess(ex, f, [s], [e]) == {"q": "def ghi"}


def test_postprocess_null_wins_and_threshold():
    f = _one()
    ex = [_ex("q", [], CTX)]
    s, e = _logits(p0=4.0, p4=3.0), _logits(p0=4.0, p4=3.0)
    assert postprocess(ex, f, [s], [e]) == {"q": ""}  # null 8 > span 6
    assert postprocess(ex, f, [s], [e], null_threshold=2.5) == {"q": "def"}  # 8 - 6 <= 2.5
    assert postprocess(ex, f, [s], [e], null_threshold=1.5) == {"q": ""}
    # equal scores: the span wins (the null must exceed it by more than the threshold)
    s, e = _logits(p0=3.0, p4=3.0), _logits(p0=3.0, p4=3.0)
    assert postprocess(ex, f, [s], [e]) == {"q": "def"}


def test_postprocess_respects_max_length_order_and_context():
    f = _one()
    ex = [_ex("q", [], CTX)]
    s, e = _logits(p3=5.0, p5=1.0), _logits(p6=5.0, p5=2.0)
    assert postprocess(ex, f, [s], [e]) == {"q": "abc def ghi jkl"}
    assert postprocess(ex, f, [s], [e], max_answer_length=3) == {"q": "abc def ghi"}
    assert postprocess(ex, f, [s], [e], max_answer_length=1) == {"q": "abc"}  # 5 + 0 > 1 + 2
    # end before start never counts; question tokens never count
    s = _logits(p6=9.0, p1=20.0, p4=1.0, p3=-20.0)
    e = _logits(p3=9.0, p2=20.0, p5=0.5, p6=-20.0)
    assert postprocess(ex, f, [s], [e], null_threshold=100) == {"q": "def ghi"}
    # n_best limits the search: with n_best=1 only (6, 3) is tried and it is invalid
    s, e = _logits(p6=9.0, p4=1.0), _logits(p3=9.0, p5=0.5)
    assert postprocess(ex, f, [s], [e], n_best=1) == {"q": ""}
    assert postprocess(ex, f, [s], [e], n_best=2) == {"q": "def ghi"}


def test_postprocess_over_windows_uses_min_null_and_best_span():
    f = _one(example_index=[0, 0])
    ex = [_ex("q", [], CTX)]
    # window 0: strong null (10), span 7; window 1: weak null (2), span 5
    s0, e0 = _logits(p0=5.0, p3=4.0), _logits(p0=5.0, p3=3.0)
    s1, e1 = _logits(p0=1.0, p5=3.0), _logits(p0=1.0, p6=2.0)
    # best span 7 (window 0) vs null min(10, 2) = 2 -> answer from window 0
    assert postprocess(ex, f, [s0, s1], [e0, e1]) == {"q": "abc"}
    # with the null minimum taken over windows, raising one window's null changes nothing
    s1[0] = e1[0] = 50.0
    assert postprocess(ex, f, [s0, s1], [e0, e1]) == {"q": ""}  # min null now 10 > 7


def test_postprocess_example_without_features_and_bad_shapes():
    f = _one()
    ex = [_ex("q", [], CTX), _ex("r", [], CTX)]
    assert postprocess(ex, f, [_logits(p4=9)], [_logits(p4=9)]) == {"q": "def", "r": ""}
    with pytest.raises(ValueError, match="rows for 1 features"):
        postprocess(ex, f, [], [])
    with pytest.raises(ValueError, match="shorter"):
        postprocess(ex, f, [np.zeros(3)], [np.zeros(3)])


def _reference(examples, feats, starts, ends, n_best, max_len, thr):
    """Every (start, end) pair in the top-n lists, scored one by one."""
    out = {}
    for e, ex in enumerate(examples):
        idx = [i for i, x in enumerate(feats.example_index) if x == e]
        null = min((starts[i][0] + ends[i][0] for i in idx), default=np.inf)
        best, text = -np.inf, None
        for i in idx:
            offs = feats.offsets[i]
            ts = sorted(range(len(offs)), key=lambda t: (-starts[i][t], t))[:n_best]
            te = sorted(range(len(offs)), key=lambda t: (-ends[i][t], t))[:n_best]
            for s in ts:
                for t in te:
                    if offs[s] is None or offs[t] is None or t < s or t - s + 1 > max_len:
                        continue
                    if starts[i][s] + ends[i][t] > best:
                        best = starts[i][s] + ends[i][t]
                        text = ex["context"][offs[s][0]:offs[t][1]]
        out[ex["id"]] = "" if text is None or null - best > thr else text
    return out


@pytest.mark.parametrize("seed", range(6))
def test_postprocess_matches_slow_reference(seed):
    rng = np.random.default_rng(seed)
    context = " ".join(f"w{k}" for k in range(40))
    spans = [(m.start(), m.end()) for m in __import__("re").finditer(r"\S+", context)]
    examples, feats = [], Features()
    for e in range(5):
        examples.append(_ex(f"q{e}", [], context))
        for _ in range(int(rng.integers(1, 4))):
            n = int(rng.integers(6, 30))
            offs = [None] * n
            c0 = int(rng.integers(2, 5))
            first = int(rng.integers(0, len(spans) - n))
            for t in range(c0, n - 1):
                offs[t] = spans[first + t - c0]
            feats.input_ids.append([0] * n)
            feats.token_type_ids.append([0] * n)
            feats.start_positions.append(0)
            feats.end_positions.append(0)
            feats.example_index.append(e)
            feats.offsets.append(offs)
    degenerate = seed % 3 == 0  # many ties
    draw = (lambda n: rng.integers(0, 3, n).astype(float)) if degenerate else \
        (lambda n: rng.normal(size=n))
    starts = [draw(len(o)) for o in feats.offsets]
    ends = [draw(len(o)) for o in feats.offsets]
    for n_best, max_len, thr in ((20, 30, 0.0), (3, 4, 0.5), (1, 2, -1.0)):
        got = postprocess(examples, feats, starts, ends, n_best=n_best,
                          max_answer_length=max_len, null_threshold=thr)
        assert got == _reference(examples, feats, starts, ends, n_best, max_len, thr)


def test_oracle_logits_score_100_through_features():
    """Logits peaked at the feature labels decode to the gold answers, across windows."""
    tok = load_tokenizer()
    _, dev = synthetic_squad(seed=1, n_train=0, n_dev=80)
    long_ctx = " ".join(f"w{k}" for k in range(150))
    answer = "w70 w71 w72"
    dev.append({"id": "long", "title": "", "context": long_ctx, "question": "which?",
                "answers": {"text": [answer], "answer_start": [long_ctx.index(answer)]}})
    feats = build_features(dev, tok, max_length=64, doc_stride=24, max_query_length=16)
    assert feats.example_index.count(len(dev) - 1) > 3
    starts, ends = [], []
    for i in range(len(feats)):
        n = len(feats.input_ids[i])
        s, e = np.zeros(n), np.zeros(n)
        s[feats.start_positions[i]] += 10.0
        e[feats.end_positions[i]] += 10.0
        starts.append(s)
        ends.append(e)
    preds = postprocess(dev, feats, starts, ends)
    assert preds["long"] == answer
    out = score(dev, preds)
    assert out["exact"] == 100.0 and out["f1"] == 100.0
