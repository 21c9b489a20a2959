"""Session-wide tiny models for the alignment tests."""

import copy

import pytest
import torch

from tests.align.helpers import build_model


@pytest.fixture(scope="session")
def tiny_models():
    return {k: build_model(k) for k in ("neox", "gpt2", "llama")}


@pytest.fixture(scope="session")
def tiny_models64(tiny_models):
    return {k: copy.deepcopy(m).double() for k, m in tiny_models.items()}


@pytest.fixture(autouse=True)
def _one_thread():
    """These models are tiny: a second intra-op thread buys nothing, and on a shared host
    OpenMP spin-waiting made the same tests 20x slower when the cores were oversubscribed."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
