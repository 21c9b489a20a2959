"""Instruction-tuned paraphrasers: prompts go through the tokenizer's chat template."""

import pytest
import torch

from paramem.paraphrase.cleaning import clean
from paramem.paraphrase.module import ParaphraseGenerator
from tests.paraphrase.tiny_paraphraser import tiny_model, tiny_tokenizer

# Words of the tiny vocabulary only, so the chat markup tokenizes to real ids.
CHAT_TEMPLATE = ("{% for m in messages %}input : {{ m['content'] }} .{% endfor %}"
                 "{% if add_generation_prompt %} output :{% endif %}")
SAMPLES = [{"uid": "a", "label": 1, "text": "the old bridge was closed for repairs last spring ."},
           {"uid": "b", "label": 0, "text": "the red bus was late ."}]


def _save(path, chat: bool):
    tok = tiny_tokenizer()
    if chat:
        tok.chat_template = CHAT_TEMPLATE
    tiny_model(len(tok), tok.eos_token_id, eos_boost=2.0).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def chat_dir(tmp_path_factory):
    return _save(tmp_path_factory.mktemp("chat_model"), chat=True)


def _stage(path, chat_template="auto"):
    stage = ParaphraseGenerator(model=str(path), decoding={"mode": "greedy_Nprompts"},
                                prompt={"templates": "compact", "chat_template": chat_template},
                                gate={"semantic_similarity": False, "min_semantic_similarity": None})
    stage.setup("predict")
    return stage


def test_prompts_go_through_the_chat_template(chat_dir, monkeypatch):
    stage = _stage(chat_dir)
    assert stage.tokenizer.chat_template == CHAT_TEMPLATE  # carried by the saved tokenizer
    seen = []
    generate = stage._generate
    monkeypatch.setattr(stage, "_generate", lambda prompts, *a: seen.extend(prompts) or generate(prompts, *a))
    with torch.no_grad():
        records = stage.process(SAMPLES)
    template = stage.templates[0]
    user = template.render(SAMPLES[0]["text"])
    assert seen[0] == f"input : {user} . output :"  # the template text is the user message
    assert len(seen) == 3 * len(SAMPLES) and all(s.endswith(" output :") for s in seen)
    assert [len(r["paraphrases"]) for r in records] == [3, 3]
    assert records[0]["settings"]["chat_template"] == "auto"
    # The overhead that bounds the original's length counts the chat markup too.
    plain = len(stage.tokenizer(template.render(""), add_special_tokens=False)["input_ids"])
    assert stage._overhead(template) == plain + 5  # "input :", ".", "output :"


def test_chat_template_off_and_required(chat_dir, tmp_path):
    off = _stage(chat_dir, chat_template=False)
    assert off._prompt(off.templates[0], "the cat") == off.templates[0].render("the cat")
    plain = _stage(_save(tmp_path / "plain", chat=False))
    assert plain._prompt(plain.templates[0], "the cat") == plain.templates[0].render("the cat")  # auto: none
    forced = _stage(tmp_path / "plain", chat_template=True)
    with pytest.raises(ValueError, match="has no chat template"):
        forced._prompt(forced.templates[0], "the cat")
    with pytest.raises(ValueError, match=r"prompt\.chat_template is 'sometimes': it must be one of auto, true"):
        ParaphraseGenerator(prompt={"chat_template": "sometimes"})


@pytest.mark.parametrize("answer", [
    "Sure! Here is a near-duplicate of the text:\n\nThe old bridge was shut for repairs last spring.\n\n"
    "Let me know if you need another version.",
    "**Rewritten:** \"The old bridge was shut for repairs last spring.\"",
    "<think>Swap one word.</think>\nThe old bridge was shut for repairs last spring.",
    "Certainly.\n> The old bridge was shut for repairs last spring.",
    "Here's the rewritten text:\n**The old bridge was shut for repairs last spring.**",
])
def test_cleaning_handles_chat_answers(answer):
    assert clean(answer, "The old bridge was closed for repairs last spring.") == (
        "The old bridge was shut for repairs last spring.")


def test_cleaning_keeps_a_sentence_that_only_looks_like_a_courtesy():
    assert clean("Here is the river, past the town.") == "Here is the river, past the town."
