"""Near-duplicate generation as a predict loop -> ``<run_dir>/paraphrases.jsonl``.

Every sample gets K candidates from a prompted causal LM (the paraphraser, which may
differ from the target model). Each candidate is kept with ``valid`` and ``reason``; a
failed paraphrase stays failed and is never replaced by the original text.
"""

from __future__ import annotations

import logging

import torch

from paramem.paraphrase import decoding
from paramem.paraphrase.cleaning import clean, edit_similarity, normalized
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
        decoder: fast (static KV cache, paramem.paraphrase.fastgen; GPT-NeoX and LLaMA) | hf
            (transformers generate). fast falls back to hf, with one log line, for other models.
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
        null = on for the embedded corpus only); min_word_similarity (word-level InDel ratio,
        ``words_changed`` below it; null = off). Copies of a few-shot example or of the
        instructions are always rejected (``copied_example`` / ``copied_instruction``).
        reask_rounds: sampled modes only: a sample with fewer than ``num_paraphrases``
        distinct valid candidates is asked again with fresh noise, at most this many more
        times (0 = once, as before).
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
                 check_entities: bool | None = None, add_special_tokens: str | bool = "auto",
                 min_word_similarity: float | None = None, reask_rounds: int = 0, decoder: str = "fast") -> None:
        super().__init__(run_dir, resolve(model), dtype, max_prompt_tokens, trust_remote_code, add_special_tokens)
        # Recorded as given: the alias, not the install path, names the shipped paraphraser.
        self.paraphraser_name = model if model is not None and resolve(model) != model else None
        # Bad settings end in one "paramem: error:" line naming the setting, never a traceback.
        try:
            self.settings = decoding.DecodingSettings(
                mode=mode, num_paraphrases=num_paraphrases, num_beams=num_beams, soft_sampling=soft_sampling,
                temperature=temperature, top_p=top_p, top_k=top_k, repetition_penalty=repetition_penalty,
                length_penalty=length_penalty, max_prompt_tokens=max_prompt_tokens, seed=seed, decoder=decoder)
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
            if min_word_similarity is not None and not 0.0 <= float(min_word_similarity) <= 1.0:
                raise ValueError(f"min_word_similarity must be in [0, 1] or null, got {min_word_similarity!r}")
            self.min_word_similarity = None if min_word_similarity is None else float(min_word_similarity)
            if not isinstance(reask_rounds, int) or isinstance(reask_rounds, bool) or not 0 <= reask_rounds <= 10:
                raise ValueError(f"reask_rounds must be an integer in 0..10, got {reask_rounds!r}")
            if reask_rounds and not self.settings.is_sampled:
                raise ValueError(f"reask_rounds: {reask_rounds} needs a sampled mode (nucleus_Nprompts, or "
                                 f"beam_single_prompt with soft_sampling: true): {mode} would answer the same again")
            self.reask_rounds = reask_rounds
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
                "reask_rounds": self.reask_rounds,
                "paraphraser": self.paraphraser_name or self.model_path, "decoder": s.decoder,
                "gate": self.gate_record()}

    def gate_record(self) -> dict:
        return {"min_words": self.min_words, "min_semantic_similarity": self.min_semantic,
                "edit_similarity_range": list(self.edit_range) if self.edit_range else None,
                "check_entities": self.check_entities, "min_word_similarity": self.min_word_similarity}

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
        if not self.use_chat:
            return template.render(text, self.few_shot)
        return self.tokenizer.apply_chat_template(template.messages(text, self.few_shot), tokenize=False,
                                                  add_generation_prompt=True)

    def _prompt_texts(self, template) -> tuple[list[str], list[str]]:
        """(few-shot example texts shown, instruction texts) of a template: what a candidate
        must not copy."""
        shown = template.examples[:template._n_examples(self.few_shot)]
        return [t for pair in shown for t in pair], template.instruction_texts()

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

    def _ask(self, batch, splits, text_ids, round_: int, truncated: list[bool]) -> list[list[tuple[str, str]]]:
        """One round of generation: ``(template name, raw text)`` candidates per sample. All
        (sample, template) rows go into one generate call; a re-ask round draws fresh
        noise (its own key), so a sampled mode answers anew."""
        candidates: list[list[tuple[str, str]]] = [[] for _ in batch]
        prompts, keys, n_orig, owners = [], [], [], []
        for req in self.requests:
            template = self.templates[req.template_index]
            key_name = template.name if round_ == 0 else f"{template.name}\x1fround{round_}"
            for i, s in enumerate(batch):
                text, n_tok, cut = self._fit_text(splits[i].body, text_ids[i], template)
                truncated[i] |= cut
                prompts.append(self._prompt(template, text))
                keys.append(decoding.noise_key(s["uid"], key_name))
                n_orig.append(n_tok)
                owners.append((i, template.name))
        outputs = self._generate(prompts, keys, n_orig, self.requests[0])
        for (i, name), texts in zip(owners, outputs):
            candidates[i].extend((name, t) for t in texts)
        return candidates

    def process(self, batch: list[dict]) -> list[dict]:
        splits = [split_field(s, self.field) for s in batch]
        text_ids = self.tokenizer([f.body for f in splits], add_special_tokens=False)["input_ids"]
        truncated = [False] * len(batch)
        paras: list[list[dict]] = [[] for _ in batch]
        seen_valid: list[set[str]] = [set() for _ in batch]
        todo = list(range(len(batch)))  # samples still short of K distinct valid candidates
        for round_ in range(1 + self.reask_rounds):
            cut = [False] * len(todo)
            asked = self._ask([batch[i] for i in todo], [splits[i] for i in todo], [text_ids[i] for i in todo],
                              round_, cut)
            for j, i in enumerate(todo):
                truncated[i] |= cut[j]
            self._judge([splits[i] for i in todo], asked, [paras[i] for i in todo], [seen_valid[i] for i in todo],
                        round_)
            todo = [i for i in todo if len(seen_valid[i]) < self.settings.num_paraphrases]
            if not todo:
                break
        return [output_record(s, {"text": s["text"], "field": field.field, "paraphrases": p,
                                  "n_valid": sum(x["valid"] for x in p), "truncated": cut,
                                  "settings": self.settings_record()}, carry=("loss_start_char",))
                for s, field, p, cut in zip(batch, splits, paras, truncated)]

    def _judge(self, splits, candidates, paras: list[list[dict]], seen_valid: list[set[str]], round_: int) -> None:
        """Clean and gate one round's candidates, appending to each sample's ``paras``: the
        first K distinct valid ones count (a repeat, case and spacing ignored, is
        ``duplicate``; one beyond K ``surplus``). ``seen_valid``: each sample's valid texts
        so far (normalized), updated."""
        cleaned = [[(name, clean(raw, f.body)) for name, raw in cands] for f, cands in zip(splits, candidates)]
        sims: list[float] = []
        if self.use_semantic:
            pairs = [(f.body, c) for f, cands in zip(splits, cleaned) for _, c in cands if c.strip()]
            sims = self.similarity().pairwise([a for a, _ in pairs], [b for _, b in pairs]) if pairs else []
        sim_iter = iter(sims)
        check_entities = self.check_entities
        prompt_texts = {t.name: self._prompt_texts(t) for t in self.templates}
        for field, cands, out, valid_bodies in zip(splits, cleaned, paras, seen_valid):
            seen = valid_bodies
            for name, body in cands:
                # Similarities compare the rewritten field with the original field: the
                # verbatim rest of a QA text would otherwise inflate both.
                sim = next(sim_iter) if self.use_semantic and body.strip() else None
                edit = edit_similarity(body, field.body)
                valid, reason = validate(body, field.body, self.min_words, self.min_semantic, sim, self.edit_range,
                                         check_entities, edit, self.min_word_similarity, prompt_texts[name])
                if valid and normalized(body) in seen:
                    valid, reason = False, "duplicate"
                elif valid and len(seen) >= self.settings.num_paraphrases:
                    valid, reason = False, "surplus"
                if valid:
                    seen.add(normalized(body))
                text, loss_start = field.join(body)
                para = {"text": text, "valid": valid, "reason": reason, "similarity": sim, "edit_similarity": edit,
                        "template": name}
                if loss_start is not None:
                    para["loss_start_char"] = loss_start
                if self.reask_rounds:
                    para["round"] = round_
                out.append(para)

    # -- summary -----------------------------------------------------------------------------
    def on_outputs_merged(self, path) -> None:
        from paramem.loggers import wandb_loggers
        from paramem.paraphrase.summary import FIGURE_NAME, collect, similarity_figure, summarize_paraphrases

        data = collect(path)
        summary, examples = summarize_paraphrases(data, self.settings.num_paraphrases)
        print("[paramem] paraphrases: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                                    for k, v in summary.items()))
        figure = similarity_figure(data, self.run_dir / FIGURE_NAME)
        print(f"[paramem] similarity histograms: {figure}")
        for logger in self.loggers:
            logger.log_metrics({f"paraphrase/{k}": v for k, v in summary.items()})
        for logger in wandb_loggers(self.loggers):
            import wandb

            logger.experiment.log({"paraphrase/similarity": wandb.Image(str(figure))})
            logger.log_table("paraphrase/examples", columns=list(examples[0]) if examples else ["uid"],
                             data=[list(e.values()) for e in examples])
