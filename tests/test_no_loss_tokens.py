"""A sample with no predicted token (a one-token text, an answer truncated away) has null
quantities in every stage, never 0.0, and the alignment summary names that cause."""

import json

from paramem.score.registry import METHODS
from tests.helpers import CONFIGS, NO_LOG, copy_run, read_jsonl, run_cli

PARAS = ["The ferry left the harbour at dawn.", "At dawn the ferry left the harbour.",
         "The ferry departed the harbour at dawn."]


def _data(path):
    question = "Question: " + " ".join(["which harbour did the old ferry leave from"] * 6) + "\nAnswer: "
    rows = [
        {"uid": "one-char", "text": "A", "label": 1, "paraphrases": PARAS},
        {"uid": "answer-cut", "text": question + "the north one", "label": 0, "loss_start_char": len(question),
         "paraphrases": PARAS},
        {"uid": "plain-1", "text": "The ferry left the harbour at dawn today.", "label": 1, "paraphrases": PARAS},
        {"uid": "plain-0", "text": "A lighthouse keeper counted the gulls.", "label": 0, "paraphrases": PARAS},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _run(config, run_dir, data, *extra):
    run_cli(["predict", "--config", str(CONFIGS / config), "--run_dir", str(run_dir), *NO_LOG,
             "--model.init_args.max_length", "24", "--data.init_args.source", "paramem.data.LocalFileSource",
             "--data.init_args.source.init_args.path", str(data), *extra])


def test_no_loss_tokens_gives_null_everywhere(tiny_run, tmp_path, capsys):
    run_dir = copy_run(tiny_run, tmp_path / "run")
    data = _data(tmp_path / "d.jsonl")
    _run("align/tiny.yaml", run_dir, data)
    assert "cosine null: 0 no valid paraphrase, 2 no loss tokens" in capsys.readouterr().out
    rows = {r["uid"]: r for r in read_jsonl(run_dir / "alignment.jsonl")}
    assert rows["answer-cut"]["truncated"] is True
    for uid in ("one-char", "answer-cut"):
        r = rows[uid]
        assert r["n_loss_tokens"] == 0 and r["n_paraphrases"] == 3
        assert r["cosine"] is None and r["inner"] is None and r["grad_norm"] is None and r["loss"] is None
        assert r["cosines"] == [None] * 3
        assert all(g is not None and g > 0 for g in r["para_grad_norms"])  # the paraphrases do have tokens
    for uid in ("plain-1", "plain-0"):
        assert rows[uid]["n_loss_tokens"] > 0 and rows[uid]["cosine"] is not None and rows[uid]["inner"] != 0

    _run("mia/tiny.yaml", run_dir, data, "--model.init_args.report.n_resamples", "10", "--model.init_args.lowest_k.ks", "[0.5]")
    scores = {r["uid"]: r["scores"] for r in read_jsonl(run_dir / "scores.jsonl")}
    base = {r["uid"]: r for r in read_jsonl(run_dir / "baselines.jsonl")}
    not_from_the_loss = {name for name, m in METHODS.items() if not m.per_sample or "generation" in m.needs}
    assert "blind_bow" in not_from_the_loss
    for uid in ("one-char", "answer-cut"):
        assert base[uid]["n_tokens"] == 0
        # Scores that take no loss are defined without loss tokens: blind_bow classifies the
        # words, SaMIA compares generated words with the text's second half.
        # (a method's columns start with its name: ngram_coverage -> ngram_coverage_creativity)
        from_the_loss = {k: v for k, v in scores[uid].items() if not k.startswith(tuple(not_from_the_loss))}
        assert set(from_the_loss.values()) == {None}, {k: v for k, v in scores[uid].items() if v is not None}
    assert scores["plain-1"]["align_inner"] is not None and scores["plain-1"]["loss"] is not None
    loss = json.loads((run_dir / "metrics.json").read_text())["all"]["loss"]
    assert loss["n_dropped"] == 2
