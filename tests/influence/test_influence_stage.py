"""The influence stage through the real CLI on the tiny trained model: tracin_self and
RepSim equal plain autograd / tensor computations, one text at a time; bad input; join."""

import json

import pytest
import torch
import torch.nn.functional as F

from paramem.io import InputError
from tests.helpers import CONFIGS, QUIET, TINY_SOURCE, copy_run, read_jsonl, run_cli

ARGS = ["predict", "--config", str(CONFIGS / "influence/tiny.yaml"), *TINY_SOURCE, *QUIET,
        "--data.init_args.batch_size", "5"]


@pytest.fixture(scope="module")
def influence_run(tiny_run, tmp_path_factory):
    run_dir = copy_run(tiny_run, tmp_path_factory.mktemp("influence"))
    run_cli([*ARGS, "--run_dir", str(run_dir), "--model.init_args.transductive", "true"])
    return run_dir


def _plain_model(run_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return (AutoModelForCausalLM.from_pretrained(run_dir / "model", dtype=torch.float32).eval(),
            AutoTokenizer.from_pretrained(run_dir / "model"))


def _ids(tok, text):
    return tok(text, return_tensors="pt").input_ids  # as the stage's add_special_tokens: auto


def _mean_hidden(model, ids):
    with torch.no_grad():
        return model(input_ids=ids, output_hidden_states=True).hidden_states[-1][0].mean(0)  # (d,)


def test_schema_and_one_record_per_sample(influence_run):
    rows = read_jsonl(influence_run / "influence.jsonl")
    assert len(rows) == 32 and [r["uid"] for r in rows] == sorted(r["uid"] for r in rows)
    for r in rows:
        assert set(r) >= {"uid", "label", "domain", "self_influence", "tracin_self", "repsim_max", "repsim_mean",
                          "n_tokens", "scope", "strategy", "truncated", "transductive_influence"}
        assert r["self_influence"] > 0 and r["tracin_self"] > 0 and r["scope"] == "head"
        assert -1 <= r["repsim_mean"] <= r["repsim_max"] <= 1


def test_tracin_and_repsim_equal_plain_computations(influence_run):
    model, tok = _plain_model(influence_run)
    head = model.get_output_embeddings().weight
    head.requires_grad_(True)
    train = [json.loads(line)["text"] for line in (influence_run / "model/train_texts.jsonl").read_text().splitlines()]
    train_reps = torch.stack([_mean_hidden(model, _ids(tok, t)) for t in train])
    for r, sample in zip(read_jsonl(influence_run / "influence.jsonl"), _samples(influence_run)):
        assert r["uid"] == sample["uid"]
        ids = _ids(tok, sample["text"])  # one text, no padding
        logits = model(input_ids=ids).logits[0, :-1]
        loss = F.cross_entropy(logits, ids[0, 1:])  # mean over the predicted tokens
        (g,) = torch.autograd.grad(loss, head)
        assert r["n_tokens"] == ids.shape[1] - 1
        assert r["tracin_self"] == pytest.approx(g.pow(2).sum().item(), rel=1e-4)
        cos = F.cosine_similarity(_mean_hidden(model, ids)[None], train_reps, dim=-1)  # (N,)
        others = torch.tensor([t != sample["text"] for t in train])
        assert r["repsim_max"] == pytest.approx(cos[others].max().item(), abs=1e-5)
        assert r["repsim_mean"] == pytest.approx(cos[others].mean().item(), abs=1e-5)
        assert others.all() != (sample["label"] == 1)  # members are among the training texts, left out


def test_transductive_aggregate_is_the_mean_influence_with_the_opposite_set(influence_run, monkeypatch):
    """Plumbing of the aggregate (row weights, set means, opposite sets, order) checked with
    the identity preconditioner, where it is a plain dot product autograd can give."""
    from kronfluence.arguments import FactorArguments

    from paramem.influence.module import InfluenceScorer
    from paramem.influence.transductive import opposite_set_influence

    stage = InfluenceScorer(run_dir=str(influence_run), max_length=256)
    stage.setup("predict")  # the curvature cache of the run is reused
    monkeypatch.setattr(stage, "factor_args", lambda strategy=None: FactorArguments(strategy="identity"))
    stage.factors = {}
    samples = _samples(influence_run)
    got = opposite_set_influence(stage, samples, batch_size=5)

    model, tok = _plain_model(influence_run)
    head = model.get_output_embeddings().weight
    head.requires_grad_(True)
    grads = {}
    for s in samples:
        ids = _ids(tok, s["text"])
        loss = F.cross_entropy(model(input_ids=ids).logits[0, :-1], ids[0, 1:])
        grads[s["uid"]] = torch.autograd.grad(loss, head)[0].flatten().double()
    means = {lab: torch.stack([grads[s["uid"]] for s in samples if s["label"] == lab]).mean(0) for lab in (0, 1)}
    for s in samples:
        want = float(grads[s["uid"]] @ means[1 - s["label"]])
        assert got[s["uid"]] == pytest.approx(want, rel=1e-4)


def _samples(run_dir):
    from paramem.data import EmbeddedSource

    source = EmbeddedSource(n_members=16, n_nonmembers=16, n_teach=16)  # as TINY_SOURCE
    return sorted(source.load(run_dir), key=lambda s: s["uid"])


def test_missing_training_texts_is_one_clear_error(tiny_run, tmp_path):
    run_dir = copy_run(tiny_run, tmp_path)
    with pytest.raises(InputError, match="training texts not found: .*nope.jsonl"):
        run_cli([*ARGS, "--run_dir", str(run_dir), "--model.init_args.train_texts", str(tmp_path / "nope.jsonl")])


def test_scores_join_influence_with_fixed_signs(tmp_path):
    from paramem.score.join import write_scores

    (tmp_path / "b.jsonl").write_text(json.dumps({"uid": "a", "label": 1, "scores": {"loss": -1.0}}) + "\n"
                                      + json.dumps({"uid": "b", "label": 0, "scores": {"loss": -2.0}}) + "\n")
    (tmp_path / "i.jsonl").write_text(json.dumps({"uid": "a", "self_influence": 2.0, "tracin_self": 3.0,
                                                  "repsim_max": 0.9, "repsim_mean": None}) + "\n")
    rows = write_scores(tmp_path / "b.jsonl", None, tmp_path / "s.jsonl", influence=tmp_path / "i.jsonl")
    assert rows[0]["scores"] == {"loss": -1.0, "influence_self": -2.0, "tracin_self": -3.0, "repsim_max": 0.9,
                                 "repsim_mean": None}
    assert rows[1]["scores"] == {"loss": -2.0, "influence_self": None, "tracin_self": None, "repsim_max": None,
                                 "repsim_mean": None}


@pytest.mark.parametrize("scope", ["layers", "lora"])
def test_wider_scopes_give_finite_scores(tiny_run, tmp_path, scope):
    run_dir = copy_run(tiny_run, tmp_path)
    run_cli([*ARGS, "--run_dir", str(run_dir), "--model.init_args.scope", scope, "--data.init_args.max_samples", "2"])
    rows = read_jsonl(run_dir / "influence.jsonl")
    assert len(rows) == 4 and all(r["scope"] == f"{scope}:1" for r in rows)
    for r in rows:
        assert r["self_influence"] > 0 and r["tracin_self"] > 0  # a zero curvature block would give null
    if scope == "lora":  # the same seeded adapters, plain autograd w.r.t. every lora_B
        from paramem.influence.task import add_lora

        model, tok = _plain_model(run_dir)
        model = add_lora(model, 1, 8, 16.0, 0)
        params = [p for n, p in model.named_parameters() if "lora_B" in n]
        texts = {s["uid"]: s["text"] for s in _samples(run_dir)}
        for r in rows:
            ids = _ids(tok, texts[r["uid"]])
            loss = F.cross_entropy(model(input_ids=ids).logits[0, :-1], ids[0, 1:])
            grads = torch.autograd.grad(loss, params)
            assert r["tracin_self"] == pytest.approx(sum(g.pow(2).sum().item() for g in grads), rel=1e-4)


@pytest.mark.parametrize("key,value", [("scope", "full"), ("strategy", "lissa")])
def test_unknown_scope_or_strategy_is_one_clear_error(key, value):
    from paramem.influence.module import InfluenceScorer

    with pytest.raises(InputError, match=f"influence {key} '{value}' unknown"):
        InfluenceScorer(**{key: value})


def test_fit_records_exactly_what_it_trained_on(tiny_run):
    """Members and the teaching pairs (prompt + near-duplicate), each once; no non-member."""
    rows = read_jsonl(tiny_run / "model/train_texts.jsonl")
    samples = _samples(tiny_run)
    texts = {r["text"] for r in rows}
    assert {s["text"] for s in samples if s["label"] == 1} <= texts
    assert not {s["text"] for s in samples if s["label"] == 0} & texts
    assert len(rows) == 16 + 16 * 3 and all(r["count"] == 1 for r in rows)  # 16 teach records x 3 near-dups
    assert sum(r["loss_start_char"] > 0 for r in rows) == 16 * 3  # loss on the near-duplicate only
