"""One LightningDataModule for every stage: samples ``{uid, text, label, domain, ...}``.

Batches are plain lists of sample dicts; each stage tokenizes with its own tokenizer.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import lightning.pytorch as pl
from torch.utils.data import DataLoader

from paramem.data.sample import Source, checked_samples
from paramem.settings import check_number

log = logging.getLogger(__name__)


def _as_list(batch: list[dict]) -> list[dict]:
    return batch


class MIADataModule(pl.LightningDataModule):
    """Args:
        source: where samples come from (``class_path`` of a Source in YAML).
        run_dir: the run directory (set once for all stages by the top-level ``run_dir``).
        batch_size: samples per batch (each stage may expand a sample into several rows).
        max_samples: keep at most this many samples per label (seeded choice).
        balance: down-sample the larger class to the size of the smaller.
        seed: for sub-sampling and training-order shuffles.
        num_workers: DataLoader workers.
    """

    def __init__(self, source: Source, run_dir: str = "lightning_logs/paramem", batch_size: int = 8,
                 max_samples: int | None = None, balance: bool = False, seed: int = 0,
                 num_workers: int = 0) -> None:
        super().__init__()
        for name, value, least in (("batch_size", batch_size, 1), ("max_samples", max_samples, 1),
                                   ("num_workers", num_workers, 0), ("seed", seed, 0)):
            check_number(f"data.init_args.{name}", value, least, integer=True, optional=name == "max_samples")
        self.source = source
        self.run_dir = Path(run_dir)
        self.batch_size = batch_size
        self.max_samples = max_samples
        self.balance = balance
        self.seed = seed
        self.num_workers = num_workers
        self.samples: list[dict] | None = None
        self.exclude_uids: set[str] = set()  # filled by the prediction writer on resume

    # -- loading ---------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.samples is not None:
            return
        # A file source has checked its rows already (naming them); this guards every other source.
        samples = checked_samples(((s, None) for s in self.source.load(self.run_dir)), self.source.name())
        self.samples = self._subsample(samples)
        n_mem = sum(s["label"] == 1 for s in self.samples)
        log.info("%s: %d samples (%d members, %d non-members)", self.source.name(), len(self.samples), n_mem,
                 len(self.samples) - n_mem)

    def _subsample(self, samples: list[dict]) -> list[dict]:
        by_label = {lab: [s for s in samples if s["label"] == lab] for lab in (1, 0)}
        limit = self.max_samples
        if self.balance and all(by_label.values()):
            smaller = min(len(v) for v in by_label.values())
            limit = smaller if limit is None else min(limit, smaller)
        if limit is None:
            return samples
        rng = random.Random(self.seed)
        keep: set[str] = set()
        for group in by_label.values():
            chosen = group if len(group) <= limit else rng.sample(group, limit)
            keep.update(s["uid"] for s in chosen)
        return [s for s in samples if s["uid"] in keep]  # source order kept

    # -- loaders ---------------------------------------------------------------------------
    def _loader(self, items: list, shuffle: bool = False) -> DataLoader:
        return DataLoader(items, batch_size=self.batch_size, shuffle=shuffle, collate_fn=_as_list,
                          num_workers=self.num_workers)

    def predict_samples(self) -> list[dict]:
        """Samples not yet done, longest first (length buckets; an OOM shows up at once)."""
        todo = [s for s in self.samples if s["uid"] not in self.exclude_uids]
        return sorted(todo, key=lambda s: (-len(s["text"]), s["uid"]))

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.predict_samples())

    def train_dataloader(self) -> DataLoader:
        items = [s for s in self.samples if s["label"] == 1]
        module = self.trainer.lightning_module if self.trainer is not None else None
        if module is not None and hasattr(module, "training_items"):
            items = module.training_items(items, self.source.auxiliary(self.run_dir))
        # An exposure stream is shuffled once, by its builder, and kept in that order.
        return self._loader(items, shuffle=getattr(module, "shuffle_training_items", True))

    def val_dataloader(self) -> list[DataLoader]:
        """[members, non-members]: fit logs the mean loss on each."""
        return [self._loader([s for s in self.samples if s["label"] == lab]) for lab in (1, 0)]
