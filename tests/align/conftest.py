"""Session-wide tiny models for the alignment tests."""

import copy

import pytest

from tests.align.helpers import build_model


@pytest.fixture(scope="session")
def tiny_models():
    return {k: build_model(k) for k in ("neox", "gpt2", "llama")}


@pytest.fixture(scope="session")
def tiny_models64(tiny_models):
    return {k: copy.deepcopy(m).double() for k, m in tiny_models.items()}
