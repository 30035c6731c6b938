"""The 2020 study's command on real-format data, end to end, with tiny models.

``python -m mobo.run`` runs the distillation task on official-format SQuAD 2.0 files with a
fine-tuned QA teacher and a general encoder whose shapes differ from MiniLM-L6's in every
dimension (width, heads, depth), one in the BERT layout and one in the DistilBERT layout,
given as folders or as a hub name found offline in a local Hugging Face cache. Checked:
the run ends with status 0, no trial fails for a shape reason, every completed trial's
``num_parameters`` is the size of the student the task builds for it, exactly the front's
students are kept, and ``python -m distill.answer`` answers with one of them.

The models carry random weights and a vocabulary of the few words the data uses, so each
run takes seconds; what is tested is the wiring, not what the students learn.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece
from transformers import (
    BertConfig,
    BertForQuestionAnswering,
    BertTokenizerFast,
    DistilBertConfig,
    DistilBertForQuestionAnswering,
)

import distill
from distill.answer import NO_ANSWER
from distill.answer import main as answer_main
from distill.models import build_student, load_encoder, load_teacher
from distill.students import STAGING
from distill.task import ENTRY
from mobo.run import build_parser
from mobo.run import main as run_main
from mobo.study import Study

ROOT = Path(__file__).resolve().parents[2]

# words no failure message about a student's structure can avoid
_SHAPE_WORDS = re.compile(r"head|shape|size|num_parameters|dimension", re.IGNORECASE)

# Training questions: answerable ones, unanswerable ones with a plausible answer.
_TRAIN = [
    ("The harbour of Velmora was rebuilt in 1887 by the engineer Tamsin Ardo.",
     [("Who rebuilt the harbour of Velmora?", "Tamsin Ardo"),
      ("When was the harbour rebuilt?", "1887"),
      ("Who rebuilt the bridge of Velmora?", None)]),
    ("Lake Orvin freezes every winter and the town of Pell holds a fair on the ice.",
     [("What freezes every winter?", "Lake Orvin"),
      ("Which town holds a fair on the ice?", "Pell"),
      ("When does Lake Orvin thaw?", None)]),
    ("The painter Ilse Marrow lived in Pell and painted the harbour of Velmora.",
     [("Who lived in Pell?", "Ilse Marrow"),
      ("What did Ilse Marrow paint?", "the harbour of Velmora"),
      ("Where was Ilse Marrow born?", None)]),
]
# Dev questions whose context is one word, the answer: a student that does not predict
# "no answer" gets them right, so some trials beat the always-no-answer threshold (1 in 7)
# and the front is not empty whatever the random weights.
_DEV = [(word, [(f"What is the word {i}?", word)])
        for i, word in enumerate(["velmora", "pell", "orvin", "ardo", "marrow", "harbour"])]
_DEV.append(("Velmora", [("Who painted Pell?", None)]))

CONTEXT = _TRAIN[0][0]
QUESTION = "Who rebuilt the harbour of Velmora?"


def _squad_json(paragraphs: list[tuple[str, list[tuple[str, str | None]]]],
                prefix: str) -> dict:
    """Official SQuAD 2.0 layout: data[].title, paragraphs[].context, qas[]."""
    out = []
    for p, (context, questions) in enumerate(paragraphs):
        qas = []
        for q, (question, answer) in enumerate(questions):
            qa: dict = {"id": f"{prefix}-{p}-{q}", "question": question}
            if answer is None:
                # unanswerable: the span is listed as a plausible answer only
                word = context.split()[-1].rstrip(".")
                qa.update(is_impossible=True, answers=[], plausible_answers=[
                    {"text": word, "answer_start": context.rindex(word)}])
            else:
                qa.update(is_impossible=False, answers=[
                    {"text": answer, "answer_start": context.index(answer)}])
            qas.append(qa)
        out.append({"context": context, "qas": qas})
    return {"version": "v2.0", "data": [{"title": f"{prefix} article", "paragraphs": out}]}


def _vocabulary() -> list[str]:
    """Special tokens, every word and punctuation mark of the data, and single letters and
    digits (with their ``##`` forms) so that any word can be cut into pieces."""
    texts = [c for c, _ in _TRAIN + _DEV] + [q for _, qs in _TRAIN + _DEV for q, _ in qs]
    words = sorted({w for t in texts for w in re.findall(r"\w+|[^\w\s]", t.lower())})
    chars = [*"abcdefghijklmnopqrstuvwxyz0123456789"]
    pieces = [*chars, *(f"##{c}" for c in chars)]
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
            *dict.fromkeys([*words, *pieces, "?", ".", ","])]


def _tokenizer(vocab: list[str]) -> BertTokenizerFast:
    """A BERT uncased WordPiece tokenizer over ``vocab``, built from its parts (a bare
    ``vocab.txt`` is not read the same way by every transformers release)."""
    ids = {w: i for i, w in enumerate(vocab)}
    core = Tokenizer(WordPiece(ids, unk_token="[UNK]"))
    core.normalizer = normalizers.BertNormalizer(lowercase=True)
    core.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    core.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])])
    return BertTokenizerFast(tokenizer_object=core, unk_token="[UNK]", sep_token="[SEP]",
                             pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]")


