"""Near-duplicate generation as a predict loop -> ``<run_dir>/paraphrases.jsonl``.

Every sample gets K candidates from a prompted causal LM (the paraphraser, which may
differ from the target model). Each candidate is kept with ``valid`` and ``reason``; a
failed paraphrase stays failed and is never replaced by the original text.
"""

from __future__ import annotations

import logging

import torch

from paramem.paraphrase import decoding
from paramem.paraphrase.cleaning import clean, edit_similarity, validate
from paramem.paraphrase.templates import load_templates
from paramem.records import output_record
from paramem.stage import PredictStage
from paramem.textbatch import special_tokens_kwargs

log = logging.getLogger(__name__)


class ParaphraseGenerator(PredictStage):
    """Args (beyond PredictStage's; ``model`` is the paraphraser):
        mode: greedy_Nprompts | beam_single_prompt | beam_Nprompts | nucleus_Nprompts.
        num_paraphrases, num_beams, soft_sampling, temperature, top_p, top_k,
        repetition_penalty, length_penalty, seed: decoding knobs (DESIGN.md defaults when null).
        max_prompt_tokens: longer originals are truncated to fit (recorded as ``truncated``).
        templates: shipped family (near_duplicate, syntactic, compact) or a template file.
        template_names: pick templates of the family by name (order kept).
        few_shot: prepend the family's example pair(s) (true, false or a count).
        min_words: shortest valid paraphrase.
        semantic_similarity: score each candidate with all-MiniLM-L6-v2 (offline pip package).
        min_semantic_similarity: candidates below it are invalid (``low_similarity``).
    """

    output_name = "paraphrases.jsonl"

    def __init__(self, run_dir: str = "lightning_logs/paramem", model: str | None = None, dtype: str = "auto",
                 trust_remote_code: bool = False, mode: str = "beam_single_prompt", num_paraphrases: int = 3,
                 num_beams: int = 3, soft_sampling: bool = False, temperature: float | None = None,
                 top_p: float | None = None, top_k: int | None = None, repetition_penalty: float | None = None,
                 length_penalty: float = 1.0, max_prompt_tokens: int = 512, seed: int = 0,
                 templates: str = "near_duplicate", template_names: list[str] | None = None,
                 few_shot: bool | int = False, min_words: int = 3, semantic_similarity: bool = True,
                 min_semantic_similarity: float | None = None, add_special_tokens: str | bool = "auto") -> None:
        super().__init__(run_dir, model, dtype, max_prompt_tokens, trust_remote_code, add_special_tokens)
        self.settings = decoding.DecodingSettings(
            mode=mode, num_paraphrases=num_paraphrases, num_beams=num_beams, soft_sampling=soft_sampling,
            temperature=temperature, top_p=top_p, top_k=top_k, repetition_penalty=repetition_penalty,
            length_penalty=length_penalty, max_prompt_tokens=max_prompt_tokens, seed=seed)
        self.templates = load_templates(templates, template_names)
        self.requests = decoding.plan(self.settings, len(self.templates))  # fails early on too few templates
        self.template_source, self.few_shot = templates, few_shot
        self.min_words, self.min_semantic = min_words, min_semantic_similarity
        if min_semantic_similarity is not None and not semantic_similarity:
            raise ValueError("min_semantic_similarity needs semantic_similarity: true")
        self.use_semantic = semantic_similarity
        self._similarity = None
        self._overheads: dict[str, int] = {}

    def settings_record(self) -> dict:
        s = self.settings
        return {"mode": s.mode, "num_paraphrases": s.num_paraphrases, "num_beams": s.num_beams,
                "soft_sampling": s.soft_sampling, "temperature": s.temperature, "top_p": s.top_p, "top_k": s.top_k,
                "repetition_penalty": s.repetition_penalty, "length_penalty": s.length_penalty, "seed": s.seed,
                "templates": [self.templates[r.template_index].name for r in self.requests],
                "template_source": self.template_source,
                "few_shot": self.few_shot, "paraphraser": self.model_path}

    def signature_extra(self) -> dict:
        sig = self.settings_record()
        sig.update(min_words=self.min_words, min_semantic_similarity=self.min_semantic)
        return sig

    def similarity(self):
        if self._similarity is None:
            from paramem.paraphrase.similarity import SemanticSimilarity

            self._similarity = SemanticSimilarity(device=str(self.device))
        return self._similarity

    # -- generation --------------------------------------------------------------------------
    def _overhead(self, template) -> int:
        """Prompt tokens a template adds around the text (constant: computed once)."""
        if template.name not in self._overheads:
            rendered = template.render("", self.few_shot)
            # Special tokens the tokenizer adds (a LLaMA BOS) count as overhead too.
            kwargs = special_tokens_kwargs(self.add_special_tokens)
            self._overheads[template.name] = len(self.tokenizer(rendered, **kwargs)["input_ids"])
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
                                       self.device, special_tokens_kwargs(self.add_special_tokens))

    def process(self, batch: list[dict]) -> list[dict]:
        candidates: list[list[tuple[str, str]]] = [[] for _ in batch]  # (template name, raw text)
        truncated = [False] * len(batch)
        # N-prompt modes: every (sample, template) row goes into one generate call.
        prompts, keys, n_orig, owners = [], [], [], []
        text_ids = self.tokenizer([s["text"] for s in batch], add_special_tokens=False)["input_ids"]
        for req in self.requests:
            template = self.templates[req.template_index]
            for i, s in enumerate(batch):
                text, n_tok, cut = self._fit_text(s["text"], text_ids[i], template)
                truncated[i] |= cut
                prompts.append(template.render(text, self.few_shot))
                keys.append(decoding.noise_key(s["uid"], template.name))
                n_orig.append(n_tok)
                owners.append((i, template.name))
        outputs = self._generate(prompts, keys, n_orig, self.requests[0])
        for (i, name), texts in zip(owners, outputs):
            candidates[i].extend((name, t) for t in texts)
        return self._records(batch, candidates, truncated)

    def _records(self, batch, candidates, truncated) -> list[dict]:
        cleaned = [[(name, clean(raw, s["text"])) for name, raw in cands] for s, cands in zip(batch, candidates)]
        sims: list[float] = []
        if self.use_semantic:
            pairs = [(s["text"], c) for s, cands in zip(batch, cleaned) for _, c in cands if c.strip()]
            sims = self.similarity().pairwise([a for a, _ in pairs], [b for _, b in pairs]) if pairs else []
        sim_iter = iter(sims)
        records = []
        for s, cands, cut in zip(batch, cleaned, truncated):
            paras, seen = [], set()
            for name, text in cands:
                sim = next(sim_iter) if self.use_semantic and text.strip() else None
                valid, reason = validate(text, s["text"], self.min_words, self.min_semantic, sim)
                if valid and text in seen:
                    valid, reason = False, "duplicate"
                seen.add(text)
                paras.append({"text": text, "valid": valid, "reason": reason, "similarity": sim,
                              "edit_similarity": edit_similarity(text, s["text"]), "template": name})
            records.append(output_record(s, {"text": s["text"], "paraphrases": paras,
                                             "n_valid": sum(p["valid"] for p in paras), "truncated": cut,
                                             "settings": self.settings_record()}, carry=("loss_start_char",)))
        return records

    # -- summary -----------------------------------------------------------------------------
    def on_outputs_merged(self, path) -> None:
        from paramem.loggers import wandb_loggers
        from paramem.paraphrase.summary import summarize_paraphrases

        summary, examples = summarize_paraphrases(path, self.settings.num_paraphrases)
        print("[paramem] paraphrases: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                                    for k, v in summary.items()))
        for logger in self.loggers:
            logger.log_metrics({f"paraphrase/{k}": v for k, v in summary.items()})
        for logger in wandb_loggers(self.loggers):
            logger.log_table("paraphrase/examples", columns=list(examples[0]) if examples else ["uid"],
                             data=[list(e.values()) for e in examples])
