"""MIA methods as a predict loop, then the report (scores.jsonl, metrics, figures, W&B).

Methods come from the registry (paramem.score.registry). Per batch, every text variant the
requested methods read (registered builders, paramem.score.variants: the original, its
lower-cased form, its paraphrases, its prefix-conditioned forms, its word-swapped copies)
is tokenized once, the rows are sorted
by length and packed into forwards of ``rows_per_forward`` rows, and one forward per row
yields the statistics every token-level method shares (paramem.score.tokenstats). The
reference model adds one row per text; SaMIA adds one batched generate call. The blind
baseline scores all texts at once when the outputs are merged. Every score in the output
follows "larger = member". The merged records then go to paramem.score.join.join_and_report:
the registered methods of the run dir's ``alignment.jsonl`` and ``influence.jsonl``
(paramem.score.joined) join them, and the report is written.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from paramem.io import InputError
from paramem.models.loading import expand_model_path
from paramem.records import output_record
from paramem.score import registry
from paramem.score.dcpdd import DcpddSettings
from paramem.score.methods import LowestKSettings
from paramem.score.recall import RecallSettings
from paramem.score.settings import BlindSettings, PacSettings, ReportSettings, SamiaSettings
from paramem.settings import as_group
from paramem.stage import PredictStage
from paramem.textbatch import pad, special_tokens_kwargs, tokenize

log = logging.getLogger(__name__)
CLASSIC = ("loss", "zlib", "mink", "minkpp", "lowercase", "neighbor", "gradnorm", "gapk", "acmia", "camia")


class BaselineScorer(PredictStage):
    """Args (beyond PredictStage's):
        methods: registered method names (null: the classic ones, pac and blind_bow, plus
            ref / recall + con_recall / dcpdd when reference_model / recall.prefix_pool /
            dcpdd.frequency_corpus is set; samia, samia_zlib and ngram_coverage only on request).
        reference_model: a smaller model of the same tokenizer family for ``ref``.
        lowest_k / recall / dcpdd: the settings groups defined beside their methods (min-k%
            and min-k%++ fractions, paramem.score.methods; ReCaLL's prefix pool, shots, seed
            and Con-ReCall gamma, paramem.score.recall; DC-PDD's reference corpus and cap a,
            paramem.score.dcpdd).
        pac / samia / blind / report: the settings groups of paramem.score.settings (PAC's
            swapped copies; SaMIA sampling; the blind baseline's k-fold; the report's bootstrap).
        rows_per_forward: text rows per forward pass.
        alignment_file: per-sample alignment to join into scores.jsonl (missing: skipped).
    """

    output_name = "baselines.jsonl"
    # Packing and the report's settings: the report is rebuilt from every record on each run.
    result_neutral = PredictStage.result_neutral | {"rows_per_forward", "alignment_file", "report"}
    model_settings = ("model", "reference_model", "recall.prefix_pool", "dcpdd.frequency_corpus")
    # Keys of earlier versions: a config that still sets one is told the new key (paramem.parse_errors).
    moved_settings = {"ks": "lowest_k.ks", "prefix_pool": "recall.prefix_pool",
                      "frequency_corpus": "dcpdd.frequency_corpus", "dcpdd_a": "dcpdd.a"}

    def __init__(self, run_dir: str = "lightning_logs/paramem", model: str | None = None, dtype: str = "auto",
                 max_length: int = 512, trust_remote_code: bool = False, add_special_tokens: str | bool = "auto",
                 methods: list[str] | None = None, reference_model: str | None = None,
                 lowest_k: LowestKSettings = LowestKSettings(), recall: RecallSettings = RecallSettings(),
                 dcpdd: DcpddSettings = DcpddSettings(), pac: PacSettings = PacSettings(),
                 samia: SamiaSettings = SamiaSettings(), blind: BlindSettings = BlindSettings(),
                 report: ReportSettings = ReportSettings(), rows_per_forward: int = 32,
                 alignment_file: str = "alignment.jsonl") -> None:
        super().__init__(run_dir, model, dtype, max_length, trust_remote_code, add_special_tokens)
        self.reference_model = expand_model_path(reference_model, run_dir)
        self.settings = registry.ScoreSettings(lowest_k=as_group(LowestKSettings, lowest_k),
                                               recall=as_group(RecallSettings, recall),
                                               dcpdd=as_group(DcpddSettings, dcpdd))
        self.recall, self.dcpdd = self.settings.recall, self.settings.dcpdd
        self.method_names = list(methods) if methods is not None else self._default_methods()
        try:
            self.methods = [registry.get(m) for m in self.method_names]
        except ValueError as e:
            raise InputError(f"model.init_args.methods: {e}") from None
        given = {"reference_model": ("reference_model", reference_model),  # need: (its key, its value)
                 "prefix_pool": ("recall.prefix_pool", self.recall.prefix_pool),
                 "frequencies": ("dcpdd.frequency_corpus", self.dcpdd.frequency_corpus)}
        for m in self.methods:
            for key, value in (given[need] for need in m.needs if need in given):
                if not value:
                    raise InputError(f"model.init_args.methods: method {m.name!r} needs model.init_args.{key}, "
                                     f"which is not set")
        self.pac, self.samia = as_group(PacSettings, pac), as_group(SamiaSettings, samia)
        self.blind, self.report = as_group(BlindSettings, blind), as_group(ReportSettings, report)
        self.rows_per_forward = rows_per_forward
        self.alignment_file = alignment_file
        self.ref_lm = self.pool = None
        self.prefix_ids: dict[str, list[int]] = {}

    def _default_methods(self) -> list[str]:
        names = list(CLASSIC) + ["pac", "blind_bow"]
        if self.reference_model:
            names.append("ref")
        if self.recall.prefix_pool:
            names += ["recall", "con_recall"]
        if self.dcpdd.frequency_corpus:
            names.append("dcpdd")
        return names

    @property
    def variants(self) -> set[str]:
        return {v for m in self.methods for v in m.variants}

    def setup(self, stage: str) -> None:
        super().setup(stage)
        if self.reference_model and self.ref_lm is None:
            from paramem.score.tokenstats import check_same_tokenizer

            self.ref_lm, ref_tok = self.load_lm(self.reference_model)
            try:
                check_same_tokenizer(self.tokenizer, ref_tok, (self.model_path, self.reference_model))
            except ValueError as e:
                raise InputError(f"reference model refused: {e}") from None
        self.prepare_inputs()

    def prepare_inputs(self) -> None:
        """Prefix pool and token frequencies (files are read once per process)."""
        if self.variants & {"recall_non", "recall_mem"} and self.pool is None:
            from paramem.score.recall import PrefixPool

            self.pool = PrefixPool.load(self.recall.prefix_pool, self.run_dir, model_dir=self.model_path)
            for key, label in (("recall_non", 0), ("recall_mem", 1)):
                if key not in self.variants:
                    continue
                text = self.pool.prefix(label, self.recall.prefix_shots, self.recall.prefix_seed)
                self.prefix_ids[key] = self.tokenizer(text, **special_tokens_kwargs(self.add_special_tokens))[
                    "input_ids"]
        if any("frequencies" in m.needs for m in self.methods) and self.settings.log_inv_freq is None:
            from paramem.score.dcpdd import corpus_texts, log_inverse_frequencies

            vocab = max(len(self.tokenizer), self.lm.get_output_embeddings().weight.shape[0])
            self.settings.log_inv_freq = log_inverse_frequencies(
                self.tokenizer, corpus_texts(self.dcpdd.frequency_corpus, self.run_dir), vocab)

    # -- scoring ---------------------------------------------------------------------------
    def row_stats(self, lm, rows: list, grad_rows: frozenset[int], tempered_rows: frozenset[int] = frozenset()) -> list:
        """RowStats per token row: sorted by length (little padding), rows_per_forward per forward.
        ``grad_rows`` / ``tempered_rows`` also get the head gradient norm / ACMIA's tempered stats."""
        from paramem.score.tokenstats import batch_token_stats

        order = sorted(range(len(rows)), key=lambda i: len(rows[i].ids))
        out: list = [None] * len(rows)
        for lo in range(0, len(order), self.rows_per_forward):
            chunk = order[lo:lo + self.rows_per_forward]
            enc = pad(self.tokenizer, [rows[i] for i in chunk], self.device)
            stats = batch_token_stats(lm, enc, grad_norm_rows=[i in grad_rows for i in chunk],
                                      tempered_rows=[i in tempered_rows for i in chunk],
                                      taus=self.settings.tempered_taus if tempered_rows else ())
            for i, st, trunc in zip(chunk, stats, enc.truncated):
                st.truncated = trunc
                out[i] = st
        return out

    def _plan_rows(self, batch: list[dict]) -> tuple[list, list[dict]]:
        """Token rows of every row variant (registered builders, paramem.score.variants), and
        per sample where each variant's rows are: a row index, or a list for ``many``."""
        builders = [v for name, v in registry.VARIANTS.items() if name in self.variants and not v.per_batch]
        texts, starts, prefixes, slots = [], [], [], []

        def add(rows: list[tuple]) -> list[int]:
            for text, start, prefix in rows:
                texts.append(text), starts.append(start), prefixes.append(prefix)
            return list(range(len(texts) - len(rows), len(texts)))

        for s in batch:
            text, start = s["text"], s.get("loss_start_char", 0)
            slot = {"original": add([(text, start, None)])[0]}
            for v in builders:
                where = add(v.build(self, s, text, start))
                slot[v.name] = where if v.many else where[0]
            slots.append(slot)
        rows = tokenize(self.tokenizer, texts, self.max_length, starts, add_special_tokens=self.add_special_tokens,
                        prefix_ids=prefixes)
        return rows, slots

    @torch.no_grad()
    def process(self, batch: list[dict]) -> list[dict]:
        if self.pool is not None:
            self.pool.check_disjoint(batch)
        rows, slots = self._plan_rows(batch)
        originals = frozenset(sl["original"] for sl in slots)
        needs = {n for m in self.methods for n in m.needs}
        stats = self.row_stats(self.lm, rows, originals if "grad_norm" in needs else frozenset(),
                               originals if "tempered" in needs else frozenset())
        per_batch = {name: v.build(self, batch, rows, slots) for name, v in registry.VARIANTS.items()
                     if name in self.variants and v.per_batch}
        per_sample = [m for m in self.methods if m.per_sample]
        records = []
        for i, (s, slot) in enumerate(zip(batch, slots)):
            variants = {k: ([stats[j] for j in v] if isinstance(v, list) else stats[v])
                        for k, v in slot.items() if k != "original"}
            variants.update({name: values[i] for name, values in per_batch.items()})
            st = stats[slot["original"]]
            ts = registry.TextStats(s["text"], st, variants, self.settings)
            records.append(output_record(s, {"n_tokens": st.n_tokens, "truncated": st.truncated,
                                             "scores": registry.score_sample(per_sample, ts)}))
        return records

    def artifact_outputs(self) -> dict[str, list[Path]]:
        return {**super().artifact_outputs(), "scores": [self.run_dir / "scores.jsonl"],
                "metrics": [self.run_dir / "metrics.json", self.run_dir / "metrics.csv"]}

    def artifact_inputs(self) -> dict[str, list[Path]]:
        """The model and data, plus the alignment and influence files the scores join."""
        return {**super().artifact_inputs(), "alignment": [self.run_dir / self.alignment_file],
                "influence": [self.run_dir / "influence.jsonl"]}

    # -- report ----------------------------------------------------------------------------
    def set_scores(self, baselines: list[dict]) -> dict[str, dict]:
        """Scores of the set methods (blind_bow), by uid, over every merged record."""
        set_methods = [m for m in self.methods if not m.per_sample]
        if not set_methods:
            return {}
        dm = self.trainer.datamodule if self._trainer is not None else None
        texts = {str(s["uid"]): s["text"] for s in (getattr(dm, "samples", None) or [])}
        recs = [r for r in baselines if str(r["uid"]) in texts]
        out: dict[str, dict] = {str(r["uid"]): {} for r in recs}
        for m in set_methods:
            values = m.fn([texts[str(r["uid"])] for r in recs], [r["label"] for r in recs], self.blind.folds,
                          self.blind.seed)
            for r, v in zip(recs, values):
                out[str(r["uid"])].update(registry.oriented(m, v))
        return out

    def on_records_merged(self, path: Path, baselines: list[dict]) -> None:
        from paramem.score.join import join_and_report

        join_and_report(self.layout, baselines, self.alignment_file, self.set_scores(baselines),
                        self.model_fingerprint(), self.report.n_resamples, self.report.seed, self.loggers)
