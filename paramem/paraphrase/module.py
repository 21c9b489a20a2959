"""Near-duplicate generation as a predict loop -> ``<run_dir>/paraphrases.jsonl``.

Every sample gets K candidates from a prompted causal LM (the paraphraser, which may
differ from the target model). Each candidate is kept with ``valid`` and ``reason``; a
failed paraphrase stays failed and is never replaced by the original text.
"""

from __future__ import annotations

import logging

import torch

from paramem.io import InputError
from paramem.paraphrase import decoding
from paramem.paraphrase.cleaning import clean, edit_similarity, normalized
from paramem.paraphrase.decoding import DecodingSettings
from paramem.paraphrase.decoding import plan as decoding_plan
from paramem.paraphrase.fields import split_field
from paramem.paraphrase.gate import REAL_TEXT_FIELDS, GateSettings, local_similarity, validate
from paramem.paraphrase.paraphraser import resolve
from paramem.paraphrase.synedit import settings_record as synedit_record
from paramem.paraphrase.templates import PromptSettings, load_templates
from paramem.records import output_record
from paramem.settings import as_group
from paramem.stage import PredictStage
from paramem.textbatch import special_tokens_kwargs

log = logging.getLogger(__name__)


class ParaphraseGenerator(PredictStage):
    """Args (beyond PredictStage's; ``model`` is the paraphraser, ``paramem:embedded_paraphraser``
    the small model shipped for the embedded corpus):
        max_prompt_tokens: longer originals are truncated to fit (recorded as ``truncated``).
        decoding: mode, decoding knobs, decoder and re-ask rounds (decoding.DecodingSettings;
            DESIGN.md defaults when null).
        prompt: templates, few-shot examples, chat template, field (templates.PromptSettings).
        gate: the near-duplicate gate (gate.GateSettings). Copies of a few-shot example or of
            the instructions are always rejected (``copied_example`` / ``copied_instruction``).
    """

    output_name = "paraphrases.jsonl"
    max_length_setting = "max_prompt_tokens"

    def __init__(self, run_dir: str = "lightning_logs/paramem", model: str | None = None, dtype: str = "auto",
                 trust_remote_code: bool = False, max_prompt_tokens: int = 512, add_special_tokens: str | bool = "auto",
                 decoding: DecodingSettings = DecodingSettings(), prompt: PromptSettings = PromptSettings(),
                 gate: GateSettings = GateSettings()) -> None:
        super().__init__(run_dir, resolve(model), dtype, max_prompt_tokens, trust_remote_code, add_special_tokens)
        # Recorded as given: the alias, not the install path, names the shipped paraphraser.
        self.paraphraser_name = model if model is not None and resolve(model) != model else None
        self.settings = as_group(DecodingSettings, decoding).resolve()
        self.prompt, self.gate = as_group(PromptSettings, prompt), as_group(GateSettings, gate)
        self.reask_rounds = self.settings.reask_rounds
        # Bad settings end in one "paramem: error:" line naming the setting, never a traceback.
        try:
            self.templates = load_templates(self.prompt.templates, self.prompt.template_names)
            self.requests = decoding_plan(self.settings, len(self.templates))  # fails early on too few templates
        except ValueError as e:
            raise InputError(f"paraphrase stage (model.init_args.prompt): {e}") from None
        self._similarity = None
        self._overheads: dict[str, int] = {}

    @property
    def check_entities(self) -> bool:
        """``check_entities: null`` = on for the embedded corpus (its names and numbers are
        the facts a near-duplicate must keep), off elsewhere."""
        if self.gate.check_entities is not None:
            return bool(self.gate.check_entities)
        source = getattr(getattr(self._trainer, "datamodule", None), "source", None) if self._trainer else None
        return source is not None and source.name() == "embedded"

    @property
    def use_chat(self) -> bool:
        has = bool(getattr(self.tokenizer, "chat_template", None))
        chat = self.prompt.chat
        if chat == "true" and not has:
            raise InputError(f"model.init_args.prompt.chat_template: true, but the tokenizer of {self.model_path} "
                             f"has no chat template")
        return has if chat == "auto" else chat == "true"

    def settings_record(self) -> dict:
        s = self.settings
        return {"mode": s.mode, "num_paraphrases": s.num_paraphrases, "num_beams": s.num_beams,
                "soft_sampling": s.soft_sampling, "temperature": s.temperature, "top_p": s.top_p, "top_k": s.top_k,
                "repetition_penalty": s.repetition_penalty, "length_penalty": s.length_penalty, "seed": s.seed,
                "templates": [self.templates[r.template_index].name for r in self.requests],
                "template_source": self.prompt.templates, "few_shot": self.prompt.few_shot,
                "chat_template": self.prompt.chat, "paraphrase_field": self.prompt.field,
                "reask_rounds": self.reask_rounds,
                **({"synonyms": synedit_record(s.synonyms)} if s.mode == "synonym_edit" else {}),
                "paraphraser": self.paraphraser_name or self.model_path, "decoder": s.decoder,
                "gate": self.gate_record()}

    def gate_record(self) -> dict:
        edit_range = self.gate.edit_range
        return {"min_words": self.gate.min_words, "min_semantic_similarity": self.gate.min_semantic_similarity,
                "edit_similarity_range": list(edit_range) if edit_range else None,
                "check_entities": self.check_entities, "min_word_similarity": self.gate.min_word_similarity,
                **{k: getattr(self.gate, k) for k in REAL_TEXT_FIELDS},
                **({"min_local_similarity": self.gate.min_local_similarity}
                   if self.gate.min_local_similarity is not None else {})}

    def signature_extra(self) -> dict:
        """Resolved settings (the gate as applied, the chat template) and the prompts
        themselves: a template file edited between runs changes the results. The
        paraphraser is compared by its files' fingerprint (``model``), not its path."""
        import hashlib

        prompts = "\x00".join(t.render("{text}", self.prompt.few_shot) for t in self.templates)
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
            return template.render(text, self.prompt.few_shot)
        return self.tokenizer.apply_chat_template(template.messages(text, self.prompt.few_shot), tokenize=False,
                                                  add_generation_prompt=True)

    def _prompt_texts(self, template) -> tuple[list[str], list[str]]:
        """(few-shot example texts shown, instruction texts) of a template: what a candidate
        must not copy."""
        shown = template.examples[:template._n_examples(self.prompt.few_shot)]
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
        room = max(8, self.max_length - self._overhead(template))
        if len(ids) <= room:
            return text, len(ids), False
        return self.tokenizer.decode(ids[:room]), room, True

    def _generate(self, prompts: list[str], keys: list[str], n_orig: list[int], request, originals: list[str],
                  round_: int) -> list[list[str]]:
        """One generate call; returns ``num_return_sequences`` decoded texts per prompt
        (word_edit: up to that many edited copies of each prompt's original; synonym_edit:
        every fitting edit of the round's places)."""
        if self.settings.mode == "word_edit":
            from paramem.paraphrase import editgen

            return editgen.edit_texts(self.lm, self.tokenizer, prompts, originals, keys,
                                      request.num_return_sequences, self.settings.seed, self.device,
                                      self._tokenizer_kwargs())
        if self.settings.mode == "synonym_edit":
            from paramem.paraphrase import synedit

            return synedit.synonym_texts(self.lm, self.tokenizer, prompts, originals, keys, self.settings.seed,
                                         self.device, self._tokenizer_kwargs(), self.settings.synonyms, round_,
                                         self.similarity() if self.settings.synonyms.min_pair_similarity is not None
                                         else None)
        limits = [decoding.length_limits(n) for n in n_orig]
        lo, hi = [a for a, _ in limits], [b for _, b in limits]
        return decoding.generate_texts(self.lm, self.tokenizer, self.settings, prompts, keys, lo, hi, request,
                                       self.device, self._tokenizer_kwargs())

    def _ask(self, batch, splits, text_ids, round_: int, truncated: list[bool]) -> list[list[tuple[str, str]]]:
        """One round of generation: ``(template name, raw text)`` candidates per sample. All
        (sample, template) rows go into one generate call; a re-ask round draws fresh
        noise (its own key), so a sampled mode answers anew."""
        candidates: list[list[tuple[str, str]]] = [[] for _ in batch]
        prompts, keys, n_orig, owners, originals = [], [], [], [], []
        for req in self.requests:
            template = self.templates[req.template_index]
            # synonym_edit's rounds split one order of words instead (synedit.py).
            fresh_key = round_ and self.settings.mode != "synonym_edit"
            key_name = f"{template.name}\x1fround{round_}" if fresh_key else template.name
            for i, s in enumerate(batch):
                text, n_tok, cut = self._fit_text(splits[i].body, text_ids[i], template)
                truncated[i] |= cut
                prompts.append(self._prompt(template, text))
                keys.append(decoding.noise_key(s["uid"], key_name))
                n_orig.append(n_tok)
                originals.append(text)
                owners.append((i, template.name))
        outputs = self._generate(prompts, keys, n_orig, self.requests[0], originals, round_)
        for (i, name), texts in zip(owners, outputs):
            candidates[i].extend((name, t) for t in texts)
        return candidates

    def process(self, batch: list[dict]) -> list[dict]:
        splits = [split_field(s, self.prompt.field) for s in batch]
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
        # Edit modes build their candidates from the original: cleaning (meant for generated
        # text) would strip the original's own bullets or quotes from them.
        built = self.settings.mode in decoding.EDIT_MODES
        cleaned = [[(name, raw if built else clean(raw, f.body)) for name, raw in cands]
                   for f, cands in zip(splits, candidates)]
        sims: list[float] = []
        gate = self.gate
        if gate.semantic_similarity:
            pairs = [(f.body, c) for f, cands in zip(splits, cleaned) for _, c in cands if c.strip()]
            sims = self.similarity().pairwise([a for a, _ in pairs], [b for _, b in pairs]) if pairs else []
        sim_iter = iter(sims)
        local_iter = iter(local_similarity([c for _, c in pairs], [a for a, _ in pairs], self.similarity())
                          if gate.min_local_similarity is not None else [])
        check_entities = self.check_entities
        prompt_texts = {t.name: self._prompt_texts(t) for t in self.templates}
        for field, cands, out, valid_bodies in zip(splits, cleaned, paras, seen_valid):
            seen = valid_bodies
            for name, body in cands:
                # Similarities compare the rewritten field with the original field: the
                # verbatim rest of a QA text would otherwise inflate both.
                sim = next(sim_iter) if gate.semantic_similarity and body.strip() else None
                local = next(local_iter) if gate.min_local_similarity is not None and body.strip() else None
                edit = edit_similarity(body, field.body)
                valid, reason = validate(body, field.body, gate.min_words, gate.min_semantic_similarity, sim,
                                         gate.edit_range, check_entities, edit, gate.min_word_similarity,
                                         prompt_texts[name], gate, local)
                if valid and normalized(body) in seen:
                    valid, reason = False, "duplicate"
                elif valid and len(seen) >= self.settings.num_paraphrases:
                    valid, reason = False, "surplus"
                if valid:
                    seen.add(normalized(body))
                text, loss_start = field.join(body)
                para = {"text": text, "valid": valid, "reason": reason, "similarity": sim, "edit_similarity": edit,
                        "template": name}
                if gate.min_local_similarity is not None:
                    para["local_similarity"] = local
                if loss_start is not None:
                    para["loss_start_char"] = loss_start
                if self.reask_rounds:
                    para["round"] = round_
                out.append(para)

    # -- summary -----------------------------------------------------------------------------
    def on_records_merged(self, path, records: list[dict]) -> None:
        from paramem.loggers import wandb_loggers
        from paramem.paraphrase.summary import FIGURE_NAME, collect, similarity_figure, summarize_paraphrases

        data = collect(records)
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
