"""Influence as a gradient-enabled predict loop -> ``<run_dir>/influence.jsonl``.

Per sample x, with g(x) the gradient of its mean token loss (the loss of ``loss`` /
``gradnorm``) w.r.t. the scope's weights:

- ``self_influence`` = g(x)ᵀ (G + λI)⁻¹ g(x), G the (E)K-FAC curvature kronfluence fits
  on the training texts (``factors.py``);
- ``tracin_self`` = ‖g(x)‖² (no curvature);
- ``repsim_max`` / ``repsim_mean`` = max / mean cosine between x's mean final hidden state
  and the training texts' (training texts identical to x are left out: they would give
  every member 1.0 by construction).

kronfluence computes with the summed-token loss; scores of the mean loss are those divided
by n_tokens² (the preconditioner is linear, so this is exact).
"""

from __future__ import annotations

import logging

import torch

from paramem.io import expand_run_dir, finite_or_none, mean_or
from paramem.records import output_record
from paramem.stage import PredictStage

log = logging.getLogger(__name__)


class InfluenceScorer(PredictStage):
    """Args (beyond PredictStage's):
        scope: ``head`` (output layer), ``layers`` (every linear layer of the last
            ``n_layers`` blocks) or ``lora`` (peft LoRA factors on those layers).
        n_layers: blocks in the ``layers`` / ``lora`` scopes.
        lora_rank / lora_alpha / lora_seed: the LoRA adapters of the ``lora`` scope.
        strategy: kronfluence curvature: ``ekfac`` (default), ``kfac``, ``diagonal``.
        damping: λ added to the curvature's eigenvalues; null = kronfluence's heuristic
            (0.1 × the mean eigenvalue, per module).
        train_texts: the training corpus (.jsonl with ``text`` / .txt; ``{run_dir}`` allowed);
            null = ``<model>/train_texts.jsonl``, which ``paramem fit`` records.
        fit_batch_size: texts per batch while fitting the curvature.
        max_fit_texts: fit on at most this many training texts (the first ones); null = all.
        seed: labels sampled for the true Fisher.
        transductive: also write ``transductive_influence``, the original work's mean
            influence of x with the opposite set (uses the evaluated labels: reproduction
            only, never an MIA score); computed on rank 0 after the merge.
    """

    output_name = "influence.jsonl"

    def __init__(self, run_dir: str = "lightning_logs/paramem", model: str | None = None, dtype: str = "auto",
                 max_length: int = 512, trust_remote_code: bool = False, add_special_tokens: str | bool = "auto",
                 scope: str = "head", n_layers: int = 1,
                 lora_rank: int = 8, lora_alpha: float = 16.0, lora_seed: int = 0, strategy: str = "ekfac",
                 damping: float | None = None, train_texts: str | None = None, fit_batch_size: int = 8,
                 max_fit_texts: int | None = None, seed: int = 0, transductive: bool = False) -> None:
        super().__init__(run_dir, model, dtype, max_length, trust_remote_code, add_special_tokens)
        from paramem.influence.task import SCOPES
        from paramem.io import InputError

        if scope not in SCOPES:
            raise InputError(f"influence scope {scope!r} unknown; one of {', '.join(SCOPES)}")
        if strategy not in ("ekfac", "kfac", "diagonal"):
            raise InputError(f"influence strategy {strategy!r} unknown; one of ekfac, kfac, diagonal")
        self.scope, self.n_layers = scope, n_layers
        self.lora = (lora_rank, lora_alpha, lora_seed)
        self.strategy, self.damping = strategy, damping
        self.train_texts, self.fit_batch_size, self.max_fit_texts = train_texts, fit_batch_size, max_fit_texts
        self.seed, self.transductive = seed, transductive
        self.task = self.factors = self.train_reps = self.train_keys = None

    @property
    def scope_label(self) -> str:
        return self.scope if self.scope == "head" else f"{self.scope}:{self.n_layers}"

    @property
    def train_texts_path(self) -> str:
        from paramem.influence.factors import TRAIN_TEXTS_NAME

        if self.train_texts:
            return str(expand_run_dir(self.train_texts, self.run_dir))
        return f"{self.model_path}/{TRAIN_TEXTS_NAME}"

    def signature_extra(self) -> dict:
        return self._settings_signature(train_texts=self._texts_signature())

    def _settings_signature(self, train_texts: str) -> dict:
        return {"scope": self.scope_label, "lora": list(self.lora) if self.scope == "lora" else None,
                "strategy": self.strategy, "damping": self.damping, "train_texts": train_texts,
                "max_fit_texts": self.max_fit_texts, "seed": self.seed}

    def _texts_signature(self) -> str:
        from paramem.influence.factors import read_training_texts, texts_digest

        return texts_digest(read_training_texts(self.train_texts_path))

    # -- setup: model with tracked scope, curvature and training representations ---------------
    def factor_args(self, strategy: str | None = None):
        from kronfluence.arguments import FactorArguments

        return FactorArguments(strategy=strategy or self.strategy, covariance_max_examples=None,
                               lambda_max_examples=None)

    def score_args(self):
        from kronfluence.arguments import ScoreArguments

        return ScoreArguments(damping_factor=self.damping)

    def setup(self, stage: str) -> None:
        if self.task is not None:
            return
        super().setup(stage)
        from kronfluence.analyzer import prepare_model

        from paramem.influence.task import CausalLMTask, LocalState, add_lora, tracked_names

        if self.scope == "lora":
            self.lm = add_lora(self.lm, self.n_layers, *self.lora)
        self.task = CausalLMTask(tracked_names(self.lm, self.scope, self.n_layers))
        self.lm = prepare_model(self.lm, self.task)
        self.kf_state = LocalState(self.device if self._trainer is None else self.trainer.strategy.root_device)
        self._load_or_fit()

    def _cache_meta(self, rows: list[dict]) -> dict:
        from paramem.influence.factors import texts_digest

        return {"model_fingerprint": self.model_fingerprint(), "dtype": self.dtype_name,
                "max_length": self.max_length, "add_special_tokens": self.add_special_tokens,
                **self._settings_signature(train_texts=texts_digest(rows)),
                "n_fit_texts": len(rows), "kronfluence": __import__("kronfluence").__version__}

    def _load_or_fit(self) -> None:
        from paramem.influence import factors as F
        from paramem.influence.task import token_batches

        rows = F.read_training_texts(self.train_texts_path)[:self.max_fit_texts]
        folder = self.layout.influence_factors / self.scope_label.replace(":", "-")
        meta = self._cache_meta(rows)
        distributed = self._trainer is not None and self.trainer.world_size > 1
        rank0 = self._trainer is None or self.trainer.is_global_zero
        cached = F.load_cache(folder, meta) if rank0 else None
        if rank0 and cached is None:
            log.warning("fitting %s curvature (%s scope) on %d training texts", self.strategy, self.scope_label,
                        len(rows))
            batches = token_batches(self.tokenizer, rows, self.max_length, self.fit_batch_size,
                                    self.kf_state.device, self.add_special_tokens)
            with torch.enable_grad():
                factors = F.fit_factors(self.lm, self.task, batches, self.factor_args(), self.kf_state, self.seed)
            reps = F.mean_hidden_states(self.lm, batches)
            keys = torch.tensor([F.text_key(r["text"]) for r in rows], dtype=torch.int64)
            F.save_cache(folder, meta, factors, reps, keys)
        if distributed:
            self.trainer.strategy.barrier("paramem-influence-factors")
        if cached is None:  # fitted just now, or another rank fitted it
            cached = F.load_cache(folder, meta)
        if cached is None:
            raise RuntimeError(f"influence factors missing in {folder} after fitting")
        self.factors, reps, self.train_keys = cached
        self.train_reps = torch.nn.functional.normalize(reps, dim=-1).to(self.kf_state.device)  # (N, d)

    def on_predict_start(self) -> None:
        from paramem.autograd import require_autograd

        require_autograd("the influence stage")

    # -- per batch --------------------------------------------------------------------------------
    def self_scores(self, batches: list[dict], strategy: str | None = None) -> torch.Tensor:
        """Self-influence of the summed-token loss per row; ``identity``: squared gradient norm."""
        from paramem.influence.factors import self_scores

        factors = {} if strategy == "identity" else self.factors
        return self_scores(self.lm, self.task, batches, factors, self.factor_args(strategy), self.score_args(),
                           self.kf_state)

    def repsim(self, batches: list[dict], texts: list[str]) -> tuple[list[float | None], list[float | None]]:
        from paramem.influence.factors import mean_hidden_states, text_key

        reps = torch.nn.functional.normalize(mean_hidden_states(self.lm, batches), dim=-1)  # (B, d)
        cos = reps.to(self.train_reps.device) @ self.train_reps.T  # (B, N)
        keys = torch.tensor([text_key(t) for t in texts], dtype=torch.int64)
        same = (keys[:, None] == self.train_keys[None, :]).to(cos.device)  # (B, N): x itself among the texts
        n_other = (~same).sum(-1)
        cmax = cos.masked_fill(same, float("-inf")).max(-1).values
        cmean = cos.masked_fill(same, 0.0).sum(-1) / n_other.clamp(min=1)
        ok = (n_other > 0).tolist()
        return ([v if k else None for v, k in zip(cmax.tolist(), ok)],
                [v if k else None for v, k in zip(cmean.tolist(), ok)])

    def process(self, batch: list[dict]) -> list[dict]:
        from paramem.influence.task import as_tensors, encode_items

        enc = encode_items(self.tokenizer, batch, self.max_length, self.kf_state.device, self.add_special_tokens)
        batches = [as_tensors(enc)]
        n_tok = enc.target_mask[:, 1:].sum(-1).double().cpu()  # (B,) predicted tokens
        scale = n_tok.clamp(min=1) ** 2  # summed-loss scores -> mean-loss scores
        influence = (self.self_scores(batches) / scale).tolist()
        tracin = (self.self_scores(batches, "identity") / scale).tolist()
        rmax, rmean = self.repsim(batches, [s["text"] for s in batch])
        records = []
        for i, s in enumerate(batch):
            empty = n_tok[i].item() == 0
            records.append(output_record(s, {
                "self_influence": None if empty else finite_or_none(influence[i]),
                "tracin_self": None if empty else finite_or_none(tracin[i]),
                "repsim_max": rmax[i], "repsim_mean": rmean[i], "n_tokens": int(n_tok[i]),
                "scope": self.scope_label, "strategy": self.strategy, "truncated": enc.truncated[i]}))
        return records

    def on_records_merged(self, path, records: list[dict]) -> None:
        self._write_transductive(path, records)
        lines, metrics = influence_summary(records, f"{self.scope_label}, {self.strategy}")
        for line in lines:
            print(f"[paramem] {line}")
        for logger in self.loggers:
            logger.log_metrics(metrics)

    def _write_transductive(self, path, records: list[dict]) -> None:
        """Recomputed over all samples at every merge (the opposite set may have grown), or
        removed when off: a stale aggregate is never left in the file. ``records``: the
        merged records, updated in place."""
        from paramem.io import atomic_write_jsonl

        values = {}
        if self.transductive:
            from paramem.influence.transductive import opposite_set_influence

            values = opposite_set_influence(self, self.trainer.datamodule.samples, self.fit_batch_size)
        stale = False
        for rec in records:
            stale |= rec.pop("transductive_influence", None) is not None
            if self.transductive:
                rec["transductive_influence"] = finite_or_none(values.get(rec["uid"]))
        if self.transductive or stale:
            atomic_write_jsonl(path, records)


def influence_summary(records: list[dict], what: str) -> tuple[list[str], dict[str, float]]:
    """(lines to print, metrics to log) of an influence output: the mean of each score over
    members and over non-members (null scores left out)."""
    keys = ("self_influence", "tracin_self", "repsim_max", "repsim_mean")
    metrics = {"influence/n_samples": len(records)}
    for k in keys:
        for lab in (0, 1):
            metrics[f"influence/mean_{k}_{'member' if lab else 'nonmember'}"] = mean_or(
                (r.get(k) for r in records if r["label"] == lab), float("nan"))
    parts = [f"{k} members {metrics[f'influence/mean_{k}_member']:.4g}, "
             f"non-members {metrics[f'influence/mean_{k}_nonmember']:.4g}" for k in keys[:3]]
    return [f"influence ({what}): {len(records)} samples; mean " + "; ".join(parts)], metrics
