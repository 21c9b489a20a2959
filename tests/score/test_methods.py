"""The registered methods against independent float64 reimplementations of their
published formulas on a tiny model, through the stage's own code path
(BaselineScorer.process), plus the prefix-pool, registry and README contracts."""

import copy
import json
import math
import re
import zlib
from collections import Counter

import pytest
import torch

from paramem.io import InputError
from paramem.score import tokenstats
from paramem.score.registry import METHODS, NEEDS, VARIANTS, load_all, register
from paramem.score.module import BaselineScorer
from tests.helpers import REPO
from tests.score.test_tokenstats import CORPUS, _bpe, _neox

TEXTS = ["The quick brown fox jumps over the lazy dog near the river bank today.",
         "Members and non-members must come from the same distribution of texts.",
         "Question: Who wrote the book? Answer: A fictitious author named Jaime Vasquez.",
         "def f(x): return x * 2 and then the function doubles every input value."]
POOL = [{"uid": f"pool-{i}", "text": t, "label": i % 2} for i, t in enumerate(
    ["A quiet library stood by the old mill.", "Rain fell on the harbour all night long.",
     "The committee met twice in early spring.", "Seven violinists played at the wedding.",
     "Nobody expected the bridge to close so soon.", "The potter sold every bowl by noon."])]


@pytest.fixture(scope="module")
def lm():
    model = _neox()
    tok = _bpe(CORPUS + [p["text"] for p in POOL] + TEXTS)
    tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return model, tok, copy.deepcopy(model).double()


def _scorer(lm, tmp_path, **kw):
    model, tok, _ = lm
    sc = BaselineScorer(run_dir=str(tmp_path), model="<in-memory>", max_length=64, rows_per_forward=5, **kw)
    sc.lm, sc.tokenizer = model, tok
    sc.prepare_inputs()
    return sc


def _batch(texts=TEXTS):
    return [{"uid": f"u{i}", "label": i % 2, "text": t} for i, t in enumerate(texts)]


def ref_logprobs(model64, ids: list[int], n_context: int = 0) -> list[float]:
    """float64 log p of ids[t] for t >= max(1, n_context), one explicit softmax per position."""
    with torch.no_grad():
        logits = model64(torch.tensor([ids])).logits[0].double()
    out = []
    for t in range(max(1, n_context), len(ids)):
        row = logits[t - 1]
        out.append(float(row[ids[t]] - row.max() - torch.log(torch.exp(row - row.max()).sum())))
    return out


def mean(xs):
    return sum(xs) / len(xs)


def _write_pool(tmp_path, rows=POOL):
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_recall_and_con_recall_match_float64(lm, tmp_path):
    model, tok, model64 = lm
    sc = _scorer(lm, tmp_path, methods=["loss", "recall", "con_recall"],
                 recall={"prefix_pool": _write_pool(tmp_path), "prefix_shots": 2})
    recs = sc.process(_batch())
    for rec, text in zip(recs, TEXTS):
        ids = tok(text)["input_ids"]
        ll = mean(ref_logprobs(model64, ids))
        cond = {}
        for label in (0, 1):
            chosen = [p["text"] for p in POOL if p["label"] == label]
            prefix = sc.pool.prefix(label, 2, 0)
            assert sum(c in prefix for c in chosen) == 2  # two shots of that label, none of the other
            p_ids = tok(prefix)["input_ids"]
            cond[label] = mean(ref_logprobs(model64, p_ids + ids, len(p_ids)))
        assert rec["scores"]["loss"] == pytest.approx(ll, rel=1e-5)
        assert rec["scores"]["recall"] == pytest.approx(cond[0] / ll, rel=1e-5)
        assert rec["scores"]["con_recall"] == pytest.approx((cond[0] - 0.5 * cond[1]) / ll, rel=1e-5)


