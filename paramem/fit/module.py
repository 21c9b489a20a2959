"""``paramem fit``: train or fine-tune a causal LM on the member texts.

Starts from a hub id / local HF directory, or (``model: null``) from the embedded default:
a tiny GPT-NeoX and a byte-level BPE trained here. With ``teach_paraphrase`` the model also
learns the paraphrase prompt on auxiliary records (disjoint from members and non-members),
so the paraphrase stage can run through the same prompt/generate path as a hub model.
Ends by writing ``<run_dir>/model/`` with ``save_pretrained`` (plus ``train_texts.jsonl``,
the distinct texts it trained on, for the influence stage) and reporting the mean loss
on members and on non-members.

When the members carry an ``exposure`` (``paramem.data.exposure``), training runs on one
exposure stream instead: each member ``exposure`` times among background text (the
source's auxiliary records, or a ``background`` file), shuffled once with the data seed
and kept in that order for every pass (``trainer.max_epochs`` passes). What was actually
trained on is counted per member and written to ``<run_dir>/train_stream.json``.
"""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import torch

from paramem.fit.lora import LoRASettings, add_adapters, merged, trainable_parameters
from paramem.fit.schedule import warmup_cosine
from paramem.fit.stream import StreamLedger, has_exposure, read_filler, stream_items
from paramem.io import InputError
from paramem.layout import RunLayout
from paramem.settings import as_group
from paramem.models.loading import expand_model_path, load_causal_lm, load_tokenizer
from paramem.models.tiny import build_tiny_model, train_bpe_tokenizer
from paramem.settings import check_number
from paramem.textbatch import encode, forward, per_sample_loss


def check_fit_ranges(builds_tiny: bool, **settings) -> None:
    """The fit settings a run cannot start with, named with their range (one error line);
    the shape of the tiny model only when it is built (``model`` null)."""
    least = {"hidden_size": 1, "num_layers": 1, "num_heads": 1, "vocab_size": 2, "warmup_steps": 0,
             "max_length": 2}
    for name, low in least.items():
        check_number(f"model.init_args.{name}", settings[name], low, integer=True)
    if builds_tiny and settings["hidden_size"] % settings["num_heads"]:
        raise InputError(f"model.init_args.hidden_size ({settings['hidden_size']}) must be a multiple of "
                         f"model.init_args.num_heads ({settings['num_heads']})")
    for name, low_open in (("lr", True), ("weight_decay", False)):
        check_number(f"model.init_args.{name}", settings[name], 0, low_open=low_open, finite=True)


