"""Gradient alignment as a gradient-enabled predict loop -> ``<run_dir>/alignment.jsonl``.

Per sample: the original and its valid paraphrases go through the target model together;
the scope's per-text gradients are compared on the device and only per-sample numbers
leave it. A sample without a valid paraphrase is kept with ``cosine: null``: an
"alignment" of a text with itself (1.0) would inflate members and non-members alike.
"""

from __future__ import annotations

import logging
import math
import os

import torch

from paramem.records import output_record
from paramem.stage import PredictStage
from paramem.textbatch import encode

log = logging.getLogger(__name__)


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def _memory_budget(device: torch.device, budget_gb: float | None) -> int | None:
    """Configured budget, else what the device has free (CUDA) or the host's RAM (CPU)."""
    if budget_gb is not None:
        return int(budget_gb * 2**30)
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError):
        return None


def layout(batch: list[dict]) -> tuple[list[str], list[int], list[tuple[int, list[int]]]]:
    """Texts of a batch, each original followed by its paraphrases: ``(rows,
    loss_start_chars, groups)`` with one ``(original_row, [paraphrase_rows])`` per sample."""
    rows, starts, groups = [], [], []
    for s in batch:
        paras = s.get("paraphrases") or []
        orig = len(rows)
        rows.append(s["text"])
        starts.append(s.get("loss_start_char", 0))
        rows += paras
        # A QA paraphrase carries its own answer offset (paraphrase stage, paraphrase_field).
        starts += s.get("paraphrase_loss_starts") or [0] * len(paras)
        groups.append((orig, list(range(orig + 1, orig + 1 + len(paras)))))
    return rows, starts, groups


class GradientAligner(PredictStage):
    """Args (beyond PredictStage's):
        scope: a name in ``paramem.align.scopes.SCOPES``: ``head`` (exact output-layer
            gradient via the Gram trick), ``layers`` (last ``n_layers`` blocks + final norm
            + head) or ``full`` (every parameter).
        n_layers: blocks in the ``layers`` scope.
        gram_dtype: dtype of the gradient factors / dot products (float32 by default, also
            for a bf16 model).
        max_rows: texts per Gram chunk (bounds the rows x T x V softmax buffer).
        memory_budget_gb: device memory the scope may use; null = free memory of the device.
    """

    output_name = "alignment.jsonl"

    def __init__(self, run_dir: str = "lightning_logs/paramem", model: str | None = None, dtype: str = "auto",
                 max_length: int = 512, trust_remote_code: bool = False, scope: str = "head", n_layers: int = 1,
                 gram_dtype: str = "float32", max_rows: int = 16, memory_budget_gb: float | None = None,
                 add_special_tokens: str | bool = "auto") -> None:
        super().__init__(run_dir, model, dtype, max_length, trust_remote_code, add_special_tokens)
        from paramem.align.scopes import get_scope
        from paramem.models.loading import resolve_dtype

        get_scope(scope)  # an unknown name fails here, before any model loads
        self.scope, self.n_layers, self.max_rows = scope, n_layers, max_rows
        self.gram_dtype = resolve_dtype(gram_dtype)
        self.memory_budget_gb = memory_budget_gb
        self.n_without_paraphrase = 0

    def signature_extra(self) -> dict:
        return {"scope": self.scope, "n_layers": self.n_layers, "gram_dtype": str(self.gram_dtype)}

    def on_predict_start(self) -> None:
        if torch.is_inference_mode_enabled():
            raise RuntimeError(
                "gradient alignment runs under torch.inference_mode, where gradients are impossible: "
                "set `trainer: {inference_mode: false}` in the config (or Trainer(inference_mode=False))")
        from paramem.align.scopes import check_scope_memory

        k = max((len(s.get("paraphrases") or []) for s in self.trainer.datamodule.samples), default=0)
        budget = _memory_budget(self.device, self.memory_budget_gb)
        est = check_scope_memory(self.lm, self.scope, self.n_layers, 1 + k, self.gram_dtype, budget,
                                 seq_len=self.max_length)
        log.info("alignment scope %s: about %.3f GiB per group", self.scope, est / 2**30)

    def process(self, batch: list[dict]) -> list[dict]:
        from paramem.align.scopes import align_scope, get_scope

        rows, starts, groups = layout(batch)
        enc = encode(self.tokenizer, rows, self.max_length, self.device, loss_start_chars=starts,
                     add_special_tokens=self.add_special_tokens)
        with torch.enable_grad():  # Lightning's predict loop runs under no_grad
            results = align_scope(self.lm, enc, groups, scope=self.scope, n_layers=self.n_layers,
                                  dtype=self.gram_dtype, max_rows=self.max_rows)
        records = []
        for s, (orig, paras), res in zip(batch, groups, results):
            k = len(paras)
            self.n_without_paraphrase += k == 0
            rec = output_record(s, {
                "cosine": _finite(res["cos_mean"]) if k else None,
                "inner": _finite(res["ip_mean"]) if k else None,
                "cosines": [_finite(c) for c in res["cosines"]],
                "grad_norm": res["grad_norm"],
                "para_grad_norms": res["paraphrase_grad_norms"],
                "loss": _finite(res["loss"]),
                "para_losses": [_finite(x) for x in res["paraphrase_losses"]],
                "n_paraphrases": k,
                "scope": get_scope(self.scope).label(self.n_layers),
                "truncated": any(enc.truncated[r] for r in (orig, *paras)),
            })
            records.append(rec)
        return records

    def on_outputs_merged(self, path) -> None:
        summary = alignment_summary(path)
        by_exposure = summary.pop("mean_cosine_by_exposure")
        print(f"[paramem] alignment ({self.scope}): {summary['n_samples']} samples, "
              f"{summary['n_without_paraphrase']} without a valid paraphrase (cosine null); mean cosine members "
              f"{summary['mean_cosine_member']:.4f}, non-members {summary['mean_cosine_nonmember']:.4f}")
        if by_exposure:
            print("[paramem] mean cosine by exposure (0 = non-members): "
                  + ", ".join(f"{e}: {v['mean']:.4f} (n={v['n']})" for e, v in by_exposure.items()))
        metrics = {f"align/{k}": v for k, v in summary.items()}
        metrics.update({f"align/exposure={e}/mean_cosine": v["mean"] for e, v in by_exposure.items()})
        for logger in self.loggers:
            logger.log_metrics(metrics)


def alignment_summary(path) -> dict:
    """Counts and mean cosines of an alignment.jsonl: members vs non-members, and per
    exposure (``{"<e>": {"mean", "n"}}``, 0 = non-members) when the records carry one."""
    from paramem.io import read_jsonl

    n = n_none = 0
    cos: dict[int, list[float]] = {0: [], 1: []}
    by_exposure: dict[int, list[float]] = {}
    for _, rec in read_jsonl(path):
        n += 1
        if rec["cosine"] is None:
            n_none += 1
            continue
        cos[rec["label"]].append(rec["cosine"])
        if rec.get("exposure") is not None:
            by_exposure.setdefault(int(rec["exposure"]), []).append(rec["cosine"])

    def mean(v: list[float]) -> float:
        return sum(v) / len(v) if v else float("nan")

    return {"n_samples": n, "n_without_paraphrase": n_none, "mean_cosine_member": mean(cos[1]),
            "mean_cosine_nonmember": mean(cos[0]),
            "mean_cosine_by_exposure": {str(e): {"mean": mean(v), "n": len(v)} for e, v in sorted(by_exposure.items())}}
