"""From start/end logits to answer texts, and the official SQuAD 2.0 scores.

Post-processing follows the extractive-QA decoding of BERT (Devlin et al., NAACL 2019): for
every window (feature) of a question, the ``n_best`` highest start and end logits are paired
into candidate spans (end not before start, at most ``max_answer_length`` tokens, both ends
inside the context); the best span over all windows competes with the null ("no answer")
score, the smallest ``start[CLS] + end[CLS]`` over the windows, and loses when the null score
exceeds it by more than ``null_threshold``.

Scoring implements the published SQuAD 2.0 evaluation rules (Rajpurkar, Jia & Liang, ACL
2018): answers are normalised (lower case, punctuation removed, the articles a/an/the removed,
whitespace collapsed); exact match and the F1 of the bags of normalised tokens are taken as the
maximum over the gold answers; an unanswerable question's only gold answer is the empty string,
which scores 1 only against an empty prediction. Scores are percentages over all questions and
over the answerable (``HasAns_``) and unanswerable (``NoAns_``) subsets, the latter two present
only when the subset is non-empty.
"""

from __future__ import annotations

import re
import string
import warnings
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from distill.data import Features

__all__ = ["compute_exact", "compute_f1", "normalize_answer", "postprocess", "score"]

_PUNCT = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


# --------------------------------------------------------------------------- post-processing


def postprocess(
    examples: Sequence[dict],
    features: Features,
    start_logits: Sequence[np.ndarray],
    end_logits: Sequence[np.ndarray],
    *,
    n_best: int = 20,
    max_answer_length: int = 30,
    null_threshold: float = 0.0,
) -> dict[str, str]:
    """Answer text per example id ("" for no answer).

    ``start_logits[i]`` and ``end_logits[i]`` are the (L_i,) logits of feature ``i``, unpadded
    or padded (positions past ``len(features.input_ids[i])`` are ignored). Examples without any
    feature get "".
    """
    if len(start_logits) != len(features) or len(end_logits) != len(features):
        raise ValueError(f"start_logits/end_logits hold {len(start_logits)}/{len(end_logits)} "
                         f"rows for {len(features)} features")
    if n_best < 1 or max_answer_length < 1:
        raise ValueError(f"n_best={n_best} and max_answer_length={max_answer_length} must be >= 1")
    by_example: dict[int, list[int]] = defaultdict(list)
    for i, ex in enumerate(features.example_index):
        by_example[ex].append(i)
    preds: dict[str, str] = {}
    for e, ex in enumerate(examples):
        null_score = np.inf
        best = -np.inf
        best_span: tuple[int, int] | None = None
        for i in by_example.get(e, ()):
            n = len(features.input_ids[i])
            s_log = np.asarray(start_logits[i], dtype=np.float64)[:n]
            e_log = np.asarray(end_logits[i], dtype=np.float64)[:n]
            if len(s_log) < n or len(e_log) < n:
                raise ValueError(f"logits of feature {i} are shorter than its {n} tokens")
            null_score = min(null_score, s_log[0] + e_log[0])
            offs = features.offsets[i]
            mask = getattr(offs, "context_mask", None)
            in_ctx = (np.asarray(mask, dtype=bool) if mask is not None
                      else np.array([o is not None for o in offs], dtype=bool))
            k = min(n_best, n)
            # stable order: ties resolve to the earlier position, reproducibly
            top_s = np.argsort(-s_log, kind="stable")[:k]
            top_e = np.argsort(-e_log, kind="stable")[:k]
            length = top_e[None, :] - top_s[:, None] + 1
            ok = ((length >= 1) & (length <= max_answer_length)
                  & in_ctx[top_s][:, None] & in_ctx[top_e][None, :])
            if not ok.any():
                continue
            cand = np.where(ok, s_log[top_s][:, None] + e_log[top_e][None, :], -np.inf)
            a, b = np.unravel_index(int(np.argmax(cand)), cand.shape)
            if cand[a, b] > best:
                best = float(cand[a, b])
                o0, o1 = offs[top_s[a]], offs[top_e[b]]
                best_span = (o0[0], o1[1])  # type: ignore[index]
        if best_span is None or null_score - best > null_threshold:
            preds[ex["id"]] = ""
        else:
            preds[ex["id"]] = ex["context"][best_span[0]:best_span[1]]
    return preds


# --------------------------------------------------------------------------- scoring


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation, drop articles a/an/the, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def compute_exact(gold: str, pred: str) -> int:
    """1 if the normalised strings are equal, else 0."""
    return int(normalize_answer(gold) == normalize_answer(pred))


def compute_f1(gold: str, pred: str) -> float:
    """F1 of the multisets of normalised tokens; 1/0 by equality when either side is empty."""
    g = normalize_answer(gold).split()
    p = normalize_answer(pred).split()
    if not g or not p:
        return float(g == p)
    common = sum((Counter(g) & Counter(p)).values())
    if common == 0:
        return 0.0
    precision = common / len(p)
    recall = common / len(g)
    return 2 * precision * recall / (precision + recall)


def score(examples: Sequence[dict], predictions: dict[str, str]) -> dict[str, float]:
    """Official SQuAD 2.0 metrics of ``predictions`` (id -> text, "" = no answer).

    Returns ``exact``, ``f1`` (percent) and ``total``, plus ``HasAns_exact/f1/total`` when some
    question is answerable and ``NoAns_exact/f1/total`` when some is not. A question without a
    prediction scores 0 in both metrics and a warning names how many are missing (the reference
    script skips such questions in its overall total and then fails on the subsets).
    """
    if not examples:
        raise ValueError("score: no examples")
    exact: list[float] = []
    f1: list[float] = []
    has_ans: list[bool] = []
    missing = 0
    for ex in examples:
        # the HasAns/NoAns split follows the raw answer list; gold texts that normalise to
        # nothing are dropped, and with none left the only gold answer is ""
        has_ans.append(bool(ex["answers"]["text"]))
        golds = [t for t in ex["answers"]["text"] if normalize_answer(t)]
        if ex["id"] not in predictions:
            missing += 1
            exact.append(0.0)
            f1.append(0.0)
            continue
        pred = predictions[ex["id"]]
        if not isinstance(pred, str):
            raise ValueError(f"prediction for {ex['id']!r} is {type(pred).__name__}, not str")
        golds = golds or [""]
        exact.append(float(max(compute_exact(g, pred) for g in golds)))
        f1.append(max(compute_f1(g, pred) for g in golds))
    if missing:
        warnings.warn(f"{missing} of {len(examples)} questions have no prediction; "
                      "scored as wrong", stacklevel=2)
    out: dict[str, float] = {
        "exact": 100.0 * sum(exact) / len(exact),
        "f1": 100.0 * sum(f1) / len(f1),
        "total": len(exact),
    }
    for prefix, want in (("HasAns", True), ("NoAns", False)):
        sel = [k for k, h in enumerate(has_ans) if h is want]
        if sel:
            out[f"{prefix}_exact"] = 100.0 * sum(exact[k] for k in sel) / len(sel)
            out[f"{prefix}_f1"] = 100.0 * sum(f1[k] for k in sel) / len(sel)
            out[f"{prefix}_total"] = len(sel)
    return out