class CausalLMFit(pl.LightningModule):
    """Args:
        run_dir: run directory; the model is written to ``<run_dir>/model``.
        model: hub id or local directory to fine-tune; ``null`` builds the embedded tiny model.
        hidden_size / num_layers / num_heads / vocab_size: the tiny model's shape.
        lr / weight_decay / warmup_steps: AdamW with linear warm-up then cosine decay.
        max_length: tokens per training text (longer texts are truncated).
        teach_paraphrase: also train on ``template(text) -> near-duplicate`` pairs from the
            source's auxiliary records (loss on the near-duplicate only).
        teach_templates: template family (or file) used for those pairs.
        background: exposure streams only: ``teach`` (the source's auxiliary texts, plus the
            teaching pairs when ``teach_paraphrase``) or a ``.txt`` / ``.jsonl`` filler file.
        trust_remote_code: passed to transformers when loading ``model``.
        add_special_tokens: ``auto`` (the tokenizer's default), true or false; as in every stage.
        replace_model: allow a fit into a run dir whose model already has outputs computed
            with it (alignment, influence, baselines, scores); without it such a fit refuses.
        lora: train peft LoRA adapters only (``paramem.fit.lora.LoRASettings``: rank, alpha,
            n_layers, seed), merged into the weights before the model is saved; null = full
            fine-tune.
    """

    def __init__(self, run_dir: str = "lightning_logs/paramem", model: str | None = None, hidden_size: int = 64,
                 num_layers: int = 2, num_heads: int = 4, vocab_size: int = 1024, lr: float = 3e-3,
                 weight_decay: float = 0.0, warmup_steps: int = 20, max_length: int = 192,
                 teach_paraphrase: bool = False, teach_templates: str = "compact", background: str = "teach",
                 trust_remote_code: bool = False, add_special_tokens: str | bool = "auto",
                 replace_model: bool = False, lora: LoRASettings | None = None) -> None:
        super().__init__()
        from paramem.textbatch import special_tokens_kwargs

        try:
            special_tokens_kwargs(add_special_tokens)
        except ValueError as e:
            raise InputError(f"model.init_args.add_special_tokens: {e}") from None
        check_fit_ranges(model is None, hidden_size=hidden_size, num_layers=num_layers, num_heads=num_heads, vocab_size=vocab_size,
                         lr=lr, weight_decay=weight_decay, warmup_steps=warmup_steps, max_length=max_length)
        self.lora = None if lora is None else as_group(LoRASettings, lora)
        self.save_hyperparameters()
        self.run_dir = Path(run_dir)
        self.layout = RunLayout(run_dir)
        self.model = None
        self.tokenizer = None
        self._val_losses: dict[int, list[float]] = {0: [], 1: []}
        self.ledger: StreamLedger | None = None  # set when training on an exposure stream
        self.shuffle_training_items = True  # an exposure stream keeps its one seeded order

    # -- model ------------------------------------------------------------------------------
    def check_model_replacement(self) -> None:
        """The fitted model is shared: outputs computed with it would silently pair with a new one."""
        outputs = self.layout.model_outputs()
        if (self.layout.model_dir / "config.json").exists() and outputs and not self.hparams.replace_model:
            raise InputError(f"{self.layout.model_dir} holds a fitted model that "
                             f"{', '.join(p.name for p in outputs)} in {self.run_dir} were computed with: use "
                             f"another run_dir, or set model.init_args.replace_model true to replace it (those "
                             f"outputs then refuse to resume or to join: rerun their stages)")

    def setup(self, stage: str) -> None:
        if stage == "fit":
            self.check_model_replacement()
        if self.model is not None:
            return
        hp = self.hparams
        if hp.model is not None:
            start = expand_model_path(hp.model, self.run_dir)
            self.tokenizer = load_tokenizer(start, trust_remote_code=hp.trust_remote_code, padding_side="right")
            self.model = self._trainable(load_causal_lm(start, dtype="float32", trust_remote_code=hp.trust_remote_code))
            return
        dm = self.trainer.datamodule
        # The tokenizer learns from the auxiliary records only: members and non-members are
        # then cut into tokens alike, and no membership signal hides in the vocabulary.
        aux = dm.source.auxiliary(dm.run_dir)
        texts = [r["text"] for r in aux] + [d for r in aux for d in r.get("neardups", [])]
        if not texts:
            texts = [s["text"] for s in dm.samples]
        self.tokenizer = train_bpe_tokenizer(texts + self._template_texts(), self.layout.tokenizer_build,
                                             vocab_size=hp.vocab_size)
        self.tokenizer.padding_side = "right"
        self.model = self._trainable(build_tiny_model(self.tokenizer, hp.hidden_size, hp.num_layers, hp.num_heads,
                                                      max_positions=max(512, 2 * hp.max_length), seed=0))

    def _trainable(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model in train mode; with ``lora``, wrapped so that only its adapters train."""
        if self.lora is not None:
            model = add_adapters(model, self.lora)
            print(f"[paramem] LoRA rank {self.lora.rank}: {trainable_parameters(model):,} trainable parameters")
        return model.train()

    def _template_texts(self) -> list[str]:
        if not self.hparams.teach_paraphrase:
            return []
        from paramem.paraphrase.templates import load_templates

        return [t.render("") for t in load_templates(self.hparams.teach_templates)]

    def training_items(self, members: list[dict], auxiliary: list[dict]) -> list[dict]:
        """Members as they are, plus prompt -> near-duplicate pairs when teaching; or, when
        the members carry an exposure, the exposure stream."""
        if has_exposure(members):
            background = self._background(auxiliary)
            stream = stream_items(members, background, self.trainer.datamodule.seed)
            self.ledger = StreamLedger()
            self.ledger.plan(stream)
            self.shuffle_training_items = False
            return stream
        items = [{"text": s["text"], "loss_start_char": s.get("loss_start_char", 0)} for s in members]
        return items + self._teach_pairs(auxiliary)

    def _background(self, auxiliary: list[dict]) -> list[dict]:
        if self.hparams.background != "teach":
            texts = read_filler(self.hparams.background)
        else:
            texts = [{"text": r["text"]} for r in auxiliary]
            if not texts:
                raise InputError("an exposure stream needs background text and the source has no auxiliary "
                                 "records: set model.init_args.background to a .txt/.jsonl filler file")
        return texts + self._teach_pairs(auxiliary)

    def _teach_pairs(self, auxiliary: list[dict]) -> list[dict]:
        items = []
        if self.hparams.teach_paraphrase:
            from paramem.paraphrase.templates import load_templates

            templates = load_templates(self.hparams.teach_templates)
            for i, record in enumerate(auxiliary):
                for j, dup in enumerate(record.get("neardups", [])):
                    prompt = templates[(i + j) % len(templates)].render(record["text"])
                    items.append({"text": prompt + " " + dup, "loss_start_char": len(prompt)})
        return items

    # -- steps ------------------------------------------------------------------------------
    def _losses(self, batch: list[dict]) -> tuple[torch.Tensor, torch.Tensor]:
        enc = encode(self.tokenizer, [b["text"] for b in batch], self.hparams.max_length, self.device,
                     loss_start_chars=[b.get("loss_start_char", 0) for b in batch], add_eos=True,
                     add_special_tokens=self.hparams.add_special_tokens)
        logits = forward(self.model, enc)  # (B, T, V)
        return per_sample_loss(logits, enc.input_ids, enc.target_mask)  # (B,), (B,)

    def training_step(self, batch: list[dict], batch_idx: int) -> torch.Tensor:
        if self.ledger is not None:
            self.ledger.consumed(batch)
        loss_sum, n_tok = self._losses(batch)
        loss = loss_sum.sum() / n_tok.sum().clamp(min=1)  # token-mean over the batch
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch))
        return loss

    def validation_step(self, batch: list[dict], batch_idx: int, dataloader_idx: int = 0) -> None:
        loss_sum, n_tok = self._losses(batch)
        self._val_losses[dataloader_idx].extend((loss_sum / n_tok.clamp(min=1)).tolist())

    def on_validation_epoch_end(self) -> None:
        for idx, name in ((0, "member"), (1, "nonmember")):
            values = self._val_losses[idx]
            if values:
                self.log(f"val/{name}_loss", sum(values) / len(values), prog_bar=True, sync_dist=True)
            self._val_losses[idx] = []

    def configure_optimizers(self):
        hp = self.hparams
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=hp.lr, weight_decay=hp.weight_decay)
        total = max(1, self.trainer.estimated_stepping_batches)
        warm = min(hp.warmup_steps, total // 2)  # a short run still gets its decay
        scheduler = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: warmup_cosine(step, total, warm))
        return [opt], [{"scheduler": scheduler, "interval": "step"}]

    def on_train_start(self) -> None:
        # What the loader serves is what the model trains on (members, teaching pairs, or an
        # exposure stream): recorded as it is, for the influence stage's curvature.
        self._trained_items = list(self.trainer.train_dataloader.dataset)

    def write_training_texts(self, path: Path) -> None:
        """Each distinct training text once, with how often one pass over the data shows it."""
        from paramem.io import atomic_write_jsonl

        counts: dict[tuple[str, int], int] = {}
        for item in getattr(self, "_trained_items", []):
            key = (item["text"], int(item.get("loss_start_char", 0)))
            counts[key] = counts.get(key, 0) + 1
        atomic_write_jsonl(path, ({"text": t, "loss_start_char": c, "count": n} for (t, c), n in counts.items()))

    # -- end of fit ---------------------------------------------------------------------------
    @torch.no_grad()
    def final_losses(self) -> dict[str, float]:
        """Mean per-sample loss on members and non-members with the trained weights."""
        dm = self.trainer.datamodule
        self.model.eval()
        out = {}
        for label, name in ((1, "member"), (0, "nonmember")):
            texts = [s for s in dm.samples if s["label"] == label]
            losses = []
            for i in range(0, len(texts), 32):
                loss_sum, n_tok = self._losses(texts[i:i + 32])
                losses.extend((loss_sum / n_tok.clamp(min=1)).tolist())
            out[f"final/{name}_loss"] = sum(losses) / max(1, len(losses))
        return out

    def on_train_end(self) -> None:
        out_dir = self.layout.model_dir
        self.model = merged(self.model)  # a full model directory, whatever trained
        if self.trainer.is_global_zero:
            self.model.save_pretrained(out_dir, safe_serialization=True)
            self.tokenizer.padding_side = "left"  # what every predict stage expects
            self.tokenizer.save_pretrained(out_dir)
            self.tokenizer.padding_side = "right"
            self.write_training_texts(self.layout.train_texts)
            from paramem.artifacts import stage_lineage

            from paramem.stage import corpus_files

            source = getattr(self.trainer.datamodule, "source", None)
            outputs = {"model": [out_dir], "corpus": corpus_files(source, self.layout)}
            stage_lineage(self.loggers, self.run_dir, {k: v for k, v in outputs.items() if v})
        if self.ledger is not None:
            trained = self.ledger.merged_trained()
            if self.trainer.is_global_zero:
                self.ledger.write(self.layout.train_stream, self.trainer.current_epoch,
                                  self.trainer.datamodule.seed, trained)
        losses = self.final_losses()
        for logger in self.loggers:
            logger.log_metrics(losses, step=self.global_step)
        if self.trainer.is_global_zero:
            ratio = losses["final/member_loss"] / max(losses["final/nonmember_loss"], 1e-12)
            print(f"[paramem] model saved to {out_dir}")
            print(f"[paramem] mean loss: members {losses['final/member_loss']:.4f}, "
                  f"non-members {losses['final/nonmember_loss']:.4f} (ratio {ratio:.3f})")
