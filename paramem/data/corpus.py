"""The embedded default: a synthetic corpus with known members, written into the run dir."""

from __future__ import annotations

from pathlib import Path

from paramem.data.local import LocalFileSource
from paramem.data.sample import Source
from paramem.io import read_jsonl
from paramem.layout import RunLayout


class EmbeddedSource(Source):
    """Fictitious-person records (``paramem.data.embedded``), members and non-members drawn
    from one distribution; each sample arrives with reference near-duplicates as
    ``paraphrases``. ``teach`` records (disjoint, never evaluated) are the auxiliary data a
    tiny model learns the paraphrase prompt from (and, on an exposure stream, the
    background text). ``exposures`` (e.g. ``[1, 2, 4, 8, 16]``) splits the members into
    equal seeded groups that ``paramem fit`` shows that many times; non-members get 0."""

    def __init__(self, n_members: int = 200, n_nonmembers: int = 200, n_teach: int = 400, seed: int = 0,
                 n_neardups: int = 3, corpus_dir: str | None = None, exposures: list[int] | None = None) -> None:
        self.params = dict(n_members=n_members, n_nonmembers=n_nonmembers, n_teach=n_teach, seed=seed,
                           n_neardups=n_neardups)
        if exposures:  # absent otherwise (null or []): corpora written before it stay valid
            from paramem.data.exposure import check_exposures

            self.params["exposures"] = check_exposures(exposures, n_members)
        self.corpus_dir = corpus_dir
        self._teach: dict[Path, list[dict]] = {}  # corpus dir -> teach records, read once

    def name(self) -> str:
        return "embedded"

    def _dir(self, run_dir: Path | None) -> Path:
        return Path(self.corpus_dir) if self.corpus_dir else RunLayout(run_dir or ".").corpus_dir

    def _write(self, run_dir: Path | None) -> dict[str, Path]:
        from paramem.data.corpus_store import write_corpus

        return write_corpus(self._dir(run_dir), **self.params)

    def load(self, run_dir: Path | None = None) -> list[dict]:
        files = self._write(run_dir)
        return LocalFileSource(str(files["eval"]), domain="embedded").load()

    def auxiliary(self, run_dir: Path | None = None) -> list[dict]:
        # `paramem fit` asks twice (tokenizer training, then the train set): write/verify once.
        key = self._dir(run_dir).resolve()
        if key not in self._teach:
            files = self._write(run_dir)
            self._teach[key] = [record for _, record in read_jsonl(files["teach"])]
        return list(self._teach[key])
