"""`paramem report` rebuilds the report from scores files of several jobs, no model loaded;
the paraphrase summary counts failures without ever padding them."""

import json

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
