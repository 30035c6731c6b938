"""Ask a kept student a question: ``python -m distill.answer --model FOLDER --context TEXT
--question TEXT``.

The context is cut into the same overlapping windows as in training and evaluation
(``distill.data.build_features``, with the student's own ``max_seq_length`` and
``doc_stride`` from its ``distill_config.json`` when present) and the answer is chosen by
the evaluation's post-processing (``distill.squad.postprocess``, after the official
SQuAD 2.0 recipe of Rajpurkar et al., 2018): the best-scoring span of at most 30 tokens
inside the context, or no answer when the null score wins. Prints the answer, or
``(no answer)``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from distill.config import DistillConfig
from distill.data import build_features
from distill.squad import postprocess
from distill.students import CONFIG_FILE, load_student
from distill.train import predict

__all__ = ["NO_ANSWER", "answer", "main"]

NO_ANSWER = "(no answer)"


def answer(
    model: Any,
    tokenizer: Any,
    question: str,
    context: str,
    *,
    max_seq_length: int = 384,
    doc_stride: int = 128,
    device: str | None = "cpu",
) -> str:
    """The answer text ``model`` finds in ``context``; ``""`` when it finds none."""
    if not question.strip():
        raise ValueError("question: empty")
    if not context.strip():
        raise ValueError("context: empty")
    example = {"id": "q", "title": "", "question": question, "context": context,
               "answers": {"text": [], "answer_start": []}}
    features = build_features([example], tokenizer, max_length=max_seq_length,
                              doc_stride=doc_stride)
    starts, ends, _ = predict(model, features, batch_size=8,
                              pad_id=int(tokenizer.pad_token_id), device=device)
    return postprocess([example], features, starts, ends)["q"]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m distill.answer", description=__doc__.split(
        "\n\n")[0].replace("\n", " "))
    p.add_argument("--model", required=True, metavar="FOLDER",
                   help="a kept student (students_dir/trial-N) or a saved QA model folder")
    p.add_argument("--context", required=True, help="the passage to read")
    p.add_argument("--question", required=True, help="the question to answer")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    args = p.parse_args(argv)
    folder = Path(args.model).expanduser()
    try:
        model, tokenizer = load_student(folder)
        windows: dict[str, int] = {}
        if (folder / CONFIG_FILE).is_file():
            config = DistillConfig.load(folder / CONFIG_FILE)
            windows = {"max_seq_length": config.max_seq_length,
                       "doc_stride": config.doc_stride}
        text = answer(model, tokenizer, args.question, args.context, device=args.device,
                      **windows)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(text if text else NO_ANSWER)
    return 0


if __name__ == "__main__":
    sys.exit(main())
