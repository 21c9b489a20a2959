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
pool comes from its teach records: members are their near-duplicates (``paramem fit``
trains on them when it teaches the paraphrase prompt, as the demo does), non-members are
further records of the same generator that no file and no training step ever held.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from paramem.io import InputError, read_jsonl
from paramem.score.registry import TextStats, register


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
    def load(cls, path: str, run_dir: str | Path = ".") -> "PrefixPool":
        p = Path(str(path).replace("{run_dir}", str(run_dir)))
        if p.is_dir():
            return cls(embedded_pool(p), str(p))
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


def embedded_pool(corpus_dir: Path) -> list[dict]:
    """The embedded corpus' pool: teach near-duplicates (members), unseen records (non-members)."""
    from paramem.data.embedded import generate_records

    try:
        manifest = json.loads((corpus_dir / "corpus.json").read_text(encoding="utf-8"))
        params = manifest["params"]
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"prefix pool {corpus_dir}: not an embedded corpus directory (corpus.json: {e})") from None
    teach = [rec for _, rec in read_jsonl(corpus_dir / "teach.jsonl")]
    members = [{"uid": f"{r['uid']}:dup{j}", "text": d, "label": 1}
               for r in teach for j, d in enumerate(r.get("neardups", []))]
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
    return None if non is None or mem is None else _ratio(non - ts.settings.gamma * mem, ts.original.ll)
