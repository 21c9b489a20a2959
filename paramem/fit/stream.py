"""The exposure stream of ``paramem fit``: members ``exposure`` times among background text.

``stream_items`` builds it (once, seeded; the same order every pass), ``StreamLedger``
counts what the training steps actually consumed and writes ``<run_dir>/train_stream.json``,
so "member m was seen e times" is a measured fact of the run, not an intention.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Sequence

from paramem.data.exposure import build_stream
from paramem.io import InputError, atomic_write_text, dumps, read_jsonl


def read_filler(path: str | Path) -> list[dict]:
    """Background texts from a ``.txt`` file (one text per non-empty line) or a ``.jsonl``
    file (field ``text``)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: background file not found")
    if path.suffix == ".jsonl":
        items = []
        for line, row in read_jsonl(path):
            text = row.get("text")
            if not isinstance(text, str) or not text.strip():
                raise InputError(f"{path}:{line}: field 'text' must be a non-empty string")
            items.append({"text": text})
    else:
        try:
            items = [{"text": t} for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]
        except UnicodeDecodeError as e:
            raise InputError(f"{path}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
    if not items:
        raise InputError(f"{path}: no background text")
    return items


def has_exposure(members: Sequence[dict]) -> bool:
    return bool(members) and all("exposure" in m for m in members)


def stream_items(members: Sequence[dict], background: Sequence[dict], seed: int) -> list[dict]:
    """Training items of an exposure stream: ``{text, loss_start_char, uid?}`` per occurrence."""
    member_items = [{"uid": m["uid"], "text": m["text"], "loss_start_char": m.get("loss_start_char", 0),
                     "exposure": int(m["exposure"])} for m in members]
    return build_stream(member_items, background, seed)


class StreamLedger:
    """Occurrences of each member in the stream and in the batches actually trained on."""

    def __init__(self) -> None:
        self.exposure: dict[str, int] = {}
        self.in_stream: Counter = Counter()
        self.trained: Counter = Counter()
        self.length = self.n_background = 0

    def plan(self, stream: Sequence[dict]) -> None:
        self.length = len(stream)
        self.in_stream = Counter(item["uid"] for item in stream if "exposure" in item)
        self.exposure = {item["uid"]: item["exposure"] for item in stream if "exposure" in item}
        self.n_background = self.length - sum(self.in_stream.values())

    def consumed(self, batch: Sequence[dict]) -> None:
        self.trained.update(item["uid"] for item in batch if "exposure" in item)

    def merged_trained(self) -> Counter:
        """Trained counts over all ranks (each DDP rank sees its own part of the stream)."""
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return self.trained
        parts: list = [None] * dist.get_world_size()
        dist.all_gather_object(parts, dict(self.trained))
        return sum((Counter(p) for p in parts), Counter())

    def write(self, path: str | Path, passes: int, seed: int, trained: Counter) -> None:
        groups: dict[int, list[str]] = {}
        for uid, e in self.exposure.items():
            groups.setdefault(e, []).append(uid)
        summary = {
            "seed": seed, "passes": passes, "stream_length": self.length, "n_background": self.n_background,
            "group_sizes": {str(e): len(uids) for e, uids in sorted(groups.items())},
            "exposure": dict(sorted(self.exposure.items())),
            "occurrences_in_stream": dict(sorted(self.in_stream.items())),
            "occurrences_trained": dict(sorted(trained.items())),
        }
        atomic_write_text(path, dumps(summary) + "\n")
