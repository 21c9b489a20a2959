"""Data layer: local files, hub data sets through local copies shaped like the hub rows."""

import json
import time

import pytest

from paramem.data import LocalFileSource, MIADataModule, MimirSource, TOFUSource, WikiMIASource
from paramem.data.sample import parse_label
from paramem.io import InputError


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


ROWS = [{"text": f"sentence number {i} about things", "label": ["member", "nonmember", 1, 0, True, "false"][i % 6]}
        for i in range(12)]


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv", "parquet"])
def test_local_formats_give_same_samples(tmp_path, fmt):
    import pandas as pd

    rows = [{"text": r["text"], "label": str(r["label"]), "topic": "t"} for r in ROWS]
    path = tmp_path / f"data.{fmt}"
    if fmt == "jsonl":
        write_jsonl(path, rows)
    elif fmt == "json":
        path.write_text(json.dumps(rows))
    elif fmt == "csv":
        pd.DataFrame(rows).to_csv(path, index=False)
    else:
        pd.DataFrame(rows).to_parquet(path)
    samples = LocalFileSource(str(path), domain_field="topic").load()
    assert [s["label"] for s in samples] == [1, 0] * 6
    assert [s["uid"] for s in samples] == [f"data:{i}" for i in range(12)]
    assert all(s["domain"] == "t" for s in samples)


def test_custom_fields_and_uid(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [{"id": "a", "body": "hello there world", "is_member": True},
                                               {"id": "b", "body": "another text here", "is_member": False}])
    src = LocalFileSource(str(path), text_field="body", label_field="is_member", uid_field="id", domain="news")
    assert [(s["uid"], s["label"], s["domain"]) for s in src.load()] == [("a", 1, "news"), ("b", 0, "news")]


def test_malformed_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok fine text", "label": 1}\n{"text": "broken", \n')
    with pytest.raises(InputError, match=r"bad\.jsonl:2: malformed JSON"):
        LocalFileSource(str(path)).load()


def test_missing_text_field_names_field(tmp_path):
    path = write_jsonl(tmp_path / "m.jsonl", [{"text": "fine text here", "label": 1}, {"content": "x", "label": 0}])
    with pytest.raises(InputError, match=r"m\.jsonl:2: missing text field 'text'"):
        LocalFileSource(str(path)).load()


def test_empty_text_non_utf8_bad_label_and_duplicates(tmp_path):
    empty = write_jsonl(tmp_path / "e.jsonl", [{"text": "   ", "label": 1}])
    with pytest.raises(InputError, match=r"e\.jsonl:1: field 'text' is empty"):
        LocalFileSource(str(empty)).load()
    raw = tmp_path / "u.jsonl"
    raw.write_bytes(b'{"text": "fine", "label": 1}\n{"text": "caf\xe9", "label": 0}\n')
    with pytest.raises(InputError, match=r"u\.jsonl:2: not valid UTF-8"):
        LocalFileSource(str(raw)).load()
    lab = write_jsonl(tmp_path / "l.jsonl", [{"text": "some text", "label": "maybe"}])
    with pytest.raises(InputError, match=r"l\.jsonl:1: label 'maybe'"):
        LocalFileSource(str(lab)).load()
    dup = write_jsonl(tmp_path / "d.jsonl", [{"uid": "x", "text": "a b c", "label": 1},
                                             {"uid": "x", "text": "d e f", "label": 0}])
    dm = MIADataModule(LocalFileSource(str(dup)), run_dir=str(tmp_path))
    with pytest.raises(InputError, match="duplicate uid 'x'"):
        dm.setup("predict")


