"""Every path of a run dir, in one place: stages, the writer and the report take theirs from here.

::

    <run_dir>/
      corpus/            eval.jsonl, teach.jsonl, corpus.json: the embedded corpus (shared, written once)
      model/             the fitted target model, train_texts.jsonl (shared, written by `paramem fit`)
      train_stream.json  what the fit's steps consumed (exposure stream)
      tokenizer_build/   the fit's BPE tokenizer work files
      <stage output>     paraphrases.jsonl, alignment.jsonl, influence.jsonl, baselines.jsonl
      <output>.settings.json   the resume signature of that output
      scores.jsonl, metrics.json, metrics.csv, *.png   the report of the mia stage
      shards/<stem>/     per-rank shards of a stage in progress
      set_aside/<stem>-<settings hash>.jsonl   finished records of samples that left the input
      influence_factors/ the influence stage's curvature cache
      cache/fingerprints.json  content digests of the files stages read (paramem.fingerprint)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

# Outputs computed with the target model: a new model makes them stale (paraphrases come
# from the paraphraser, which the stage's own resume signature fingerprints).
MODEL_OUTPUTS = ("alignment.jsonl", "influence.jsonl", "baselines.jsonl", "scores.jsonl")


class RunLayout:
    def __init__(self, run_dir: str | Path) -> None:
        self.root = Path(run_dir)

    @property
    def corpus_dir(self) -> Path:
        return self.root / "corpus"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def train_texts(self) -> Path:
        return self.model_dir / "train_texts.jsonl"

    @property
    def train_stream(self) -> Path:
        return self.root / "train_stream.json"

    @property
    def tokenizer_build(self) -> Path:
        return self.root / "tokenizer_build"

    @property
    def influence_factors(self) -> Path:
        return self.root / "influence_factors"

    @property
    def fingerprint_cache(self) -> Path:
        return self.root / "cache" / "fingerprints.json"

    @property
    def scores(self) -> Path:
        return self.root / "scores.jsonl"

    def output(self, name: str) -> Path:
        """A stage's final output file (``output_name``) or another stage's, to join."""
        return self.root / name

    @staticmethod
    def settings(output: Path) -> Path:
        return output.with_name(output.name + ".settings.json")

    @staticmethod
    def shards(output: Path) -> Path:
        return output.parent / "shards" / output.stem

    @staticmethod
    def set_aside(output: Path, signature: dict) -> Path:
        """Where the records of samples that left the input are kept, one file per settings
        (they are reused only by a run with the same settings)."""
        blob = json.dumps(signature, sort_keys=True, default=repr).encode("utf-8")
        return output.parent / "set_aside" / f"{output.stem}-{hashlib.sha256(blob).hexdigest()[:12]}.jsonl"

    def model_outputs(self) -> list[Path]:
        return [self.output(name) for name in MODEL_OUTPUTS if self.output(name).exists()]