def test_prefix_pool_must_be_disjoint(lm, tmp_path):
    batch = _batch()
    same_uid = POOL + [{"uid": "u1", "text": "Something else entirely here.", "label": 0}]
    sc = _scorer(lm, tmp_path, methods=["recall"], recall={"prefix_pool": _write_pool(tmp_path, same_uid)})
    with pytest.raises(InputError, match="'u1' has the same uid"):
        sc.process(batch)
    same_text = POOL + [{"uid": "p9", "text": "  " + TEXTS[2].replace(" ", "\n", 1), "label": 1}]
    sc = _scorer(lm, tmp_path, methods=["recall"],
                 recall={"prefix_pool": _write_pool(tmp_path, same_text), "prefix_shots": 2})
    with pytest.raises(InputError, match="'p9' has the same text as evaluated sample 'u2'"):
        sc.process(batch)
    with pytest.raises(InputError, match="no member texts"):
        _scorer(lm, tmp_path, methods=["recall"], recall={"prefix_pool": _write_pool(tmp_path, POOL[::2])})
    with pytest.raises(InputError, match="4 shots asked, only 3 texts of label 0"):
        _scorer(lm, tmp_path, methods=["con_recall"], recall={"prefix_pool": _write_pool(tmp_path)})
    with pytest.raises(InputError, match="'recall' needs model.init_args.recall.prefix_pool"):
        BaselineScorer(run_dir=str(tmp_path), model="x", methods=["recall"])


def test_embedded_prefix_pool(tmp_path):
    """Member prefixes are the teach texts the model really trained on (fit's record)."""
    import json

    import pytest

    from paramem.data.embedded import write_corpus
    from paramem.io import InputError, read_jsonl
    from paramem.score.recall import PrefixPool

    paths = write_corpus(tmp_path / "corpus", n_members=10, n_nonmembers=10, n_teach=6)
    teach = [r for _, r in read_jsonl(paths["teach"])]
    with pytest.raises(InputError, match="train_texts.jsonl not found"):
        PrefixPool.load("{run_dir}/corpus", tmp_path)  # no record of training: refused, not guessed
    record = tmp_path / "model" / "train_texts.jsonl"
    record.parent.mkdir()

    def trained(rows):
        record.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return PrefixPool.load("{run_dir}/corpus", tmp_path)

    # Exposure stream: the teach texts are background, trained as whole texts.
    pool = trained([{"text": r["text"], "loss_start_char": 0, "count": 1} for r in teach])
    assert {e["text"] for e in pool.entries if e["label"] == 1} == {r["text"] for r in teach}
    assert Counter(e["label"] for e in pool.entries)[0] >= 6  # unseen records of the generator
    # Members-only fit teaching the prompt: the loss covers each pair's near-duplicate only.
    pairs = [f"Rewrite: {r['text']}\nRewritten: " for r in teach[:2]]
    pool = trained([{"text": p + r["neardups"][0], "loss_start_char": len(p), "count": 1}
                    for p, r in zip(pairs, teach)])
    assert {e["text"] for e in pool.entries if e["label"] == 1} == {r["neardups"][0] for r in teach[:2]}
    evaluated = [r for _, r in read_jsonl(paths["eval"])]
    pool.check_disjoint(evaluated)  # no shared uid or text with the evaluated samples
    assert not {e["text"] for e in pool.entries} & {d for r in evaluated for d in r["paraphrases"]}


def test_dcpdd_matches_float64(lm, tmp_path):
    model, tok, model64 = lm
    corpus = tmp_path / "freq.txt"
    corpus.write_text("\n".join(CORPUS[:4] + [p["text"] for p in POOL]) + "\n")
    sc = _scorer(lm, tmp_path, methods=["dcpdd"], dcpdd={"frequency_corpus": str(corpus)})
    counts = Counter(i for line in corpus.read_text().splitlines() for i in tok(line)["input_ids"])
    V = model.config.vocab_size
    total = sum(counts.values())
    for rec, text in zip(sc.process(_batch()), TEXTS):
        ids = tok(text)["input_ids"]
        lps = ref_logprobs(model64, ids)
        seen, terms = set(), []
        for tgt, lp in zip(ids[1:], lps):
            if tgt in seen:
                continue
            seen.add(tgt)
            f = (counts.get(tgt, 0) + 1) / (total + V)
            terms.append(min(math.exp(lp) * math.log(1 / f), 0.01))
        assert rec["scores"]["dcpdd"] == pytest.approx(mean(terms), rel=1e-5)