def test_sources_without_rows_get_the_same_checks_naming_sample_numbers(tmp_path):
    from paramem.data.sample import Source, make_sample

    class Listed(Source):  # a source that knows no file lines (like the hub sources)
        def __init__(self, uids):
            self.uids = uids

        def load(self, run_dir=None):
            return [make_sample(uid=u, text="a b c", label=i % 2, where=f"row {i}") for i, u in enumerate(self.uids)]

    with pytest.raises(InputError, match=r"^Listed: duplicate uid 'x' \(the source's samples number 1 and 3\); "
                                         r"every sample needs its own uid$"):
        MIADataModule(Listed(["x", "y", "x"]), run_dir=str(tmp_path)).setup("predict")
    with pytest.raises(InputError, match=r"^Listed: the source gave no samples; check its path and settings$"):
        MIADataModule(Listed([]), run_dir=str(tmp_path)).setup("predict")
    dm = MIADataModule(Listed(["x", "y"]), run_dir=str(tmp_path))
    dm.setup("predict")
    assert [s["uid"] for s in dm.samples] == ["x", "y"]
    # A file names rows, and its first problem in row order wins: the duplicate on line 2,
    # not the bad label on line 3.
    bad = write_jsonl(tmp_path / "b.jsonl", [{"uid": "x", "text": "a b c", "label": 1},
                                             {"uid": "x", "text": "d e f", "label": 0},
                                             {"uid": "z", "text": "g h i", "label": "maybe"}])
    with pytest.raises(InputError, match=r"b\.jsonl:2: duplicate uid 'x' \(first at .*b\.jsonl:1\)"):
        LocalFileSource(str(bad)).load()


def test_parse_label_words():
    assert [parse_label(v, "w") for v in (1, 0, True, False, "member", "NonMember", "non-member", "1")] == \
        [1, 0, 1, 0, 1, 0, 0, 1]


def test_mimir_local_copy(tmp_path):
    path = write_jsonl(tmp_path / "mimir.jsonl", [{"member": f"m {i} text", "nonmember": f"n {i} text"}
                                                  for i in range(3)])
    samples = MimirSource("github", "ngram_7_0.2", local_files=str(path)).load()
    assert len(samples) == 6
    assert samples[0] == {"uid": "mimir/github/ngram_7_0.2/000000/member", "text": "m 0 text", "label": 1,
                          "domain": "github", "split": "ngram_7_0.2"}
    assert samples[1]["label"] == 0
    with pytest.raises(InputError, match="MIMIR domain 'gits' unknown"):
        MimirSource("gits")


def test_wikimia_with_paraphrased_variant(tmp_path):
    orig = write_jsonl(tmp_path / "w.jsonl", [{"input": f"text {i} here", "label": i % 2} for i in range(4)])
    para = write_jsonl(tmp_path / "p.jsonl", [{"input": f"para {i} here", "label": i % 2} for i in range(4)])
    samples = WikiMIASource(64, paraphrased=True, local_files=str(orig), paraphrased_local_files=str(para)).load()
    assert [s["label"] for s in samples] == [0, 1, 0, 1]
    assert samples[2]["paraphrases"] == ["para 2 here"] and samples[2]["domain"] == "wikimia_64"


def test_tofu_answer_only_offsets(tmp_path):
    mem = write_jsonl(tmp_path / "f.jsonl", [{"question": "Who is A?", "answer": "A is a writer."}])
    non = write_jsonl(tmp_path / "h.jsonl", [{"question": "Who is B?", "answer": "B is a painter."}])
    samples = TOFUSource(member_local_files=str(mem), nonmember_local_files=str(non)).load()
    s = samples[0]
    assert s["label"] == 1 and s["text"][s["loss_start_char"]:] == "A is a writer."
    assert samples[1]["label"] == 0 and samples[1]["uid"] == "tofu/holdout10/00000"


def test_unreachable_hub_fails_fast_naming_the_data_set():
    start = time.monotonic()
    with pytest.raises(InputError, match=r"(?s)could not load data set .iamgroot42/mimir.*local_files"):
        MimirSource("arxiv", "ngram_13_0.8").load()
    assert time.monotonic() - start < 10


def test_subsampling_and_balance(tmp_path):
    rows = [{"text": f"text {i} here", "label": int(i < 30)} for i in range(40)]
    path = write_jsonl(tmp_path / "s.jsonl", rows)
    dm = MIADataModule(LocalFileSource(str(path)), run_dir=str(tmp_path), max_samples=5, seed=1)
    dm.setup("predict")
    assert sorted(s["label"] for s in dm.samples) == [0] * 5 + [1] * 5
    again = MIADataModule(LocalFileSource(str(path)), run_dir=str(tmp_path), max_samples=5, seed=1)
    again.setup("predict")
    assert [s["uid"] for s in again.samples] == [s["uid"] for s in dm.samples]
    bal = MIADataModule(LocalFileSource(str(path)), run_dir=str(tmp_path), balance=True)
    bal.setup("predict")
    assert sum(s["label"] for s in bal.samples) == 10 and len(bal.samples) == 20
    bal.exclude_uids = {bal.samples[0]["uid"]}
    assert len(bal.predict_samples()) == 19
