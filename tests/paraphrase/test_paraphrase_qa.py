"""QA data like with like: one field is paraphrased, the text reassembled, and each
paraphrase's own loss_start_char reaches alignment, so both gradients cover the answer."""

import json

import pytest
import torch
import torch.nn.functional as F

from paramem.align.module import GradientAligner
from paramem.data.local import LocalFileSource
from paramem.io import InputError
from paramem.paraphrase.fields import split_field
from paramem.paraphrase.module import ParaphraseGenerator
from tests.paraphrase.tiny_paraphraser import tiny_model, tiny_tokenizer

PREFIX = "input : the cat sat on the mat . output : "
ANSWER = "the old bridge was closed for repairs last spring ."
QA = {"uid": "q1", "label": 1, "domain": "tofu", "text": PREFIX + ANSWER, "loss_start_char": len(PREFIX),
      "question": "the cat sat on the mat ."}


def test_split_and_join_per_field():
    answer = split_field(QA, None)  # auto = answer for QA samples
    assert (answer.field, answer.body) == ("answer", ANSWER)
    text, start = answer.join("the old bridge was shut for repairs last spring .")
    assert text == PREFIX + "the old bridge was shut for repairs last spring ." and start == len(PREFIX)
    question = split_field(QA, "question")
    assert question.body == QA["question"]
    text, start = question.join("a cat sat on the mat .")
    assert text == "input : a cat sat on the mat . output : " + ANSWER
    assert text[start:] == ANSWER  # the answer offset moved with the shorter question
    plain = split_field({"uid": "p", "text": "a red bus was late ."}, None)
    assert (plain.field, plain.join("a red bus was late .")) == ("text", ("a red bus was late .", None))
    with pytest.raises(InputError, match="paraphrase_field 'text'"):
        split_field(QA, "text")
    with pytest.raises(InputError, match="needs QA samples"):
        split_field({"uid": "p", "text": "x"}, "answer")
    with pytest.raises(InputError, match="'question' field"):
        split_field({**QA, "question": "not in the text"}, "question")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    torch.manual_seed(0)
    tok = tiny_tokenizer()
    path = tmp_path_factory.mktemp("qa_model")
    tiny_model(len(tok), tok.eos_token_id).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _paraphrase_record(tiny_dir, field, rewrites, monkeypatch):
    stage = ParaphraseGenerator(model=str(tiny_dir), prompt={"templates": "compact", "field": field},
                                gate={"semantic_similarity": False, "min_semantic_similarity": None})
    stage.setup("predict")
    monkeypatch.setattr(stage, "_generate", lambda prompts, keys, n, req, originals, round_: [list(rewrites) for _ in prompts])
    return stage.process([QA])[0]


def test_stage_rewrites_only_the_answer(tiny_dir, monkeypatch):
    rec = _paraphrase_record(tiny_dir, None, ["the old bridge was shut for repairs last spring .",
                                              "input : a dog sat . output : the old bridge was shut .",
                                              "the old bridge was shut for repairs last spring ."], monkeypatch)
    assert rec["field"] == "answer" and rec["loss_start_char"] == len(PREFIX)
    first, second, third = rec["paraphrases"]
    assert first["valid"] and first["text"] == PREFIX + "the old bridge was shut for repairs last spring ."
    assert first["loss_start_char"] == len(PREFIX)
    assert first["text"][first["loss_start_char"]:] == "the old bridge was shut for repairs last spring ."
    assert third["reason"] == "duplicate"
    assert second["text"].startswith(PREFIX)  # whatever comes back is the answer, never a new question


def test_qa_alignment_matches_answer_only_autograd(tiny_dir, monkeypatch, tmp_path):
    rec = _paraphrase_record(tiny_dir, "question", ["a cat sat on the rug .", "the cat sat on the red rug .",
                                                    "a cat sat on a mat ."], monkeypatch)
    assert all(p["valid"] for p in rec["paraphrases"]), rec["paraphrases"]
    path = tmp_path / "paraphrases.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    (sample,) = LocalFileSource(str(path)).load()
    assert sample["paraphrase_loss_starts"] == [p["loss_start_char"] for p in rec["paraphrases"]]

    aligner = GradientAligner(model=str(tiny_dir), dtype="float32", scope="head")
    aligner.setup("predict")
    model, tok = aligner.lm, aligner.tokenizer
    (out,) = aligner.process([sample])

    def answer_only_grad(text, start):
        # Independent of encode()'s offset rule: the word-level tokenizer splits on
        # whitespace, so the prompt's tokens are exactly those of text[:start].
        prompt_ids = tok(text[:start], add_special_tokens=False)["input_ids"]
        ids = torch.tensor(prompt_ids + tok(text[start:], add_special_tokens=False)["input_ids"])
        labels = ids.clone()
        labels[:len(prompt_ids)] = -100
        head = model.get_output_embeddings()
        w = head.weight.detach().clone().requires_grad_(True)
        handle = head.register_forward_hook(lambda m, i, o: F.linear(i[0], w, m.bias))
        try:
            logits = model(input_ids=ids[None]).logits[0]  # (T, V)
        finally:
            handle.remove()
        loss = F.cross_entropy(logits[:-1], labels[1:], ignore_index=-100)
        return torch.autograd.grad(loss, [w])[0].reshape(-1)

    g0 = answer_only_grad(rec["text"], rec["loss_start_char"])
    cosines = [F.cosine_similarity(g0, answer_only_grad(p["text"], p["loss_start_char"]), dim=0).item()
               for p in rec["paraphrases"]]
    assert out["cosines"] == pytest.approx(cosines, rel=1e-4, abs=1e-5)
    # The check can fail: whole-text paraphrase losses (the old behaviour) give other cosines.
    whole = [F.cosine_similarity(g0, answer_only_grad(p["text"], 0), dim=0).item() for p in rec["paraphrases"]]
    assert max(abs(a - b) for a, b in zip(whole, cosines)) > 1e-3


def test_neighbor_rows_take_each_paraphrase_loss_on_its_answer(tiny_dir, monkeypatch, tmp_path):
    from paramem.score.module import BaselineScorer

    rec = _paraphrase_record(tiny_dir, "question", ["a cat sat on the rug .", "the cat sat on the red rug .",
                                                    "a cat sat on a mat ."], monkeypatch)
    path = tmp_path / "paraphrases.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    (sample,) = LocalFileSource(str(path)).load()
    scorer = BaselineScorer(model=str(tiny_dir), dtype="float32", methods=["loss", "neighbor"])
    scorer.setup("predict")
    rows, slots = scorer._plan_rows([sample])
    n_answer = len(scorer.tokenizer(ANSWER, add_special_tokens=False)["input_ids"])
    assert sum(rows[slots[0]["original"]].targets) == n_answer
    # Each paraphrase's question has another length; its loss still covers exactly the answer.
    assert [sum(rows[j].targets) for j in slots[0]["neighbors"]] == [n_answer] * 3
