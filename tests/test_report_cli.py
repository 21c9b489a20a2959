"""`paramem report` rebuilds the report from scores files of several jobs, no model loaded;
the paraphrase summary counts failures without ever padding them."""

import json

import pytest

from tests.helpers import run_cli


def _scores(path, domain, offset, n=20):
    rows = [{"uid": f"{domain}-{i}", "label": i % 2, "domain": domain,
             "scores": {"loss": float(i % 2) + 0.01 * (i + offset), "align_cosine": None if i == 0 else i / n}}
            for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_report_subcommand_merges_jobs(tmp_path, capsys):
    a = _scores(tmp_path / "a.jsonl", "github", 0)
    b = _scores(tmp_path / "b.jsonl", "arxiv", 3)
    run_cli(["report", "--scores", json.dumps([str(a), str(b)]), "--out_dir", str(tmp_path / "out"),
             "--n_resamples", "50"])
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert {"all", "domain=github", "domain=arxiv"} <= set(metrics)
    assert metrics["all"]["loss"]["auroc"]["value"] == 1.0
    assert metrics["all"]["align_cosine"]["n_dropped"] == 2  # null scores dropped and counted
    assert "loss" in capsys.readouterr().out
    assert (tmp_path / "out" / "roc.png").exists()


def test_report_takes_plain_paths_one_or_several(tmp_path):
    from paramem.cli import scores_as_list

    a = _scores(tmp_path / "a.jsonl", "github", 0)
    b = _scores(tmp_path / "b.jsonl", "arxiv", 3)
    run_cli(["report", "--scores", str(a), str(b), "--out_dir", str(tmp_path / "two"), "--n_resamples", "20"])
    assert {"domain=github", "domain=arxiv"} <= set(json.loads((tmp_path / "two" / "metrics.json").read_text()))
    run_cli(["report", "--out_dir", str(tmp_path / "one"), "--scores", str(a), "--n_resamples", "20"])
    assert json.loads((tmp_path / "one" / "metrics.json").read_text())["all"]["loss"]["n_members"] == 10
    assert scores_as_list(["--scores", "[a, b]", "--seed", "1"]) == ["--scores", "[a, b]", "--seed", "1"]


def test_paraphrase_summary_counts_failures(tmp_path):
    from paramem.paraphrase.summary import collect, summarize_paraphrases

    def para(text, valid, reason):
        return {"text": text, "valid": valid, "reason": reason, "similarity": 0.9 if valid else None,
                "edit_similarity": 0.8}

    rows = [{"uid": "a", "label": 1, "text": "t a", "paraphrases": [para("x y z", True, "ok")] * 3},
            {"uid": "b", "label": 0, "text": "t b", "paraphrases": [para("x y z", True, "ok"), para("", False, "empty"),
                                                                   para("t b", False, "identical")]},
            {"uid": "c", "label": 0, "text": "t c", "paraphrases": [para("q", False, "too_short")] * 3}]
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary, examples = summarize_paraphrases(collect(path), 3)
    assert summary["samples"] == 3 and summary["paraphrases"] == 9 and summary["valid"] == 4
    assert summary["samples_below_k_valid"] == 2 and summary["samples_without_valid"] == 1
    assert summary["failed_too_short"] == 3 and summary["failed_empty"] == 1 and summary["failed_identical"] == 1
    assert abs(summary["failure_rate"] - 5 / 9) < 1e-12
    assert examples and examples[0]["uid"] == "a"


BAD_RECORDS = [  # (a record or its JSON line, what the one-line error must say)
    ({"uid": "x", "label": 1, "scores": {"loss": "abc"}}, "bad.jsonl:2: scores.loss must be a number or null, got 'abc'"),
    ({"uid": "x", "label": 1, "scores": {"loss": [1.0]}}, "scores.loss must be a number or null, got [1.0]"),
    ({"uid": "x", "label": 1, "scores": {"loss": True}}, "scores.loss must be a number or null, got True"),
    ('{"uid": "x", "label": 1, "scores": {"loss": 1e999}}', "scores.loss is out of range (inf)"),  # as written
    ({"uid": {"a": 1}, "label": 1, "scores": {}}, "'uid' must be a string or an integer"),
    ({"uid": "x", "label": 1, "scores": {"calibrated/loss": 1.0}}, "the prefix 'calibrated/' is the report's own"),
    ({"uid": "x", "label": 1, "exposure": "abc", "scores": {}}, "field 'exposure' must be a non-negative integer"),
    ({"uid": "x", "label": 1, "exposure": 0, "scores": {}}, "field 'exposure' is 0 for a member"),
    ({"uid": "x", "label": 1, "exposure": 1e20, "scores": {}}, "above 1,000,000,000 occurrences"),
    ({"uid": "x", "label": 0, "exposure": [1], "scores": {}}, "field 'exposure' must be a non-negative integer"),
    ({"uid": "x", "label": 1, "scores": {}}, "1 of 2 members have an exposure"),  # the first record has one
    ({"uid": "x", "label": 1, "exposure": None, "scores": {}}, "1 of 2 members have an exposure"),
    ({"uid": "x", "label": 1, "exposure": "", "scores": {}}, "1 of 2 members have an exposure"),
    ('{"uid": "x", "label": 1, "scores": {"loss": 1' + "0" * 400 + '}}', "scores.loss is out of range (100000000000... (401 digits))"),
    ({"uid": "x", "label": True, "scores": {}}, "'label' must be 0 or 1, got True"),
]


@pytest.mark.parametrize("record, message", BAD_RECORDS)
def test_a_bad_scores_record_is_one_error_line(tmp_path, capsys, record, message):
    from paramem.cli import cli_main

    bad = tmp_path / "bad.jsonl"
    first = {"uid": "ok", "label": 1, "exposure": 2, "scores": {"loss": 0.5}}
    line = record if isinstance(record, str) else json.dumps(record)
    bad.write_text(json.dumps(first) + "\n" + line + "\n")
    with pytest.raises(SystemExit) as exit_:
        cli_main(["report", "--scores", str(bad), "--out_dir", str(tmp_path / "out")], exit_on_error=True)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and "Traceback" not in err, err
    assert not (tmp_path / "out").exists()  # nothing was started


@pytest.mark.parametrize("args, message", [
    (["--n_resamples", "-1"], "--n_resamples is -1: it must be an integer >= 0"),
    (["--seed", "-1"], "--seed is -1: it must be an integer >= 0"),
    (["--out_dir", ""], "--out_dir is empty"),
    (["--scores", "{tmp}"], "Is a directory"),
])
def test_bad_report_settings_are_one_error_line(tmp_path, capsys, args, message):
    from paramem.cli import cli_main

    good = _scores(tmp_path / "a.jsonl", "github", 0)
    argv = ["report", "--scores", str(good), "--out_dir", str(tmp_path / "out"), *args]
    with pytest.raises(SystemExit) as exit_:
        cli_main([a.replace("{tmp}", str(tmp_path)) for a in argv], exit_on_error=True)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err and "Traceback" not in err, err


def test_an_interrupt_is_one_line_and_exit_code_130(tmp_path, capsys, monkeypatch):
    import paramem.report.build as build
    from paramem.cli import cli_main

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "evaluate_report", interrupted)
    good = _scores(tmp_path / "a.jsonl", "github", 0)
    with pytest.raises(SystemExit) as exit_:
        cli_main(["report", "--scores", str(good), "--out_dir", str(tmp_path / "out")], exit_on_error=True)
    assert exit_.value.code == 130
    assert capsys.readouterr().err.strip() == "paramem: interrupted (the same command resumes or redoes it)"
    assert not [p.name for p in (tmp_path / "out").iterdir()]  # nothing staged is left
