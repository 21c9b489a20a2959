import json

import pytest

from paramem.paraphrase.cleaning import OUTPUT_LABELS, clean
from paramem.paraphrase.templates import PLACEHOLDER, Template, TemplateError, list_families, load_templates


def test_shipped_families():
    fams = list_families()
    assert {"near_duplicate", "syntactic", "compact"} <= set(fams)
    for fam in ("near_duplicate", "syntactic"):
        ts = load_templates(fam)
        assert len(ts) >= 5
        assert len({t.name for t in ts}) == len(ts)
        assert all(t.text.count(PLACEHOLDER) == 1 and t.family == fam for t in ts)
        assert ts[0].examples, "shipped families carry few-shot examples"
    assert len(load_templates("compact")) >= 3


@pytest.mark.parametrize("family", ["near_duplicate", "syntactic", "compact"])
def test_templates_end_with_a_label_that_cleaning_strips(family):
    for t in load_templates(family):
        last = t.text.rstrip().splitlines()[-1]
        assert last.endswith(":")
        assert last[:-1].strip().lower() in OUTPUT_LABELS, (t.name, last)
        # An echo of the prompt's tail must clean back to the rewrite.
        echo = t.render("the cat sat on the mat .").splitlines()[-2:]
        assert clean("\n".join(echo) + " a cat sat on a mat .", "the cat sat on the mat .") == "a cat sat on a mat ."


def test_select_by_name_keeps_order_and_rejects_unknown():
    ts = load_templates("near_duplicate", names=["nd_task_rules", "nd_synonym_swap"])
    assert [t.name for t in ts] == ["nd_task_rules", "nd_synonym_swap"]
    with pytest.raises(TemplateError, match="nope"):
        load_templates("near_duplicate", names=["nope"])
    with pytest.raises(TemplateError, match="neither a shipped template family"):
        load_templates("no_such_family")


def test_render_braces_and_placeholder_in_text_are_literal():
    t = Template("t", "Original: {text}\nNear-duplicate:")
    tricky = "def f(x): return {'a': x} {text} {0} }{"
    assert t.render(tricky) == f"Original: {tricky}\nNear-duplicate:"


def test_render_few_shot():
    t = load_templates("near_duplicate", names=["nd_synonym_swap"])[0]
    plain = t.render("X y z.")
    one = t.render("X y z.", few_shot=1)
    both = t.render("X y z.", few_shot=True)
    orig, rew = t.examples[0]
    head = plain.split("Original:")[0]
    # Instructions once, then example blocks in the template's own label format.
    assert one == head + f"Original: {orig}\nNear-duplicate: {rew}\n\n" + plain[len(head):]
    assert both.count("Original:") == 1 + len(t.examples)
    assert both.count(head) == 1 and t.render("X y z.", few_shot=0) == plain
    with pytest.raises(ValueError, match="few-shot examples"):
        t.render("x", few_shot=len(t.examples) + 1)


def test_user_files(tmp_path):
    y = tmp_path / "mine.yaml"
    y.write_text('templates:\n  - name: a\n    text: "A: {text}\\nB:"\n  - "C: {text}\\nD:"\n')
    ts = load_templates(str(y))
    assert [t.name for t in ts] == ["a", "mine_1"] and ts[1].render("q") == "C: q\nD:"

    j = tmp_path / "mine.json"
    j.write_text(json.dumps({"family": "fam", "few_shot": [{"original": "o", "rewrite": "r"}],
                             "templates": [{"name": "x", "text": "In: {text}\nOut:"}]}))
    (t,) = load_templates(j)
    assert t.family == "fam" and t.render("q", few_shot=True) == "In: o\nOut: r\n\nIn: q\nOut:"

    txt = tmp_path / "plain.txt"
    txt.write_text("First: {text}\nRewritten:\n---\nSecond {text}\nOutput:\n")
    ts = load_templates(str(txt))
    assert [t.name for t in ts] == ["plain_0", "plain_1"] and ts[0].text == "First: {text}\nRewritten:"


@pytest.mark.parametrize(
    "content, suffix, message",
    [
        ("templates:\n  - name: bad\n    text: 'no placeholder'\n", ".yaml", r"bad\.yaml: template 'bad'.*found 0"),
        ("templates:\n  - name: two\n    text: '{text} {text}'\n", ".yaml", r"template 'two'.*found 2"),
        ("A {text}\n---\nB without\n", ".txt", r"template 'bad_1'.*found 0"),
        ("templates: [{name: d, text: '{text}'}, {name: d, text: '{text}'}]", ".yaml", "duplicate template name 'd'"),
        ("{not json", ".json", "cannot parse"),
        ("just a string", ".yaml", "expected a list of templates"),
        ("x", ".csv", "unsupported template file type"),
    ],
)
def test_user_file_errors_name_file_and_template(tmp_path, content, suffix, message):
    path = tmp_path / f"bad{suffix}"
    path.write_text(content)
    with pytest.raises(TemplateError, match=message) as err:
        load_templates(str(path))
    assert str(path) in str(err.value)
