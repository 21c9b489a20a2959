"""The embedded default: a synthetic corpus with known members, written into the run dir."""

from __future__ import annotations

from pathlib import Path

from paramem.data.local import LocalFileSource
from paramem.data.sample import Source
from paramem.io import read_jsonl
from paramem.layout import RunLayout
from paramem.settings import check_number


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
        for name, value in self.params.items():
            check_number(f"data.init_args.source.init_args.{name}", value, 0, integer=True)
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
        from paramem.data.embedded import write_corpus

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


class PyDocsSource(Source):
    """Real human-written text: paragraphs of CPython's documentation (``pydoc_data.topics``
    and standard-library docstrings, ``paramem.data.pydocs``), ``min_words..max_words``
    words each. Members, non-members, ``teach`` (background for an exposure stream) and
    ``n_prefix`` unseen paragraphs (the non-members of ``prefix_pool.jsonl``, a labelled
    ReCaLL pool) are cut from one seeded shuffle; ``exposures`` as for ``EmbeddedSource``.
    ``qa: true`` gives TOFU-shaped samples: ``Question: What does the Python documentation
    say about <topic>?\\nAnswer: <paragraph>``, loss on the answer. Written into
    ``<run_dir>/corpus`` (or ``corpus_dir``) with a manifest naming the Python version the
    text came from."""

    VERSION = 1

    def __init__(self, n_members: int = 200, n_nonmembers: int = 200, n_teach: int = 400, n_prefix: int = 16,
                 seed: int = 0, min_words: int = 30, max_words: int = 120, qa: bool = False,
                 exposures: list[int] | None = None, corpus_dir: str | None = None) -> None:
        from paramem.io import InputError

        for key, value in (("n_members", n_members), ("n_nonmembers", n_nonmembers), ("n_teach", n_teach),
                           ("n_prefix", n_prefix), ("min_words", min_words), ("max_words", max_words)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InputError(f"PyDocsSource: {key} is {value!r}: it must be an integer >= 0")
        if not 1 <= min_words <= max_words:
            raise InputError(f"PyDocsSource: word window {min_words}..{max_words} is empty (need 1 <= min_words "
                             f"<= max_words)")
        self.params = dict(n_members=n_members, n_nonmembers=n_nonmembers, n_teach=n_teach, n_prefix=n_prefix,
                           seed=seed, min_words=min_words, max_words=max_words, qa=bool(qa), exposures=None)
        if exposures:
            from paramem.data.exposure import check_exposures

            self.params["exposures"] = check_exposures(exposures, n_members)
        self.corpus_dir = corpus_dir

    def name(self) -> str:
        return "pydocs"

    def write(self, run_dir: Path | None = None) -> dict[str, Path]:
        """The corpus files (``eval``, ``teach``, ``prefix_pool``, ``corpus``), built or reused."""
        from paramem.data.corpus_files import write_checked
        from paramem.data.pydocs import build_pydocs_corpus, paragraph_pool, pool_fingerprint

        out = Path(self.corpus_dir) if self.corpus_dir else RunLayout(run_dir or ".").corpus_dir
        text = pool_fingerprint(paragraph_pool(self.params["min_words"], self.params["max_words"]))
        head = {"generator": "paramem.data.pydocs", "version": self.VERSION, "params": self.params, "text": text}
        return write_checked(out, head, lambda: build_pydocs_corpus(**self.params))

    def load(self, run_dir: Path | None = None) -> list[dict]:
        return LocalFileSource(str(self.write(run_dir)["eval"]), domain="pydocs").load()

    def auxiliary(self, run_dir: Path | None = None) -> list[dict]:
        return [record for _, record in read_jsonl(self.write(run_dir)["teach"])]