def test_pac_matches_float64(lm, tmp_path):
    from paramem.score.pac import swapped_copies

    model, tok, model64 = lm
    sc = _scorer(lm, tmp_path, methods=["pac"], pac={"copies": 3})

    def pd(lps):
        s = sorted(lps)
        n = len(s)
        top, bottom = max(1, n * 5 // 100), max(1, n * 30 // 100)
        return mean(s[n - top:]) - mean(s[:bottom])

    for rec, s in zip(sc.process(_batch()), _batch()):
        copies = swapped_copies(s["text"], s["uid"], 3, 0.1, 0)
        assert len(copies) == 3 and all(c != s["text"] for c in copies)
        assert all(sorted(c.split()) == sorted(s["text"].split()) for c in copies)
        want = pd(ref_logprobs(model64, tok(s["text"])["input_ids"]))
        want -= mean([pd(ref_logprobs(model64, tok(c)["input_ids"])) for c in copies])
        # a difference of polarized distances of several nats each, from a float32 forward
        assert rec["scores"]["pac"] == pytest.approx(-want, abs=2e-5)
    # QA: only words after loss_start_char move
    qa = swapped_copies("Q: who wrote it? A: the tall author wrote it", "u", 4, 0.5, 0, start=17)
    assert all(c.startswith("Q: who wrote it? A:") for c in qa)


def test_samia_matches_reference_and_is_batch_independent(lm, tmp_path):
    from paramem.score.samia import rouge1_recall, split_halves

    sc = _scorer(lm, tmp_path, methods=["samia", "samia_zlib"], samia={"samples": 3, "top_k": 20})
    batch = _batch()[1:3]
    together = sc.process(batch)
    assert together[1]["scores"] == sc.process(batch[1:])[0]["scores"]  # batch neighbours change nothing
    conts = VARIANTS["samia"].build(sc, batch, [], [])
    for rec, s, (cands, ref) in zip(together, batch, conts):
        prompt, rest = split_halves(s["text"])
        assert ref == rest and s["text"].split() == prompt.split() + rest
        assert len(cands) == 3
        recalls = []
        for c in cands:  # ROUGE-1 recall by hand: clipped unigram matches / reference length
            left = list(rest)
            hits = 0
            for w in c.split():
                if w in left:
                    left.remove(w)
                    hits += 1
            recalls.append(hits / len(rest))
        assert recalls == pytest.approx([rouge1_recall(c, rest) for c in cands])
        assert rec["scores"]["samia"] == pytest.approx(mean(recalls))
        assert rec["scores"]["samia_zlib"] == pytest.approx(
            mean([r * len(zlib.compress(c.encode())) for r, c in zip(recalls, cands)]))
    assert rouge1_recall("a b b c", ["b", "b", "b", "d"]) == 0.5


def test_blind_bow_out_of_fold_and_shift_warning():
    from paramem.report.build import format_table
    from paramem.report.bootstrap import evaluate
    from paramem.score.blind import SHIFT_WARNING, blind_bow, shift_warning

    rng = __import__("random").Random(0)
    vocab = "house river stone cloud paper green lamp tower bread music".split()
    texts, labels = [], []
    for i in range(40):
        words = rng.choices(vocab, k=8) + (["alpha"] if i % 2 else ["beta"])
        texts.append(" ".join(words))
        labels.append(i % 2)
    scores = blind_bow(texts, labels, folds=5, seed=0)
    assert scores == blind_bow(texts, labels, folds=5, seed=0)
    records = [{"uid": str(i), "label": y, "scores": {"blind_bow": s}} for i, (s, y) in enumerate(zip(scores, labels))]
    metrics = evaluate(records, methods=["blind_bow"], n_resamples=200)
    assert metrics["all"]["blind_bow"]["auroc"]["value"] > 0.95
    assert SHIFT_WARNING in shift_warning(metrics)
    # same distribution: no signal out of fold, no warning
    plain = [" ".join(rng.choices(vocab, k=9)) for _ in range(40)]
    records = [{"uid": str(i), "label": y, "scores": {"blind_bow": s}}
               for i, (s, y) in enumerate(zip(blind_bow(plain, labels), labels))]
    metrics = evaluate(records, methods=["blind_bow"], n_resamples=200)
    assert shift_warning(metrics) is None
    # a text whose label is only learnable from itself gets no credit out of fold
    unique = [f"word{i} common" for i in range(40)]
    y = [i % 2 for i in range(40)]
    oof = blind_bow(unique, y, folds=4)
    assert all(abs(s - 0.5) < 0.1 for s in oof)
    assert blind_bow(["a", "b"], [1, 1]) == [None, None]
    metrics = {"meta": {"warnings": [shift_warning({"all": {"blind_bow": {
        "defined": True, "auroc": {"value": 0.9, "ci": [0.8, 0.95]}}}})]},
        "all": {"blind_bow": {"defined": True, "n_members": 1, "n_nonmembers": 1, "n_dropped": 0,
                              **{m: {"value": 0.9, "ci": [0.8, 0.95]} for m in ("auroc", "fpr@95", "tpr@5", "tpr@1")}}}}
    assert "WARNING: blind_bow AUROC 0.900" in format_table(metrics)


@pytest.fixture
def probe_methods():
    """Two throwaway methods reading ``ts.original.grad_norm``, one declaring the need."""
    load_all()
    register("probe_declared", formula="||dL/dW_out||_F", needs=("grad_norm",))(lambda ts: ts.original.grad_norm)
    register("probe_undeclared", formula="||dL/dW_out||_F")(lambda ts: ts.original.grad_norm)
    yield
    for name in ("probe_declared", "probe_undeclared"):
        METHODS.pop(name)


def test_grad_norms_computed_exactly_when_a_method_needs_them(lm, tmp_path, probe_methods, monkeypatch):
    calls = []
    real = tokenstats._head_grad_norm
    monkeypatch.setattr(tokenstats, "_head_grad_norm", lambda *a: calls.append(1) or real(*a))

    declared = _scorer(lm, tmp_path, methods=["loss", "probe_declared"]).process(_batch())
    assert len(calls) == len(TEXTS)  # the originals only, once each
    norms = [r["scores"]["probe_declared"] for r in declared]
    assert all(isinstance(g, float) and g > 0 for g in norms)
    # the same values the built-in gradnorm reports (it is negated: larger => member)
    builtin = _scorer(lm, tmp_path, methods=["gradnorm"]).process(_batch())
    assert [-r["scores"]["gradnorm"] for r in builtin] == norms

    calls.clear()
    undeclared = _scorer(lm, tmp_path, methods=["loss", "mink", "probe_undeclared"]).process(_batch())
    assert not calls and all(r["scores"]["probe_undeclared"] is None for r in undeclared)
    assert [r["scores"]["loss"] for r in undeclared] == [r["scores"]["loss"] for r in declared]


def test_registry_contract_and_readme():
    methods = load_all()
    assert {"loss", "zlib", "mink", "minkpp", "lowercase", "neighbor", "ref", "gradnorm", "recall", "con_recall",
            "dcpdd", "pac", "samia", "samia_zlib", "blind_bow", "gapk", "acmia", "camia", "ngram_coverage"} <= set(methods)
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("### Methods"):]
    for m in methods.values():
        assert set(m.variants) <= set(VARIANTS) and set(m.needs) <= set(NEEDS) and m.formula
        assert re.search(rf"\| `{re.escape(m.name)}", section), f"README's method table lacks {m.name}"
    assert METHODS is methods


