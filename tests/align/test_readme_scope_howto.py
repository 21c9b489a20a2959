"""README "Add an alignment scope", run as written: its scope goes through the registry
and matches plain autograd, so the how-to stays true to the code."""

import re

import pytest
import torch

import paramem.align.scopes as scopes
from tests.align.helpers import make_batch, tokens
from tests.helpers import REPO


def _readme_snippet(heading: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(heading)
    return re.search(r"```python\n(.*?)```", text[start:], re.S).group(1)


@pytest.mark.parametrize("side", ["left", "right"])
def test_the_readme_embeddings_scope_matches_autograd(tiny_models, monkeypatch, side):
    namespace = {name: getattr(scopes, name) for name in ("Scope", "HeadScope", "LayersScope", "FullScope")}
    exec(_readme_snippet("**Add an alignment scope**"), namespace)
    monkeypatch.setattr(scopes, "SCOPES", namespace["SCOPES"])

    model = tiny_models["neox"]
    emb = model.get_input_embeddings().weight
    ids, am, _, groups, texts, _ = make_batch(model.config.vocab_size, side, seed=23)
    results = scopes.align_scope(model, tokens(ids, am), groups, scope="embeddings")

    def grad(text):  # the model's own loss on the unpadded text, differentiated w.r.t. the embeddings
        before = emb.requires_grad
        emb.requires_grad_(True)
        try:
            loss = model(input_ids=text[None], labels=text[None]).loss
            return torch.autograd.grad(loss, emb)[0].reshape(-1)
        finally:
            emb.requires_grad_(before)  # the models are shared by the session

    for res, (orig, paras) in zip(results, groups):
        g0 = grad(texts[orig])
        assert res["grad_norm"] == pytest.approx(float(g0.norm()), rel=1e-4)
        for k, p in enumerate(paras):
            gp = grad(texts[p])
            assert res["cosines"][k] == pytest.approx(float(g0 @ gp / (g0.norm() * gp.norm())), abs=1e-4)
    assert scopes.get_scope("embeddings").label(1) == "embeddings"
    with pytest.raises(ValueError, match="embeddings"):  # the error lists the registered scopes
        scopes.get_scope("no_such_scope")
