"""Instruct paraphrasing: chat few-shot turns, the copy reasons, the real-text gate, re-asking."""

import pytest
import torch
import yaml

from paramem.io import InputError
from paramem.paraphrase.gate import REASONS, validate, word_similarity
from paramem.paraphrase.module import ParaphraseGenerator
from paramem.paraphrase.templates import Template, load_templates
from tests.paraphrase.tiny_paraphraser import tiny_model, tiny_tokenizer

CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} .{% endfor %}"
                 "{% if add_generation_prompt %} output :{% endif %}")
SAMPLES = [{"uid": "a", "label": 1, "text": "the old bridge was closed for repairs last spring ."},
           {"uid": "b", "label": 0, "text": "the red bus was late for the hour ."}]


def test_few_shot_examples_are_chat_turns_after_the_system_message():
    template = load_templates("instruct")[0]
    assert template.system and len(template.examples) == 2
    chat = template.messages("Some text.", few_shot=True)
    assert [m["role"] for m in chat] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert chat[0]["content"] == template.system
    for (original, rewrite), user, answer in zip(template.examples, chat[1::2], chat[2::2]):
        assert user["content"] == Template(template.name, template.text).render(original)
        assert answer["content"] == rewrite  # the rewrite alone: no label, no instructions
    assert chat[-1]["content"].endswith("Some text.") and template.system not in chat[-1]["content"]
    assert [m["role"] for m in template.messages("x", few_shot=1)] == ["system", "user", "assistant", "user"]
    assert [m["role"] for m in Template("t", "Say {text}").messages("x", few_shot=False)] == ["user"]
    # Without a chat template the system message opens the one prompt text.
    assert template.render("Some text.").startswith(template.system + "\n\n")


def test_a_system_that_is_not_text_is_one_error(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump({"system": ["a"], "templates": ["Say {text}"]}))
    with pytest.raises(ValueError, match="'system' must be a non-empty string"):
        load_templates(str(path))


ORIGINAL = ("The return value of a function call is the value its return statement gives, or None when "
            "the function ends without one.")
EXAMPLES = ["The museum opens at nine in the morning and closes at six in the evening.",
            "The museum opens at nine in the morning and shuts at six in the evening."]
INSTRUCTIONS = ["Rewrite the text below. Replace one or two words with synonyms and keep every other word.\n\n"]


@pytest.mark.parametrize("candidate, reason", [
    ("The museum opens at nine in the morning and shuts at six in the evening.", "copied_example"),
    ("The return value of a function call, the museum opens at nine in the morning.", "copied_example"),
    ("Rewrite the text below. Replace one or two words with synonyms: the return value of a call.",
     "copied_instruction"),
    ("The return value of a function call is the value its return statement yields, or None when "
     "the function ends without one.", "ok"),
])
def test_copies_of_the_prompt_have_reasons_of_their_own(candidate, reason):
    valid, got = validate(candidate, ORIGINAL, prompt_texts=(EXAMPLES, INSTRUCTIONS))
    assert got == reason and valid == (reason == "ok") and got in REASONS


def test_a_shared_phrase_the_original_holds_is_no_copy():
    original = "Visitors may bring small bags into the museum opens at nine in the morning hall."
    candidate = "Guests may bring small bags into the museum opens at nine in the morning hall."
    assert validate(candidate, original, prompt_texts=(EXAMPLES, ()))[1] == "ok"


# The issue's example (issue 20): another sentence that keeps a long name phrase; MiniLM
# 0.83 and InDel 0.66 let it through the gate's defaults.
KEY_ORIGINAL = ("Key characters in Jaime Vasquez's stories include the brooding detective Carlos Mendoza, "
                "whose cases blend crime fiction with elements of multiple genres.")
KEY_CANDIDATE = ("The recent research on the brooding detective Carlos Mendoza in Jaime Vasquez's stories is a "
                 "blend of multiple genres.")


def _real_gate() -> dict:
    cfg = yaml.safe_load(open("configs/paraphrase/real.yaml"))["model"]["init_args"]["gate"]
    return dict(min_words=3, min_semantic=cfg["min_semantic_similarity"], edit_range=cfg["edit_similarity_range"],
                min_word_similarity=cfg["min_word_similarity"])