@dataclass(frozen=True)
class Sources:
    data: Path  # train-v2.0.json and dev-v2.0.json
    bert_teacher: Path  # BertForQuestionAnswering, hidden 64, 4 heads, 2 layers
    distil: Path  # DistilBertForQuestionAnswering, dim 48, 2 heads, 3 layers
    vocab_size: int


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Sources:
    root = tmp_path_factory.mktemp("real")
    data = root / "squad"
    data.mkdir()
    (data / "train-v2.0.json").write_text(json.dumps(_squad_json(_TRAIN, "train")))
    (data / "dev-v2.0.json").write_text(json.dumps(_squad_json(_DEV, "dev")))
    vocab = _vocabulary()
    tokenizer = _tokenizer(vocab)
    assert len(tokenizer) == len(vocab)
    torch.manual_seed(0)
    # shapes unlike MiniLM-L6's (384 wide, 12 heads, 6 layers) and unlike each other
    teacher = BertForQuestionAnswering(BertConfig(
        vocab_size=len(vocab), hidden_size=64, num_attention_heads=4, num_hidden_layers=2,
        intermediate_size=96, max_position_embeddings=128))
    distil = DistilBertForQuestionAnswering(DistilBertConfig(
        vocab_size=len(vocab), dim=48, n_heads=2, n_layers=3, hidden_dim=80,
        max_position_embeddings=128))
    for model, name in ((teacher, "bert-teacher"), (distil, "distilbert")):
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(str(root / name))
    return Sources(data, root / "bert-teacher", root / "distilbert", len(vocab))


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The task's cache (teacher logits, trial folders) in the test's own folder."""
    monkeypatch.setenv("MOBO_CACHE", str(tmp_path / "mobo-cache"))
    yield tmp_path / "mobo-cache"


def _argv(sources: Sources, storage: Path, teacher: str, encoder: Path | None) -> list[str]:
    argv = ["--data", str(sources.data), "--teacher", teacher, "--budget", "4",
            "--n-initial", "3", "--storage", str(storage), "--train-examples", "8",
            "--epochs", "1", "--max-seq-length", "96", "--doc-stride", "16", "--seed", "0",
            "--device", "cpu"]
    return argv + (["--encoder", str(encoder)] if encoder is not None else [])


def _check_run(argv: list[str], storage: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """What every run must show: trials, sizes, kept students, and an answer."""
    study = Study.read(storage)
    assert len(study.trials) == 4
    assert [t.source for t in study.trials].count("sobol") == 3  # then a model proposal
    for t in study.trials:
        assert t.status == "completed" or not _SHAPE_WORDS.search(t.error or ""), t.error
    completed = [t for t in study.trials if t.status == "completed"]
    assert completed

    # num_parameters is the size of the student the task's own build makes for the trial
    task = ENTRY.build(build_parser().parse_args(argv), 0)
    teacher = load_teacher(task.fn.teacher)
    encoder = load_encoder(task.fn.encoder) if task.fn.encoder else teacher.bert
    for t in completed:
        student = build_student(task.fn.config_for(t.params), teacher=teacher, encoder=encoder)
        assert t.values["num_parameters"] == sum(p.numel() for p in student.parameters())

    # exactly the front's students are kept, each one the trial's own
    students = storage.with_suffix(".students")
    front = study.pareto_front()
    assert front, "no trial beat the always-no-answer threshold"
    kept = {p.name for p in students.iterdir()} - {STAGING}
    assert kept == {f"trial-{t.number}" for t in front}
    assert list((students / STAGING).iterdir()) == []
    for t in front:
        model, tokenizer = distill.load_student(students / f"trial-{t.number}")
        assert sum(p.numel() for p in model.parameters()) == t.values["num_parameters"]
        assert len(tokenizer) == model.config.vocab_size

    capsys.readouterr()
    folder = students / f"trial-{front[0].number}"
    assert answer_main(["--model", str(folder), "--context", CONTEXT,
                        "--question", QUESTION]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == NO_ANSWER or printed.lower() in CONTEXT.lower()


def test_bert_teacher_and_distilbert_encoder_from_folders(
        sources: Sources, cache: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    storage = tmp_path / "squad.jsonl"
    argv = _argv(sources, storage, str(sources.bert_teacher), sources.distil)
    out = io.StringIO()
    assert run_main(argv, out=out) == 0
    text = out.getvalue()
    # the space is cut to the fewer heads of the two (2, the encoder's)
    assert re.search(r"n_heads +int +\[1, 2\]", text)
    _check_run(argv, storage, capsys)


def test_default_encoder_is_the_teachers_own(
        sources: Sources, cache: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    storage = tmp_path / "squad.jsonl"
    argv = _argv(sources, storage, str(sources.bert_teacher), None)
    assert run_main(argv, out=io.StringIO()) == 0
    _check_run(argv, storage, capsys)


def test_teacher_by_hub_name_from_a_local_cache_offline(
        sources: Sources, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # the hub cache layout: models--org--name/snapshots/<commit>/ and refs/main
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--acme--tiny-distilbert-squad2"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for f in sources.distil.iterdir():
        (snapshot / f.name).write_bytes(f.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1",
           "MOBO_CACHE": str(tmp_path / "mobo-cache")}
    storage = tmp_path / "squad.jsonl"
    # the DistilBERT teacher by name, the students' encoder its own
    argv = _argv(sources, storage, "acme/tiny-distilbert-squad2", None)
    run = subprocess.run([sys.executable, "-m", "mobo.run", *argv], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"acme/tiny-distilbert-squad2 ({snapshot})" in run.stdout
    for name, value in env.items():
        if name.startswith(("HF_", "MOBO_")):
            monkeypatch.setenv(name, value)
    _check_run(argv, storage, capsys)
