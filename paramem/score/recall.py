"""ReCaLL and Con-ReCall (DESIGN.md): how a known prefix changes the text's likelihood.

``recall``     = LL(x | P_non) / LL(x)
``con_recall`` = (LL(x | P_non) - gamma * LL(x | P_mem)) / LL(x), gamma = 0.5
LL = mean token log-likelihood of x's own tokens; P_non / P_mem = a prefix of known
non-member / member texts. Conditioning a member on non-member context costs it a larger
share of its likelihood (ReCaLL's finding), so both ratios are "larger => member" as
published.

The prefixes come from a labelled **prefix pool disjoint from the evaluated samples**:
drawing them from the evaluation set leaks labels, so a pool sharing a uid or a text with
an evaluated sample is refused. Pools: a labelled local file (``uid``/``text``/``label``
like any LocalFileSource), or an embedded corpus directory (``<run_dir>/corpus``), whose
pool comes from its teach records: members are the teach texts and near-duplicates that
the target model really trained on, read from the ``train_texts.jsonl`` that ``paramem fit``
writes beside the model (the exposure demo trains on the teach texts as background; a
members-only fit that teaches the paraphrase prompt trains on their near-duplicates);
non-members are further records of the same generator that no file and no training step
ever held. Without that record (a model not trained by ``paramem fit``) the pool is refused
rather than guessed.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from paramem.io import InputError, expand_run_dir, read_jsonl
from paramem.layout import RunLayout
from paramem.score.registry import TextStats, register
from paramem.score.settings import SEED
from paramem.settings import RangeChecked


@dataclass(frozen=True)
class RecallSettings(RangeChecked):
    """ReCaLL / Con-ReCall prefixes (``model.init_args.recall``).

    Args:
        prefix_pool: the labelled pool the prefixes come from: a local file or an embedded
            corpus dir (``{run_dir}`` allowed); null: no pool, so recall / con_recall cannot run.
        prefix_shots: texts per prefix, >= 1.
        prefix_seed: which pool texts form the prefix, >= 0.
        gamma: Con-ReCall weight of the member prefix, in [0, 1].
    """

    GROUP = "recall"
    RANGES = {"prefix_shots": {"low": 1, "integer": True}, "prefix_seed": SEED, "gamma": {"low": 0, "high": 1}}
    prefix_pool: str | None = None
    prefix_shots: int = 4
    prefix_seed: int = 0
    gamma: float = 0.5


def _norm(text: str) -> str:
    return " ".join(text.split())


class PrefixPool:
    """Labelled texts for ReCaLL prefixes: ``entries`` = [{uid, text, label}]."""

    def __init__(self, entries: list[dict], where: str) -> None:
        self.entries, self.where = entries, where
        self.uids = {str(e["uid"]): e for e in entries}
        self.texts = {_norm(e["text"]): e for e in entries}
        for label in (0, 1):
            if not any(e["label"] == label for e in entries):
                kind = "member" if label else "non-member"
                raise InputError(f"prefix pool {where}: no {kind} texts (label {label})")

    @classmethod
    def load(cls, path: str, run_dir: str | Path = ".", model_dir: str | Path | None = None) -> "PrefixPool":
        p = expand_run_dir(path, run_dir)
        if p.is_dir():
            return cls(embedded_pool(p, Path(model_dir) if model_dir else RunLayout(run_dir).model_dir), str(p))
        if not p.exists():
            raise InputError(f"prefix pool {p}: file not found")
        from paramem.data.local import LocalFileSource

        samples = LocalFileSource(str(p)).load()
        return cls([{"uid": s["uid"], "text": s["text"], "label": s["label"]} for s in samples], str(p))

    def check_disjoint(self, samples: list[dict]) -> None:
        for s in samples:
            hit = self.uids.get(str(s["uid"])) or self.texts.get(_norm(s["text"]))
            if hit is not None:
                same = "uid" if str(hit["uid"]) == str(s["uid"]) else "text"
                raise InputError(f"prefix pool {self.where}: entry {hit['uid']!r} has the same {same} as evaluated "
                                 f"sample {s['uid']!r}; the pool must be disjoint from the evaluated samples "
                                 f"(prefixes taken from them leak labels)")

    def prefix(self, label: int, n_shots: int, seed: int) -> str:
        """``n_shots`` texts of one label (a seeded draw, the same for every sample), one per line."""
        texts = sorted((e["text"] for e in self.entries if e["label"] == label))
        if n_shots > len(texts):
            raise InputError(f"prefix pool {self.where}: {n_shots} shots asked, only {len(texts)} texts of label {label}")
        return "\n".join(random.Random(f"{seed}:{label}").sample(texts, n_shots)) + "\n"


def embedded_pool(corpus_dir: Path, model_dir: Path) -> list[dict]:
    """The embedded corpus' pool: teach texts the model trained on (members), unseen records
    (non-members)."""
    from paramem.data.embedded import generate_records

    try:
        manifest = json.loads((corpus_dir / "corpus.json").read_text(encoding="utf-8"))
        params = manifest["params"]
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"prefix pool {corpus_dir}: not an embedded corpus directory (corpus.json: {e})") from None
    teach = [rec for _, rec in read_jsonl(corpus_dir / "teach.jsonl")]
    trained_file = model_dir / "train_texts.jsonl"
    if not trained_file.exists():
        raise InputError(f"prefix pool {corpus_dir}: {trained_file} not found; the embedded pool's member "
                         f"prefixes are the teach texts the model trained on, which `paramem fit` records there "
                         f"(for another model give a labelled prefix file)")
    # What the loss covered: a whole text, or the target of a prompt -> near-duplicate pair.
    trained = {_norm(r["text"][int(r.get("loss_start_char") or 0):]) for _, r in read_jsonl(trained_file)}
    candidates = [(f"{r['uid']}", r["text"]) for r in teach]
    candidates += [(f"{r['uid']}:dup{j}", d) for r in teach for j, d in enumerate(r.get("neardups", []))]
    members = [{"uid": uid, "text": text, "label": 1} for uid, text in candidates if _norm(text) in trained]
    start = params["n_members"] + params["n_nonmembers"] + params["n_teach"]
    fresh = generate_records(max(8, len(teach)), params["seed"], n_neardups=0, start=start)
    nonmembers = [{"uid": f"pool-{r['id']:05d}", "text": r["text"], "label": 0} for r in fresh]
    return members + nonmembers


def _ratio(num: float | None, ll: float | None) -> float | None:
    return None if num is None or ll in (None, 0) else num / ll


@register("recall", formula="LL(x | P_non) / LL(x)", variants=("recall_non",), needs=("prefix_pool",))
def recall(ts: TextStats) -> float | None:
    return _ratio(ts.variants["recall_non"].ll, ts.original.ll)


@register("con_recall", formula="(LL(x | P_non) - gamma * LL(x | P_mem)) / LL(x), gamma = 0.5",
          variants=("recall_non", "recall_mem"), needs=("prefix_pool",))
def con_recall(ts: TextStats) -> float | None:
    non, mem = ts.variants["recall_non"].ll, ts.variants["recall_mem"].ll
    return None if non is None or mem is None else _ratio(non - ts.settings.recall.gamma * mem, ts.original.ll)
