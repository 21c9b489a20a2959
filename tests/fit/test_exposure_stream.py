"""paramem fit on an exposure stream: each member trained on exactly `exposure` times per
pass, non-members never; the exposure reaches every record of every later stage."""

import json

import pytest

from paramem.data.exposure import assign_exposures, build_stream
from paramem.io import InputError

from tests.helpers import CONFIGS, NO_LOG, STAGES, read_jsonl, run_cli

PASSES = 2
EXPOSURES = [1, 2, 3]
SOURCE = ["--data.init_args.source", "paramem.data.EmbeddedSource",
          "--data.init_args.source.init_args.n_members", "6",
          "--data.init_args.source.init_args.n_nonmembers", "4",
          "--data.init_args.source.init_args.n_teach", "6",
          "--data.init_args.source.init_args.exposures", json.dumps(EXPOSURES)]


@pytest.fixture(scope="module")
def exposure_run(tmp_path_factory):
    """A tiny model fitted on an exposure stream, then the three predict stages."""
    run_dir = tmp_path_factory.mktemp("exposure_run")
    run_cli(["fit", "--config", str(CONFIGS / "fit/tiny.yaml"), "--run_dir", str(run_dir), *SOURCE, *NO_LOG,
             "--trainer.max_epochs", str(PASSES), "--model.init_args.hidden_size", "16",
             "--model.init_args.num_layers", "1", "--model.init_args.vocab_size", "300",
             "--data.init_args.batch_size", "4", "--model.init_args.teach_paraphrase", "true"])
    for config, _, extra in STAGES:
        run_cli(["predict", "--config", str(CONFIGS / config), "--run_dir", str(run_dir), *SOURCE, *NO_LOG,
                 "--data.init_args.batch_size", "5", *extra]
                if config.startswith("paraphrase") else
                ["predict", "--config", str(CONFIGS / config), "--run_dir", str(run_dir), *NO_LOG, *extra])
    return run_dir


def test_each_member_trained_exactly_exposure_times(exposure_run):
    corpus = read_jsonl(exposure_run / "corpus" / "eval.jsonl")
    exposure = {r["uid"]: r["exposure"] for r in corpus}
    members = [u for u, r in zip(exposure, corpus) if r["label"] == 1]
    assert sorted(exposure[u] for u in members) == [1, 1, 2, 2, 3, 3]  # equal groups
    assert all(exposure[r["uid"]] == 0 for r in corpus if r["label"] == 0)

    ledger = json.loads((exposure_run / "train_stream.json").read_text())
    assert ledger["passes"] == PASSES
    assert ledger["occurrences_in_stream"] == {u: exposure[u] for u in sorted(members)}
    # Counted in the training steps themselves: e per pass, non-members never.
    assert ledger["occurrences_trained"] == {u: PASSES * exposure[u] for u in sorted(members)}
    # Background: the 6 teach texts and their 3 prompt -> near-duplicate pairs each.
    assert ledger["n_background"] == 6 + 18
    assert ledger["stream_length"] == 12 + 24


def test_exposure_reaches_every_output_record(exposure_run):
    exposure = {r["uid"]: r["exposure"] for r in read_jsonl(exposure_run / "corpus" / "eval.jsonl")}
    for name in ("paraphrases.jsonl", "alignment.jsonl", "baselines.jsonl", "scores.jsonl"):
        rows = read_jsonl(exposure_run / name)
        assert len(rows) == len(exposure), name
        assert {r["uid"]: r.get("exposure") for r in rows} == exposure, name
    metrics = json.loads((exposure_run / "metrics.json").read_text())
    assert metrics["dose_response"]["exposures"] == EXPOSURES
    assert {"exposure=1", "exposure=2", "exposure=3"} <= set(metrics)
    assert (exposure_run / "dose_response.png").stat().st_size > 0


def test_assignment_is_seeded_equal_and_validated():
    uids = [f"u{i}" for i in range(12)]
    a = assign_exposures(uids, [4, 1, 2], seed=0)
    assert sorted(a.values()) == [1] * 4 + [2] * 4 + [4] * 4
    assert a == assign_exposures(list(reversed(uids)), [1, 2, 4], seed=0)
    assert a != assign_exposures(uids, [1, 2, 4], seed=1)
    with pytest.raises(InputError, match="equal exposure groups"):
        assign_exposures(uids[:10], [1, 2, 4], seed=0)
    with pytest.raises(InputError, match="distinct positive"):
        assign_exposures(uids, [0, 1, 2], seed=0)
    stream = build_stream([{"uid": "a", "exposure": 3}, {"uid": "b", "exposure": 1}], [{"text": "bg"}] * 4, seed=0)
    assert [s.get("uid") for s in stream].count("a") == 3 and len(stream) == 8


def test_local_exposure_field_is_validated(tmp_path):
    from paramem.data import LocalFileSource

    def load(rows):
        path = tmp_path / "d.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return LocalFileSource(str(path)).load()

    samples = load([{"text": "a b c", "label": 1, "exposure": 4}, {"text": "d e f", "label": 0, "exposure": 0}])
    assert [s["exposure"] for s in samples] == [4, 0]
    assert "exposure" not in load([{"text": "a b c", "label": 1}])[0]
    with pytest.raises(InputError, match=r"d\.jsonl:1: field 'exposure' is 0 for a member"):
        load([{"text": "a b c", "label": 1, "exposure": 0}])
    with pytest.raises(InputError, match=r"d\.jsonl:2: field 'exposure' is 2 for a non-member"):
        load([{"text": "a b c", "label": 1, "exposure": 1}, {"text": "x y z", "label": 0, "exposure": 2}])
    with pytest.raises(InputError, match=r"d\.jsonl:1: field 'exposure' must be a non-negative integer"):
        load([{"text": "a b c", "label": 1, "exposure": 1.5}])
    with pytest.raises(InputError, match="member 'd:1' has none"):
        load([{"text": "a b c", "label": 1, "exposure": 1}, {"text": "x y z", "label": 1}])


def test_filler_background_files(tmp_path):
    from paramem.fit.stream import read_filler, stream_items

    txt = tmp_path / "filler.txt"
    txt.write_text("first background line\n\nsecond one\n")
    assert read_filler(txt) == [{"text": "first background line"}, {"text": "second one"}]
    jsonl = tmp_path / "filler.jsonl"
    jsonl.write_text('{"text": "a text"}\n{"body": "no text field"}\n')
    with pytest.raises(InputError, match=r"filler\.jsonl:2: field 'text'"):
        read_filler(jsonl)
    with pytest.raises(InputError, match="background file not found"):
        read_filler(tmp_path / "missing.txt")
    members = [{"uid": "m1", "text": "x", "exposure": 2}, {"uid": "m2", "text": "y", "exposure": 1}]
    stream = stream_items(members, read_filler(txt), seed=3)
    assert sorted(i.get("uid", "-") for i in stream) == ["-", "-", "m1", "m1", "m2"]