@pytest.mark.parametrize("extra, message", [
    (["--model.init_args.methods", "[loss, nosuch]"], "model.init_args.methods: unknown method 'nosuch'"),
    (["--model.init_args.add_special_tokens", "maybe"], "add_special_tokens must be auto, true or false"),
    (["--model.init_args.methods", "[ref]"], "method 'ref' needs model.init_args.reference_model"),
])
def test_bad_settings_are_one_line_errors(tmp_path, capsys, extra, message):
    from tests.helpers import CONFIGS, QUIET, run_cli

    with pytest.raises(InputError, match=re.escape(message)):
        run_cli(["predict", "--config", str(CONFIGS / "mia/tiny.yaml"), "--run_dir", str(tmp_path), *QUIET, *extra])
    err = capsys.readouterr().err
    assert f"paramem: error: " in err and "Traceback" not in err


def test_the_readme_add_a_baseline_example_runs_as_written(lm, tmp_path):
    """README "Add a baseline", executed as written: the method registers, the stage
    computes it, and it is the float64 max token log-probability."""
    import paramem.score.registry as registry

    text = (REPO / "README.md").read_text(encoding="utf-8")
    snippet = re.search(r"```python\n(.*?)```", text[text.index("**Add a baseline**"):], re.S).group(1)
    load_all()
    exec(snippet, {"register": register, "TextStats": registry.TextStats})
    try:
        _, tok, model64 = lm
        for rec, t in zip(_scorer(lm, tmp_path, methods=["loss", "max_logprob"]).process(_batch()), TEXTS):
            want = max(ref_logprobs(model64, tok(t)["input_ids"]))
            assert rec["scores"]["max_logprob"] == pytest.approx(want, rel=1e-5)
    finally:
        METHODS.pop("max_logprob")