def test_the_issue_example_does_not_pass_the_real_text_gate():
    from paramem.paraphrase.cleaning import edit_similarity

    assert 0.6 < edit_similarity(KEY_CANDIDATE, KEY_ORIGINAL) < 0.7  # as in the issue: the old band passed it
    assert validate(KEY_CANDIDATE, KEY_ORIGINAL, 3, 0.8, 0.83, (0.6, 0.98)) == (True, "ok")
    assert validate(KEY_CANDIDATE, KEY_ORIGINAL, similarity=0.83, **_real_gate())[0] is False
    # The word-level check alone rejects it, whatever the character band and the cosine say.
    words_only = {**_real_gate(), "edit_range": None, "min_semantic": None}
    assert validate(KEY_CANDIDATE, KEY_ORIGINAL, **words_only) == (False, "words_changed")
    swap = KEY_ORIGINAL.replace("brooding", "gloomy").replace("blend", "mix")
    assert word_similarity(swap, KEY_ORIGINAL) > 0.9
    assert validate(swap, KEY_ORIGINAL, similarity=0.95, **_real_gate()) == (True, "ok")
    assert validate(KEY_ORIGINAL.replace(",", ";"), KEY_ORIGINAL, **words_only) == (False, "too_close")


@pytest.fixture(scope="module")
def chat_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("chat_model")
    tok = tiny_tokenizer()
    tok.chat_template = CHAT_TEMPLATE
    tiny_model(len(tok), tok.eos_token_id, eos_boost=2.0).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _stage(path, **decoding):
    stage = ParaphraseGenerator(model=str(path), prompt={"templates": "compact"},
                                decoding={"mode": "nucleus_Nprompts", **decoding},
                                gate={"semantic_similarity": False, "min_semantic_similarity": None,
                                      "edit_similarity_range": None, "min_words": 1})
    stage.setup("predict")
    return stage


def test_reask_rounds_until_k_distinct_valid_and_no_further(chat_dir, monkeypatch):
    stage = _stage(chat_dir, reask_rounds=2)
    answers = {  # per (sample, round): the K texts the model gives
        ("a", 0): ["the old bridge was shut for repairs last spring ."] * 3,
        ("a", 1): ["The old bridge was SHUT for repairs last spring .", "the old bridge was closed last spring .",
                   "the old bridge was shut for repairs last spring ."],
        ("a", 2): ["the bridge was shut for repairs last spring .", "the old bridge was shut last spring .",
                   "the old bridge was closed for repairs ."],
        ("b", 0): ["the red bus was late .", "the blue bus was late for the hour .", "the red bus ran late ."],
    }
    calls = []

    def fake_generate(prompts, keys, n_orig, request, originals, rnd):
        uids = {k.split("\x1f")[0] for k in keys}
        assert all(k.endswith(f"round{rnd}") for k in keys) if rnd else "round" not in keys[0]
        calls.append((sorted(uids), rnd))
        return [[answers[(k.split("\x1f")[0], rnd)][n % 3]] for n, k in enumerate(keys)]

    monkeypatch.setattr(stage, "_generate", fake_generate)
    with torch.no_grad():
        records = {r["uid"]: r for r in stage.process(SAMPLES)}
    assert calls == [(["a", "b"], 0), (["a"], 1), (["a"], 2)]  # only the sample short of K is asked again
    a = records["a"]
    assert a["n_valid"] == 3 == len({p["text"].casefold() for p in a["paraphrases"] if p["valid"]})
    assert [p["round"] for p in a["paraphrases"]] == [0] * 3 + [1] * 3 + [2] * 3
    assert [p["reason"] for p in a["paraphrases"]] == (["ok", "duplicate", "duplicate"]
                                                       + ["duplicate", "ok", "duplicate"]
                                                       + ["ok", "surplus", "surplus"])
    assert records["b"]["n_valid"] == 3 and {p["round"] for p in records["b"]["paraphrases"]} == {0}
    assert a["settings"]["reask_rounds"] == 2


def test_reask_rounds_are_bounded_and_need_sampling(chat_dir):
    stage = _stage(chat_dir, reask_rounds=1, num_paraphrases=3)
    with torch.no_grad():
        records = stage.process(SAMPLES)
    assert all(len(r["paraphrases"]) <= 3 * 2 and r["n_valid"] <= 3 for r in records)
    with pytest.raises(InputError, match="needs a sampled mode"):
        ParaphraseGenerator(decoding={"mode": "greedy_Nprompts", "reask_rounds": 1}, prompt={"templates": "compact"})
    with pytest.raises(InputError, match=r"decoding\.reask_rounds is 11: it must be an integer in \[0, 10\]"):
        ParaphraseGenerator(decoding={"mode": "nucleus_Nprompts", "reask_rounds": 11}, prompt={"templates": "compact"})


def test_chat_prompt_holds_the_few_shot_turns(chat_dir):
    stage = ParaphraseGenerator(model=str(chat_dir), decoding={"mode": "nucleus_Nprompts"},
                                prompt={"templates": "instruct", "few_shot": True},
                                gate={"semantic_similarity": False, "min_semantic_similarity": None})
    stage.setup("predict")
    template = stage.templates[0]
    prompt = stage._prompt(template, "the cat sat .")
    assert prompt.startswith(f"system : {template.system} .user : ")
    assert f"assistant : {template.examples[0][1]} ." in prompt and prompt.endswith("the cat sat . . output :")
