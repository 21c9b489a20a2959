"""Gradient alignment as a gradient-enabled predict loop -> ``<run_dir>/alignment.jsonl``.

Per sample: the original and its valid paraphrases go through the target model together;
the scope's per-text gradients are compared on the device and only per-sample numbers
leave it. A sample without a valid paraphrase is kept with ``cosine: null``: an
"alignment" of a text with itself (1.0) would inflate members and non-members alike.
"""

from __future__ import annotations

import logging
import os

import torch

from paramem.autograd import require_autograd
from paramem.io import finite_or_none, mean_or
from paramem.records import output_record
from paramem.stage import PredictStage
from paramem.textbatch import encode

log = logging.getLogger(__name__)



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


def _alignment_fields(res: dict, n_loss_tokens: int, para_has_loss: list[bool]) -> dict:
    """One sample's numbers. A text without a predicted token (a one-token text, an answer
    truncated away) has no loss and no gradient: its quantities are null, never 0.0, and
    the means run over the paraphrases that have loss tokens."""
    has_loss = n_loss_tokens > 0
    ok = [has_loss and p for p in para_has_loss]
    cosines = [finite_or_none(c) if o else None for c, o in zip(res["cosines"], ok)]
    inners = [finite_or_none(x) if o else None for x, o in zip(res["inner_products"], ok)]

    return {"cosine": mean_or(cosines), "inner": mean_or(inners), "cosines": cosines,
            "grad_norm": finite_or_none(res["grad_norm"]) if has_loss else None,
            "para_grad_norms": [finite_or_none(g) if p else None for g, p in zip(res["paraphrase_grad_norms"], para_has_loss)],
            "loss": finite_or_none(res["loss"]) if has_loss else None,
            "para_losses": [finite_or_none(x) if p else None for x, p in zip(res["paraphrase_losses"], para_has_loss)],
            "n_paraphrases": len(para_has_loss), "n_loss_tokens": n_loss_tokens}


def null_cause(rec: dict) -> str | None:
    """Why an alignment record has ``cosine: null`` (None when it has a cosine)."""
    if rec["cosine"] is not None:
        return None
    if rec.get("n_loss_tokens", 1) == 0:
        return "no loss tokens"
    if rec["n_paraphrases"] == 0:
        return "no valid paraphrase"
    return "no paraphrase with loss tokens"


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
    result_neutral = PredictStage.result_neutral | {"max_rows", "memory_budget_gb"}  # chunking only

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

    def on_predict_start(self) -> None:
        require_autograd("gradient alignment")
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
        n_loss = enc.target_mask.sum(-1).tolist()  # (R,) predicted tokens per row
        records = []
        for s, (orig, paras), res in zip(batch, groups, results):
            rec = output_record(s, {
                **_alignment_fields(res, n_loss[orig], [n_loss[r] > 0 for r in paras]),
                "scope": get_scope(self.scope).label(self.n_layers),
                "truncated": any(enc.truncated[r] for r in (orig, *paras)),
            })
            records.append(rec)
        return records

    def on_records_merged(self, path, records: list[dict]) -> None:
        lines, metrics = alignment_summary(records, self.scope)
        for line in lines:
            print(f"[paramem] {line}")
        for logger in self.loggers:
            logger.log_metrics(metrics)


def alignment_summary(records: list[dict], scope: str) -> tuple[list[str], dict[str, float]]:
    """(lines to print, metrics to log) of an alignment output: null cosines by cause, the
    mean cosine of members and non-members, and per exposure when the records carry one."""
    from collections import Counter

    causes = Counter(null_cause(rec) for rec in records)
    cos = {lab: [r["cosine"] for r in records if r["label"] == lab and null_cause(r) is None] for lab in (0, 1)}
    by_exposure: dict[int, list[float]] = {}
    for rec in records:
        if null_cause(rec) is None and rec.get("exposure") is not None:
            by_exposure.setdefault(int(rec["exposure"]), []).append(rec["cosine"])
    mean = {lab: mean_or(v, float("nan")) for lab, v in cos.items()}
    shown = ["no valid paraphrase", "no loss tokens"] + (["no paraphrase with loss tokens"]
                                                         if causes["no paraphrase with loss tokens"] else [])
    nulls = ", ".join(f"{causes[c]} {c}" for c in shown)
    lines = [f"alignment ({scope}): {len(records)} samples; cosine null: {nulls}; "
             f"mean cosine members {mean[1]:.4f}, non-members {mean[0]:.4f}"]
    metrics = {"align/n_samples": len(records), "align/n_without_paraphrase": causes["no valid paraphrase"],
               "align/n_no_loss_tokens": causes["no loss tokens"],
               "align/mean_cosine_member": mean[1], "align/mean_cosine_nonmember": mean[0]}
    if by_exposure:  # members of each exposure vs non-members (0)
        lines.append("mean cosine by exposure (0 = non-members): " + ", ".join(
            f"{e}: {mean_or(v):.4f} (n={len(v)})" for e, v in sorted(by_exposure.items())))
        metrics.update({f"align/exposure={e}/mean_cosine": mean_or(v) for e, v in by_exposure.items()})
    return lines, metrics
