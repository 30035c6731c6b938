"""Fixtures shared by the distill tests: the MiniLM tokenizer and a small synthetic corpus."""

from __future__ import annotations

import pytest

from distill.data import load_tokenizer
from distill.synthetic import synthetic_squad


@pytest.fixture(scope="session")
def tok():
    return load_tokenizer()


@pytest.fixture(scope="session")
def synth():
    return synthetic_squad(seed=3, n_train=400, n_dev=150)
