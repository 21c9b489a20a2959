"""What every predict stage shares: run dir, output file, model loading, OOM back-off.

A stage implements ``process(batch: list[dict]) -> list[dict]`` (one record per sample,
each with its ``uid``); the shared ShardedPredictionWriter streams the records to disk.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import asdict, is_dataclass
from pathlib import Path

import lightning.pytorch as pl
import torch

from paramem.io import InputError
from paramem.models.gguf import gguf_source
from paramem.models.loading import expand_model_path, load_causal_lm, load_tokenizer
from paramem.settings import leaves

log = logging.getLogger(__name__)


def is_oom(error: BaseException) -> bool:
    return isinstance(error, torch.OutOfMemoryError) or "out of memory" in str(error).lower()


class PredictStage(pl.LightningModule):
    """Args:
        run_dir: run directory (outputs go to ``<run_dir>/<output_name>``).
        model: target model (hub id, local dir, ``.gguf`` file or GGUF alias; ``{run_dir}`` is
            expanded); ``null`` = ``<run_dir>/model`` from ``paramem fit``.
        dtype: ``auto`` (bf16 on capable GPUs, else float32), float32, bfloat16, float16.
        max_length: texts longer than this many tokens are truncated (and say so).
        trust_remote_code: allow code from the model repo (off by default).
        add_special_tokens: ``auto`` (the tokenizer's own default, as ``tokenizer.encode(text)``:
            BOS first for LLaMA-family models), ``true`` or ``false``.
    """

    output_name = "predictions.jsonl"
    # Constructor arguments that cannot change a record: where outputs go, how work is
    # chunked, what code may run. Every other argument (also one added later) is part of
    # the resume signature; subclasses add their own neutral settings.
    result_neutral: frozenset[str] = frozenset({"run_dir", "trust_remote_code"})
    # Arguments naming a model or a data file (a group's field as ``group.field``): compared by
    # the files' fingerprint, not by name.
    model_settings: tuple[str, ...] = ("model",)
    # Keys of earlier versions -> their key now (``group.field``): paramem.parse_errors names it.
    moved_settings: dict[str, str] = {}
    max_length_setting = "max_length"  # the constructor argument that arrives here as max_length

    def __init__(self, run_dir: str = "lightning_logs/paramem", model: str | None = None, dtype: str = "auto",
                 max_length: int = 512, trust_remote_code: bool = False,
                 add_special_tokens: str | bool = "auto") -> None:
        super().__init__()
        if not isinstance(max_length, int) or max_length < 2:
            raise InputError(f"model.init_args.{self.max_length_setting} is {max_length!r}: it must be an integer "
                             f">= 2 (a text needs a first token and at least one token to predict)")
        # Records the constructor arguments of the concrete stage too (its frame is above this one);
        # a settings group is kept as the plain mapping of its fields (loggers, hparams.yaml).
        self.save_hyperparameters()
        for name, value in list(self.hparams.items()):
            if is_dataclass(value) and not isinstance(value, type):
                self.hparams[name] = asdict(value)
        from paramem.textbatch import special_tokens_kwargs

        try:
            special_tokens_kwargs(add_special_tokens)
        except ValueError as e:
            raise InputError(f"model.init_args.add_special_tokens: {e}") from None
        self.add_special_tokens = add_special_tokens
        self.run_dir = Path(run_dir)
        self.model_name = expand_model_path(model, run_dir)
        self.dtype_name = dtype
        self.max_length = max_length
        self.trust_remote_code = trust_remote_code
        self.lm = None
        self.tokenizer = None
        self.working_batch_size: int | None = None  # largest batch that ran after an OOM split
        self.oom_splits = 0

    @property
    def layout(self):
        from paramem.layout import RunLayout

        return RunLayout(self.run_dir)

    @property
    def model_path(self) -> str:
        return self.model_name if self.model_name is not None else str(self.layout.model_dir)

    def model_fingerprint(self, name: str | None = None) -> str:
        """A local model, data file or corpus dir (``{run_dir}`` expanded): its files' contents
        (paramem.fingerprint: cached per file, so a multi-GB checkpoint is hashed once); a
        GGUF file or alias: the GGUF file, not the cache directory it is dequantized into;
        anything else (a hub id): the name."""
        from paramem.fingerprint import DigestCache, path_fingerprint

        name = expand_model_path(name, self.run_dir) or self.model_path
        path = gguf_source(name) or Path(name)
        if not path.exists():
            return str(name)
        cache_file = self.layout.fingerprint_cache if self.run_dir.is_dir() else None
        return path_fingerprint(path, DigestCache(cache_file))

    def run_signature(self) -> dict:
        """What a resumed run must share with the results already in the run dir: every
        saved constructor argument except ``result_neutral`` ones, models by fingerprint."""
        signature = {"stage": type(self).__name__}
        own = inspect.signature(type(self).__init__).parameters  # not a base's renamed copy
        for name, value in sorted(self.hparams.items()):
            if name in self.result_neutral or name not in own:
                continue
            if name == "model":  # the files that load, also when the argument is an alias or null
                value = self.model_fingerprint()
            for key, leaf in leaves(name, value).items():  # a group: one entry per leaf setting
                # The CLI saves a group as {class_path, init_args}: dcpdd.init_args.a is field dcpdd.a.
                setting = key.replace(".init_args.", ".")
                named_file = setting in self.model_settings and setting != "model" and leaf is not None
                signature[key] = self.model_fingerprint(leaf) if named_file else leaf
        signature.update(self.signature_extra())
        return signature

    def signature_extra(self) -> dict:
        """Inputs of the results that are not constructor arguments (e.g. a file's content)."""
        return {}

    # -- W&B lineage (paramem.artifacts; the writer logs them after the merge) ------------------
    def artifact_outputs(self) -> dict[str, list[Path]]:
        """{artifact kind: files} this stage wrote."""
        return {Path(self.output_name).stem: [self.run_dir / self.output_name]}

    def artifact_inputs(self) -> dict[str, list[Path]]:
        """{artifact kind: files} this stage read: the model when it is a local directory, and
        the data file when it is another stage's output (its name says which)."""
        from paramem.artifacts import KINDS

        from paramem.layout import RunLayout

        layout = RunLayout(self.run_dir)
        inputs = {}
        # Only the run's own model is the "model" artifact; another (a paraphraser) would be
        # logged as a new version of it.
        if Path(self.model_path).is_dir() and Path(self.model_path).resolve() == layout.model_dir.resolve():
            inputs["model"] = [layout.model_dir]
        source = getattr(getattr(self._trainer, "datamodule", None), "source", None) if self._trainer else None
        corpus = corpus_files(source, layout)
        if corpus:
            inputs["corpus"] = corpus
        data = getattr(source, "path", None)
        if data is not None and Path(data).stem in KINDS and Path(data).is_file():
            inputs.setdefault(Path(data).stem, []).append(Path(data))
        return inputs

    def load_lm(self, name: str):
        device = self.trainer.strategy.root_device if self._trainer is not None else None
        tok = load_tokenizer(name, trust_remote_code=self.trust_remote_code, padding_side="left")
        lm = load_causal_lm(name, dtype=self.dtype_name, trust_remote_code=self.trust_remote_code, device=device)
        lm.requires_grad_(False)
        return lm, tok

    def setup(self, stage: str) -> None:
        if self.lm is None:
            self.lm, self.tokenizer = self.load_lm(self.model_path)

    # -- predict loop ------------------------------------------------------------------------
    def process(self, batch: list[dict]) -> list[dict]:
        raise NotImplementedError

    def predict_step(self, batch: list[dict], batch_idx: int, dataloader_idx: int = 0) -> list[dict]:
        return self._process_splitting(batch)

    def _process_splitting(self, batch: list[dict], after_split: bool = False) -> list[dict]:
        """On out-of-memory, halve the batch and retry, down to one sample."""
        try:
            out = self.process(batch)
        except (torch.OutOfMemoryError, RuntimeError) as e:
            if not is_oom(e):
                raise
            if len(batch) == 1:
                raise RuntimeError(f"out of memory on a single sample (uid {batch[0]['uid']}); "
                                   f"lower max_length or use a smaller dtype") from e
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            self.oom_splits += 1
            half = len(batch) // 2
            log.warning("out of memory at batch size %d: retrying as %d + %d", len(batch), half, len(batch) - half)
            return (self._process_splitting(batch[:half], after_split=True)
                    + self._process_splitting(batch[half:], after_split=True))
        if after_split and len(batch) > (self.working_batch_size or 0):
            self.working_batch_size = len(batch)
            log.warning("batch size %d runs after an out-of-memory split", len(batch))
        return out

    def on_predict_end(self) -> None:
        if self.oom_splits:
            log.warning("%d out-of-memory splits on this rank; largest batch size that ran after a split: %d "
                        "(set data.batch_size to it)", self.oom_splits, self.working_batch_size)


def corpus_files(source, layout) -> list[Path]:
    """The files of the run dir's corpus when ``source`` reads it (the embedded or pydocs
    corpus that ``paramem fit`` wrote), else none."""
    if source is None or not hasattr(source, "corpus_dir"):
        return []
    corpus_dir = Path(source.corpus_dir) if source.corpus_dir else layout.corpus_dir
    if corpus_dir.resolve() != layout.corpus_dir.resolve() or not (corpus_dir / "corpus.json").is_file():
        return []
    return sorted(f for f in corpus_dir.iterdir() if f.is_file())
