"""Local files as spreadsheets and hand-written files give them: a UTF-8 BOM, numeric
domains, odd loss offsets, duplicate uids and empty files."""

import json

import pytest

from paramem.data import LocalFileSource, MIADataModule
from paramem.io import InputError

ROWS = [{"uid": f"u{i}", "text": f"sentence number {i} about rivers", "label": i % 2, "domain": "web"}
        for i in range(4)]


def _write(path, fmt, rows, bom=False):
    import pandas as pd

    if fmt == "jsonl":
        text = "".join(json.dumps(r) + "\n" for r in rows)
    elif fmt == "json":
        text = json.dumps(rows)
    else:
        text = pd.DataFrame(rows).to_csv(index=False)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_a_utf8_bom_reads_the_same(tmp_path, fmt):
    plain = LocalFileSource(str(_write(tmp_path / f"plain.{fmt}", fmt, ROWS))).load()
    with_bom = LocalFileSource(str(_write(tmp_path / f"bom.{fmt}", fmt, ROWS, bom=True))).load()
    assert with_bom == plain
    assert [s["uid"] for s in with_bom] == ["u0", "u1", "u2", "u3"]  # not "<stem>:<row>" from a renamed column


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_domain_and_split_are_strings_and_zero_stays(tmp_path, fmt):
    rows = [{**ROWS[0], "domain": 0, "split": 0}, {**ROWS[1], "domain": 5, "split": 2024},
            {**ROWS[2], "domain": "web", "split": "a"}, {**ROWS[3], "domain": "", "split": ""}]
    samples = LocalFileSource(str(_write(tmp_path / f"d.{fmt}", fmt, rows))).load()
    assert [s["domain"] for s in samples] == ["0", "5", "web", "default"]
    assert [s.get("split") for s in samples] == ["0", "2024", "a", None]


def test_loss_start_char_errors_name_file_line_and_field(tmp_path):
    def load(value, field="loss_start_char"):
        row = {**ROWS[0], field: value}
        path = _write(tmp_path / "q.jsonl", "jsonl", [ROWS[1], row])
        return LocalFileSource(str(path), loss_start_field=field).load()

    assert load(9)[1]["loss_start_char"] == 9
    assert load("9")[1]["loss_start_char"] == 9  # a CSV cell
    with pytest.raises(InputError, match=r"q.jsonl:2: field 'loss_start_char' must be a character offset.*'abc'"):
        load("abc")
    with pytest.raises(InputError, match=r"q.jsonl:2: field 'answer_at' is 500, outside the text \(0..30 characters"):
        load(500, field="answer_at")
    with pytest.raises(InputError, match="outside the text"):
        load(-1)


def test_duplicate_uid_names_both_lines(tmp_path):
    path = _write(tmp_path / "dup.jsonl", "jsonl", [ROWS[0], ROWS[1], {**ROWS[2], "uid": "u0"}])
    with pytest.raises(InputError, match=r"dup.jsonl:3: duplicate uid 'u0' \(first at .*dup.jsonl:1\)"):
        LocalFileSource(str(path)).load()


@pytest.mark.parametrize("content", ["", "\n\n", "[]", "uid,text,label\n"], ids=["empty", "blank", "json", "csv"])
def test_an_empty_input_is_an_error_naming_the_file(tmp_path, content):
    suffix = {"[]": "json", "uid,text,label\n": "csv"}.get(content, "jsonl")
    path = tmp_path / f"none.{suffix}"
    path.write_text(content)
    with pytest.raises(InputError, match=rf"{path}: no samples"):
        LocalFileSource(str(path)).load()


@pytest.mark.parametrize("setting,value", [("batch_size", 0), ("batch_size", -3), ("max_samples", 0),
                                           ("num_workers", -1)])
def test_datamodule_refuses_impossible_sizes(setting, value):
    with pytest.raises(InputError, match=rf"data.init_args.{setting} is {value}: it must be an integer >= "):
        MIADataModule(LocalFileSource("x.jsonl"), **{setting: value})
