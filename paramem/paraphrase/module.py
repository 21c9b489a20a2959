"""Near-duplicate generation as a predict loop -> ``<run_dir>/paraphrases.jsonl``.

Every sample gets K candidates from a prompted causal LM (the paraphraser, which may
differ from the target model). Each candidate is kept with ``valid`` and ``reason``; a
failed paraphrase stays failed and is never replaced by the original text.
"""

from __future__ import annotations

import logging

import torch

from paramem.paraphrase import decoding
from paramem.paraphrase.cleaning import clean, edit_similarity
from paramem.paraphrase.fields import check_field, split_field
from paramem.paraphrase.gate import DEFAULT_EDIT_RANGE, DEFAULT_MIN_SEMANTIC, check_edit_range, validate
from paramem.paraphrase.paraphraser import resolve
from paramem.paraphrase.templates import load_templates
from paramem.records import output_record
from paramem.io import InputError
from paramem.stage import PredictStage
from paramem.textbatch import special_tokens_kwargs

log = logging.getLogger(__name__)


class ParaphraseGenerator(PredictStage):
    """Args (beyond PredictStage's; ``model`` is the paraphraser, ``paramem:embedded_paraphraser``
    the small model shipped for the embedded corpus):
        mode: greedy_Nprompts | beam_single_prompt | beam_Nprompts | nucleus_Nprompts.
        num_paraphrases, num_beams, soft_sampling, temperature, top_p, top_k,
        repetition_penalty, length_penalty, seed: decoding knobs (DESIGN.md defaults when null).
        max_prompt_tokens: longer originals are truncated to fit (recorded as ``truncated``).
        templates: shipped family (near_duplicate, syntactic, compact) or a template file.
        template_names: pick templates of the family by name (order kept).
        few_shot: prepend the family's example pair(s) (true, false or a count).
        chat_template: auto (use the tokenizer's chat template when it has one) | true | false;
            the rendered template is then the user message.
        paraphrase_field: answer | question | text | null (answer for QA samples, else text).
        The gate (gate.py): min_words; semantic_similarity (score with all-MiniLM-L6-v2);
        min_semantic_similarity (``low_similarity`` below it; null = off);
        edit_similarity_range ([low, high] InDel ratio: ``too_different`` / ``too_close``;
        null = off); check_entities (names and numbers must survive, ``entity_changed``;
        null = on for the embedded corpus only).
    """

    output_name = "paraphrases.jsonl"
    max_length_setting = "max_prompt_tokens"

    def __init__(self, run_dir: str = "lightning_logs/paramem", model: str | None = None, dtype: str = "auto",
                 trust_remote_code: bool = False, mode: str = "beam_single_prompt", num_paraphrases: int = 3,
                 num_beams: int = 3, soft_sampling: bool = False, temperature: float | None = None,
                 top_p: float | None = None, top_k: int | None = None, repetition_penalty: float | None = None,
                 length_penalty: float = 1.0, max_prompt_tokens: int = 512, seed: int = 0,
                 templates: str = "near_duplicate", template_names: list[str] | None = None,
                 few_shot: bool | int = False, chat_template: str | bool = "auto",
                 paraphrase_field: str | None = None, min_words: int = 3, semantic_similarity: bool = True,
                 min_semantic_similarity: float | None = DEFAULT_MIN_SEMANTIC,
                 edit_similarity_range: list[float] | None = list(DEFAULT_EDIT_RANGE),
                 check_entities: bool | None = None, add_special_tokens: str | bool = "auto") -> None:
        super().__init__(run_dir, resolve(model), dtype, max_prompt_tokens, trust_remote_code, add_special_tokens)
        # Recorded as given: the alias, not the install path, names the shipped paraphraser.
        self.paraphraser_name = model if model is not None and resolve(model) != model else None
        # Bad settings end in one "paramem: error:" line naming the setting, never a traceback.
        try:
            self.settings = decoding.DecodingSettings(
                mode=mode, num_paraphrases=num_paraphrases, num_beams=num_beams, soft_sampling=soft_sampling,
                temperature=temperature, top_p=top_p, top_k=top_k, repetition_penalty=repetition_penalty,
                length_penalty=length_penalty, max_prompt_tokens=max_prompt_tokens, seed=seed)
            self.templates = load_templates(templates, template_names)
            self.requests = decoding.plan(self.settings, len(self.templates))  # fails early on too few templates
            self.template_source, self.few_shot = templates, few_shot
            if str(chat_template).lower() not in ("auto", "true", "false"):
                raise ValueError(f"chat_template must be auto, true or false, got {chat_template!r}")
            self.chat_setting = str(chat_template).lower()
            self.field = check_field(paraphrase_field)
            self.min_words, self.min_semantic = min_words, min_semantic_similarity
            if min_semantic_similarity is not None and not semantic_similarity:
                raise ValueError("min_semantic_similarity needs semantic_similarity: true "
                                 "(or switch the semantic gate off with min_semantic_similarity: null)")
            self.edit_range = check_edit_range(edit_similarity_range)
            self.entity_setting = check_entities
            self.use_semantic = semantic_similarity
        except ValueError as e:
            raise InputError(f"paraphrase stage (model.init_args): {e}") from None
        self._similarity = None
        self._overheads: dict[str, int] = {}

    @property
    def check_entities(self) -> bool:
        """``check_entities: null`` = on for the embedded corpus (its names and numbers are
        the facts a near-duplicate must keep), off elsewhere."""
        if self.entity_setting is not None:
            return bool(self.entity_setting)
        source = getattr(getattr(self._trainer, "datamodule", None), "source", None) if self._trainer else None
        return source is not None and source.name() == "embedded"

    @property
    def use_chat(self) -> bool:
        has = bool(getattr(self.tokenizer, "chat_template", None))
        if self.chat_setting == "true" and not has:
            raise InputError(f"chat_template: true, but the tokenizer of {self.model_path} has no chat template")
        return has if self.chat_setting == "auto" else self.chat_setting == "true"

    def settings_record(self) -> dict:
        s = self.settings
        return {"mode": s.mode, "num_paraphrases": s.num_paraphrases, "num_beams": s.num_beams,
                "soft_sampling": s.soft_sampling, "temperature": s.temperature, "top_p": s.top_p, "top_k": s.top_k,
                "repetition_penalty": s.repetition_penalty, "length_penalty": s.length_penalty, "seed": s.seed,
                "templates": [self.templates[r.template_index].name for r in self.requests],
                "template_source": self.template_source, "few_shot": self.few_shot,
                "chat_template": self.chat_setting, "paraphrase_field": self.field,
                "paraphraser": self.paraphraser_name or self.model_path,
                "gate": self.gate_record()}

    def gate_record(self) -> dict:
        return {"min_words": self.min_words, "min_semantic_similarity": self.min_semantic,
                "edit_similarity_range": list(self.edit_range) if self.edit_range else None,
                "check_entities": self.check_entities}

    def signature_extra(self) -> dict:
        """Resolved settings (the gate as applied, the chat template) and the prompts
        themselves: a template file edited between runs changes the results. The
        paraphraser is compared by its files' fingerprint (``model``), not its path."""
        import hashlib

        prompts = "\x00".join(t.render("{text}", self.few_shot) for t in self.templates)
        settings = {k: v for k, v in self.settings_record().items() if k != "paraphraser"}
        return {**settings, "prompts_sha256": hashlib.sha256(prompts.encode("utf-8")).hexdigest()[:16]}

    def similarity(self):
        if self._similarity is None:
            from paramem.paraphrase.similarity import SemanticSimilarity

            self._similarity = SemanticSimilarity(device=str(self.device))
        return self._similarity

    # -- generation --------------------------------------------------------------------------
    def _prompt(self, template, text: str) -> str:
        """The template rendered for ``text``; with a chat template, as the user's message."""
        rendered = template.render(text, self.few_shot)
        if not self.use_chat:
            return rendered
        return self.tokenizer.apply_chat_template([{"role": "user", "content": rendered}], tokenize=False,
                                                  add_generation_prompt=True)

    def _tokenizer_kwargs(self) -> dict:
        # A chat template writes its own BOS / role markers into the prompt text: the
        # tokenizer must not add them a second time.
        return {"add_special_tokens": False} if self.use_chat else special_tokens_kwargs(self.add_special_tokens)

    def _overhead(self, template) -> int:
        """Prompt tokens a template adds around the text (constant: computed once); special
        tokens the tokenizer adds (a LLaMA BOS) count as overhead too."""
        if template.name not in self._overheads:
            rendered = self._prompt(template, "")
            self._overheads[template.name] = len(self.tokenizer(rendered, **self._tokenizer_kwargs())["input_ids"])
        return self._overheads[template.name]

    def _fit_text(self, text: str, ids: list[int], template) -> tuple[str, int, bool]:
        """Truncate the original (token ``ids``) so the rendered prompt fits max_prompt_tokens."""
        room = max(8, self.settings.max_prompt_tokens - self._overhead(template))
        if len(ids) <= room:
            return text, len(ids), False
        return self.tokenizer.decode(ids[:room]), room, True

    def _generate(self, prompts: list[str], keys: list[str], n_orig: list[int], request) -> list[list[str]]:
        """One generate call; returns ``num_return_sequences`` decoded texts per prompt."""
        limits = [decoding.length_limits(n) for n in n_orig]
        lo, hi = [a for a, _ in limits], [b for _, b in limits]
        return decoding.generate_texts(self.lm, self.tokenizer, self.settings, prompts, keys, lo, hi, request,
                                       self.device, self._tokenizer_kwargs())

    def process(self, batch: list[dict]) -> list[dict]:
        candidates: list[list[tuple[str, str]]] = [[] for _ in batch]  # (template name, raw text)
        truncated = [False] * len(batch)
        # N-prompt modes: every (sample, template) row goes into one generate call.
        prompts, keys, n_orig, owners = [], [], [], []
        splits = [split_field(s, self.field) for s in batch]
        text_ids = self.tokenizer([f.body for f in splits], add_special_tokens=False)["input_ids"]
        for req in self.requests:
            template = self.templates[req.template_index]
            for i, s in enumerate(batch):
                text, n_tok, cut = self._fit_text(splits[i].body, text_ids[i], template)
                truncated[i] |= cut
                prompts.append(self._prompt(template, text))
                keys.append(decoding.noise_key(s["uid"], template.name))
                n_orig.append(n_tok)
                owners.append((i, template.name))
        outputs = self._generate(prompts, keys, n_orig, self.requests[0])
        for (i, name), texts in zip(owners, outputs):
            candidates[i].extend((name, t) for t in texts)
        return self._records(batch, splits, candidates, truncated)

    def _records(self, batch, splits, candidates, truncated) -> list[dict]:
        cleaned = [[(name, clean(raw, f.body)) for name, raw in cands] for f, cands in zip(splits, candidates)]
        sims: list[float] = []
        if self.use_semantic:
            pairs = [(f.body, c) for f, cands in zip(splits, cleaned) for _, c in cands if c.strip()]
            sims = self.similarity().pairwise([a for a, _ in pairs], [b for _, b in pairs]) if pairs else []
        sim_iter = iter(sims)
        check_entities = self.check_entities
        records = []
        for s, field, cands, cut in zip(batch, splits, cleaned, truncated):
            paras, seen = [], set()
            for name, body in cands:
                # Similarities compare the rewritten field with the original field: the
                # verbatim rest of a QA text would otherwise inflate both.
                sim = next(sim_iter) if self.use_semantic and body.strip() else None
                edit = edit_similarity(body, field.body)
                valid, reason = validate(body, field.body, self.min_words, self.min_semantic, sim, self.edit_range,
                                         check_entities, edit)
                if valid and body in seen:
                    valid, reason = False, "duplicate"
                seen.add(body)
                text, loss_start = field.join(body)
                para = {"text": text, "valid": valid, "reason": reason, "similarity": sim, "edit_similarity": edit,
                        "template": name}
                if loss_start is not None:
                    para["loss_start_char"] = loss_start
                paras.append(para)
            records.append(output_record(s, {"text": s["text"], "field": field.field, "paraphrases": paras,
                                             "n_valid": sum(p["valid"] for p in paras), "truncated": cut,
                                             "settings": self.settings_record()}, carry=("loss_start_char",)))
        return records

    # -- summary -----------------------------------------------------------------------------
    def on_outputs_merged(self, path) -> None:
        from paramem.loggers import wandb_loggers
        from paramem.paraphrase.summary import FIGURE_NAME, collect, similarity_figure, summarize_paraphrases

        data = collect(path)
        summary, examples = summarize_paraphrases(data, self.settings.num_paraphrases)
        print("[paramem] paraphrases: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                                    for k, v in summary.items()))
        figure = similarity_figure(data, self.layout.output(FIGURE_NAME))
        print(f"[paramem] similarity histograms: {figure}")
        for logger in self.loggers:
            logger.log_metrics({f"paraphrase/{k}": v for k, v in summary.items()})
        for logger in wandb_loggers(self.loggers):
            import wandb

            logger.experiment.log({"paraphrase/similarity": wandb.Image(str(figure))})
            logger.log_table("paraphrase/examples", columns=list(examples[0]) if examples else ["uid"],
                             data=[list(e.values()) for e in examples])
