"""MIA baselines as a predict loop, then the report (scores.jsonl, metrics, figures, W&B).

Per sample, one forward pass of the original serves loss / zlib / min-k% / min-k%++ and
gradnorm; the lower-cased text, the paraphrases (neighbours) and the reference model add
one row each. ``gradnorm`` is ``-||dL/dW_head||_F``: the Frobenius norm of the loss
gradient w.r.t. the output-layer weight (its own term), exact through the Gram trick.
Every score follows "larger = member". Gradient alignment (``alignment.jsonl``) joins as ``align_cosine`` and
``align_inner`` when the run dir has it.
"""

from __future__ import annotations

import logging
import math
import zlib
from pathlib import Path

import torch

from paramem.data.sample import carry_fields
from paramem.io import InputError
from paramem.stage import PredictStage
from paramem.textbatch import encode

log = logging.getLogger(__name__)
KS = tuple(round(i / 10, 1) for i in range(1, 11))


class BaselineScorer(PredictStage):
    """Args (beyond PredictStage's):
        reference_model: a smaller model of the same tokenizer family for ``ref`` (null: skip).
        lowercase / neighbor / gradnorm: compute these baselines.
        ks: fractions for min-k% and min-k%++.
        rows_per_forward: texts per forward pass (originals + variants are packed together).
        alignment_file: per-sample alignment to join into scores.jsonl (missing: skipped).
        n_resamples / ci_seed: bootstrap confidence intervals of the report.
    """

    output_name = "baselines.jsonl"

    def __init__(self, run_dir: str = "lightning_logs/paramem", model: str | None = None, dtype: str = "auto",
                 max_length: int = 512, trust_remote_code: bool = False, reference_model: str | None = None,
                 lowercase: bool = True, neighbor: bool = True, gradnorm: bool = True, ks: list[float] = list(KS),
                 rows_per_forward: int = 32, alignment_file: str = "alignment.jsonl", n_resamples: int = 1000,
                 ci_seed: int = 0) -> None:
        super().__init__(run_dir, model, dtype, max_length, trust_remote_code)
        self.reference_model = reference_model
        self.use_lowercase, self.use_neighbor, self.use_gradnorm = lowercase, neighbor, gradnorm
        self.ks = tuple(ks)
        self.rows_per_forward = rows_per_forward
        self.alignment_file = alignment_file
        self.n_resamples, self.ci_seed = n_resamples, ci_seed
        self.ref_lm = None

    def signature_extra(self) -> dict:
        return {"reference_model": self.reference_model and self.model_fingerprint(self.reference_model),
                "lowercase": self.use_lowercase, "neighbor": self.use_neighbor, "gradnorm": self.use_gradnorm,
                "ks": list(self.ks)}

    def setup(self, stage: str) -> None:
        super().setup(stage)
        if self.reference_model and self.ref_lm is None:
            from paramem.score.tokenstats import check_same_tokenizer

            self.ref_lm, ref_tok = self.load_lm(self.reference_model)
            try:
                check_same_tokenizer(self.tokenizer, ref_tok, (self.model_path, self.reference_model))
            except ValueError as e:
                raise InputError(f"reference model refused: {e}") from None

    # -- scoring ---------------------------------------------------------------------------
    def _stats(self, lm, texts: list[str], starts: list[int], n_grad_norms: int = 0) -> list[dict]:
        """token_stats over ``texts`` in chunks; adds ``truncated``, and ``grad_norm`` for the
        first ``n_grad_norms`` texts (from the same forward pass)."""
        from paramem.score.tokenstats import token_stats

        out = []
        for i in range(0, len(texts), self.rows_per_forward):
            enc = encode(self.tokenizer, texts[i:i + self.rows_per_forward], self.max_length, self.device,
                         loss_start_chars=starts[i:i + self.rows_per_forward])
            want = [i + j < n_grad_norms for j in range(enc.input_ids.shape[0])]
            rows = token_stats(lm, enc.input_ids, enc.attention_mask, loss_mask=enc.target_mask, ks=self.ks,
                               grad_norm_rows=want)
            for r, trunc in zip(rows, enc.truncated):
                r["truncated"] = trunc
            out.extend(rows)
        return out

    @torch.no_grad()
    def process(self, batch: list[dict]) -> list[dict]:
        # Rows: originals, then lower-cased originals, then every paraphrase.
        texts = [s["text"] for s in batch]
        starts = [s.get("loss_start_char", 0) for s in batch]
        rows, row_starts = list(texts), list(starts)
        if self.use_lowercase:
            rows += [t.lower() for t in texts]
            row_starts += starts
        para_slices = []
        for s in batch:
            paras = (s.get("paraphrases") or []) if self.use_neighbor else []
            para_slices.append((len(rows), len(rows) + len(paras)))
            rows += paras
            row_starts += [0] * len(paras)
        stats = self._stats(self.lm, rows, row_starts, n_grad_norms=len(batch) if self.use_gradnorm else 0)
        ref = self._stats(self.ref_lm, texts, starts) if self.ref_lm is not None else None

        records = []
        for i, s in enumerate(batch):
            st = stats[i]
            ll = st["ll"]
            scores = {"loss": ll}
            scores["zlib"] = None if ll is None else ll / len(zlib.compress(s["text"].encode("utf-8")))
            for k in self.ks:
                scores[f"mink_{k}"] = st["mink"][k]
                scores[f"minkpp_{k}"] = st["minkpp"][k]
            if self.use_lowercase:
                ll_lower = stats[len(batch) + i]["ll"]
                # Both lls are <= 0: the ratio is |ll_lower| / |ll|, larger for a memorised text.
                scores["lowercase"] = None if ll in (None, 0) or ll_lower is None else ll_lower / ll
            if self.use_neighbor:
                a, b = para_slices[i]
                neigh = [stats[j]["ll"] for j in range(a, b) if stats[j]["ll"] is not None]
                scores["neighbor"] = None if ll is None or not neigh else ll - sum(neigh) / len(neigh)
            if ref is not None:
                scores["ref"] = None if ll is None or ref[i]["ll"] is None else ll - ref[i]["ll"]
            if self.use_gradnorm:
                scores["gradnorm"] = None if st["grad_norm"] is None else -st["grad_norm"]
            scores = {k: (v if v is None or math.isfinite(v) else None) for k, v in scores.items()}
            rec = {"uid": s["uid"], "label": s["label"], "domain": s.get("domain", "default"),
                   "n_tokens": st["n_tokens"], "truncated": st["truncated"], "scores": scores}
            records.append(carry_fields(s, rec))
        return records

    # -- report ----------------------------------------------------------------------------
    def on_outputs_merged(self, path: Path) -> None:
        from paramem.score.join import write_scores
        from paramem.report.build import format_report, write_report

        records = write_scores(path, self.run_dir / self.alignment_file, self.run_dir / "scores.jsonl")
        run = None
        for logger in self.loggers:
            if type(logger).__name__ == "WandbLogger":
                run = logger.experiment
        metrics = write_report(records, self.run_dir, n_resamples=self.n_resamples, seed=self.ci_seed,
                               wandb_run=run)
        print(format_report(metrics))
