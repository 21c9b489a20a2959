"""Decoding modes of the paraphrase stage (DESIGN.md, "Paraphrase generation").

K = num_paraphrases.
- greedy_Nprompts:    K templates, greedy, one output each.
- beam_single_prompt: 1 template, beam search (num_beams >= K), K returned beams;
                      optional soft beam sampling (stochastic beam search, processors.py).
- beam_Nprompts:      K templates, beam search, best beam of each.
- nucleus_Nprompts:   K templates, nucleus sampling.
- word_edit:          1 template, K copies of the original, one model-proposed word replaced in each (editgen.py).
- synonym_edit:       every fitting copy of the original with one word or phrase replaced by a
                      WordNet synonym or an equivalent phrasing, the model judging fit on the
                      text alone (synedit.py, lexicon.py, phrasebook.py); the stage keeps K.

``do_sample`` is always False: sampling is Gumbel noise from processors.GumbelNoise, so a
sample's paraphrases depend on (seed, uid) only, never on its batch neighbours.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import torch
from transformers import (
    GenerationConfig,
    LogitsProcessorList,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from paramem.io import InputError
from paramem.paraphrase.processors import GumbelNoise, Renormalize, RowLengthWindow, uid_seed
from paramem.paraphrase.synedit import SynonymSettings
from paramem.settings import PREFIX, as_group, check_choice, check_number

__all__ = ["MODES", "DecodingSettings", "Request", "length_limits", "plan", "generation_config", "logits_processors",
           "noise_key", "uid_seed", "trim_generated", "own_generation_config", "generate_texts"]

DECODERS = ("fast", "hf")
MODES = ("greedy_Nprompts", "beam_single_prompt", "beam_Nprompts", "nucleus_Nprompts", "word_edit", "synonym_edit")
# Modes whose candidates are the original with words replaced: one template, no sampling knobs.
EDIT_MODES = ("word_edit", "synonym_edit")
# DESIGN.md: soft beam sampling T=0.25, top_p 0.9, top_k 40, rep. penalty 1.1; nucleus top_p 0.9, T~0.7.
_SOFT_BEAM = {"temperature": 0.25, "top_p": 0.9, "top_k": 40, "repetition_penalty": 1.1}
_NUCLEUS = {"temperature": 0.7, "top_p": 0.9, "top_k": 0, "repetition_penalty": 1.0}


@dataclass
class DecodingSettings:
    """Decoding of the paraphrase stage (``model.init_args.decoding``); ``None`` sampling
    fields take the mode's DESIGN.md default.

    Args:
        mode: greedy_Nprompts | beam_single_prompt | beam_Nprompts | nucleus_Nprompts | word_edit |
            synonym_edit.
        num_paraphrases: candidates per sample (K), >= 1.
        num_beams: beams (beam modes), >= 2; beam_single_prompt needs >= num_paraphrases.
        soft_sampling: stochastic beam search (beam_single_prompt only).
        temperature: > 0 (sampled decoding only).
        top_p: in (0, 1] (sampled decoding only).
        top_k: >= 0, 0 = off (sampled decoding only).
        repetition_penalty: > 0.
        length_penalty: beam search length penalty.
        seed: >= 0; a sample's paraphrases depend on (seed, uid) only.
        decoder: fast (paramem.paraphrase.fastgen, static KV cache; GPT-NeoX and LLaMA) | hf
            (transformers generate); fast falls back to hf, with one log line, for other models.
        reask_rounds: sampled and edit modes, 0..10: a sample short of num_paraphrases distinct
            valid candidates is asked again (fresh noise / word positions), at most this many times.
        synonyms: synonym_edit's knobs (SynonymSettings).
    """

    mode: str = "beam_single_prompt"
    num_paraphrases: int = 3
    num_beams: int = 3
    soft_sampling: bool = False
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    length_penalty: float = 1.0
    seed: int = 0
    decoder: str = "fast"  # fast (fastgen: static KV cache) where the model is covered, else hf
    reask_rounds: int = 0
    synonyms: SynonymSettings = field(default_factory=SynonymSettings)

    def __post_init__(self):
        key = f"{PREFIX}.decoding"
        self.synonyms = as_group(SynonymSettings, self.synonyms)
        check_choice(f"{key}.mode", self.mode, MODES)
        check_choice(f"{key}.decoder", self.decoder, DECODERS)
        k = self.num_paraphrases
        check_number(f"{key}.num_paraphrases", k, 1, integer=True)
        if self.soft_sampling and self.mode != "beam_single_prompt":
            raise InputError(f"{key}.soft_sampling applies to beam_single_prompt only, not {self.mode}")
        if self.is_beam:
            check_number(f"{key}.num_beams", self.num_beams, 2, integer=True)
            if self.mode == "beam_single_prompt" and self.num_beams < k:
                raise InputError(f"{key}.num_beams is {self.num_beams}: beam_single_prompt returns "
                                 f"num_paraphrases={k} beams, so num_beams must be >= {k}")
        sampled = self.is_sampled
        if not sampled:
            given = [n for n in ("temperature", "top_p", "top_k") if getattr(self, n) is not None]
            if given:
                raise InputError(f"{key}: {given} only affect sampling (nucleus_Nprompts, or beam_single_prompt "
                                 f"with soft_sampling=True); mode {self.mode} is deterministic")
        resolved = self.resolve()  # the knobs as applied
        check_number(f"{key}.temperature", resolved.temperature, 0, low_open=True, optional=True)
        check_number(f"{key}.top_p", resolved.top_p, 0, 1, low_open=True, optional=True)
        check_number(f"{key}.top_k", resolved.top_k, 0, integer=True, optional=True)
        check_number(f"{key}.repetition_penalty", resolved.repetition_penalty, 0, low_open=True)
        check_number(f"{key}.length_penalty", self.length_penalty)
        check_number(f"{key}.seed", self.seed, 0, integer=True)
        check_number(f"{key}.reask_rounds", self.reask_rounds, 0, 10, integer=True)
        if self.reask_rounds and not (self.is_sampled or self.mode in EDIT_MODES):
            raise InputError(f"{key}.reask_rounds: {self.reask_rounds} needs a sampled mode (nucleus_Nprompts, or "
                             f"beam_single_prompt with soft_sampling: true): {self.mode} would answer the same again")

    def resolve(self) -> DecodingSettings:
        """A copy with every ``None`` sampling knob set to the mode's DESIGN.md default. The
        instance itself keeps what was given: it is also the default jsonargparse shows and
        merges a config into, so filling it in place would fix one mode's defaults for all."""
        sampled = self.is_sampled
        defaults = _SOFT_BEAM if self.mode == "beam_single_prompt" and sampled else _NUCLEUS
        filled = {n: defaults[n] for n in ("temperature", "top_p", "top_k") if sampled and getattr(self, n) is None}
        if self.repetition_penalty is None:
            filled["repetition_penalty"] = defaults["repetition_penalty"] if sampled else 1.0
        return replace(self, **filled) if filled else self

    @property
    def is_sampled(self) -> bool:
        return self.mode == "nucleus_Nprompts" or (self.mode == "beam_single_prompt" and self.soft_sampling)

    @property
    def is_beam(self) -> bool:
        return self.mode in ("beam_single_prompt", "beam_Nprompts")

    @property
    def n_templates(self) -> int:
        """How many distinct templates the mode uses."""
        return 1 if self.mode in ("beam_single_prompt", *EDIT_MODES) else self.num_paraphrases


@dataclass(frozen=True)
class Request:
    """One generate() call per input text: which template, how wide, how many outputs."""

    template_index: int
    num_beams: int
    num_return_sequences: int


def length_limits(n_orig_tokens: int) -> tuple[int, int]:
    """(min_new, max_new) for an original of n tokens, exactly as DESIGN.md."""
    max_new = int(1.1 * n_orig_tokens) + 15
    min_new = max(10, int(0.9 * n_orig_tokens))
    return min_new, max_new


def plan(settings: DecodingSettings, n_templates: int) -> list[Request]:
    """Requests per text: K templates x 1 output, or 1 template x K beams (beam_single_prompt)."""
    need = settings.n_templates
    if n_templates < need:
        raise ValueError(
            f"mode {settings.mode} with num_paraphrases={settings.num_paraphrases} needs {need} distinct "
            f"templates, only {n_templates} given"
        )
    if settings.mode in ("beam_single_prompt", *EDIT_MODES):
        beams = settings.num_beams if settings.mode == "beam_single_prompt" else 1
        return [Request(0, beams, settings.num_paraphrases)]
    beams = settings.num_beams if settings.mode == "beam_Nprompts" else 1
    return [Request(i, beams, 1) for i in range(need)]


def _as_list(v, n: int = 1) -> list[int]:  # an int (repeated n times) or a per-row sequence
    return [int(x) for x in v] if isinstance(v, (Sequence, torch.Tensor)) else [int(v)] * n


def generation_config(settings: DecodingSettings, min_new, max_new, pad_id: int, eos_id, request: Request | None = None
                      ) -> GenerationConfig:
    """An explicit GenerationConfig (do_sample=False) for one request.

    ``min_new``/``max_new``: an int or one per input row. Both are enforced per row by the
    RowLengthWindow from logits_processors(); the config only reserves max(max_new) + 1 new
    tokens (the +1 is the slot for the forced EOS). Every field that generate() would
    otherwise fill from ``model.generation_config`` is set here; fields whose neutral value
    is None cannot be, so call generate inside ``own_generation_config(model)``.
    """
    if pad_id is None:
        raise ValueError("the paraphraser tokenizer has no pad token: set it (e.g. to EOS) with padding_side='left'")
    settings = settings.resolve()
    lo, hi = _as_list(min_new), _as_list(max_new)
    if len(lo) != len(hi) or any(a > b for a, b in zip(lo, hi)) or min(lo) < 0:
        raise ValueError(f"need 0 <= min_new <= max_new per row, got {lo} and {hi}")
    request = request or plan(settings, settings.n_templates)[0]
    eos = _as_list(eos_id)
    return GenerationConfig(
        do_sample=False,
        num_beams=request.num_beams,
        num_return_sequences=request.num_return_sequences,
        max_new_tokens=max(hi) + 1,
        min_new_tokens=0,
        early_stopping=False,  # its max_length heuristic ("never") would tie rows to the batch's max
        length_penalty=float(settings.length_penalty),
        repetition_penalty=float(settings.repetition_penalty),
        no_repeat_ngram_size=0,
        encoder_repetition_penalty=1.0,
        renormalize_logits=False,
        remove_invalid_values=False,
        pad_token_id=int(pad_id),
        eos_token_id=eos if len(eos) > 1 else eos[0],
        use_cache=True,
        output_scores=False,
        return_dict_in_generate=False,
    )


def noise_key(uid: str, template_name: str) -> str:
    """Row key for N-prompt modes: the same uid under K templates needs K noise streams."""
    return f"{uid}\x1f{template_name}"


def logits_processors(settings: DecodingSettings, row_uids: Sequence[str], prompt_len: int, num_beams: int, *,
                      min_new, max_new, eos_id) -> LogitsProcessorList:
    """Processors for one generate() call, in application order.

    row_uids: one key per *input* row (before HF expands rows for beams/returns); use
    noise_key(uid, template.name) when several templates of a uid share a call.
    prompt_len: input_ids.shape[1] of the (left-padded) batch. min_new/max_new: per input row.
    HF runs its own repetition penalty (from the config) before these; beam search feeds
    them log_softmax(logits), greedy/sampling feeds raw logits.
    """
    settings = settings.resolve()
    n = len(row_uids)
    lo, hi = _as_list(min_new, n), _as_list(max_new, n)
    if len(lo) != n or len(hi) != n:
        raise ValueError(f"min_new/max_new need {n} entries (one per input row), got {len(lo)} and {len(hi)}")
    procs = LogitsProcessorList([RowLengthWindow(lo, hi, _as_list(eos_id), prompt_len)])
    if not settings.is_sampled:
        return procs
    beam = num_beams > 1
    # HF keeps eos + 1 candidates per beam alive so a beam can still continue past EOS.
    keep = 2 if beam else 1
    if settings.temperature != 1.0:
        procs.append(TemperatureLogitsWarper(settings.temperature))
    if settings.top_k:
        procs.append(TopKLogitsWarper(top_k=settings.top_k, min_tokens_to_keep=keep))
    if settings.top_p < 1.0:
        procs.append(TopPLogitsWarper(top_p=settings.top_p, min_tokens_to_keep=keep))
    if beam:
        procs.append(Renormalize())
    procs.append(GumbelNoise(row_uids, settings.seed, prompt_len, beam=beam))
    return procs


@contextlib.contextmanager
def own_generation_config(model):
    """Blank ``model.generation_config`` for the duration, so nothing (bad_words_ids,
    suppress_tokens, forced ids, cache_implementation, ...) leaks from the checkpoint's
    generation_config.json into our explicit config."""
    saved = model.generation_config
    model.generation_config = GenerationConfig()
    try:
        yield model
    finally:
        model.generation_config = saved


def trim_generated(sequences: torch.Tensor, prompt_len: int, eos_id) -> list[list[int]]:
    """New token ids of each output row, cut before the first EOS. sequences: (rows, L)."""
    eos = set(_as_list(eos_id))
    out = []
    for row in sequences[:, prompt_len:].tolist():
        cut = next((i for i, tok in enumerate(row) if tok in eos), len(row))
        out.append(row[:cut])
    return out


def generate_texts(lm, tokenizer, settings: DecodingSettings, prompts: list[str], keys: list[str], min_new, max_new,
                   request: Request, device, tokenizer_kwargs: dict | None = None) -> list[list[str]]:
    """One batched generation; ``request.num_return_sequences`` decoded texts per prompt.

    keys: one noise key per prompt (noise_key(uid, ...)), so sampled outputs depend on
    (seed, key) only. The tokenizer must pad on the left. min_new/max_new: per prompt.
    ``settings.decoder``: fast (paramem.paraphrase.fastgen) where it covers the model, else HF generate.
    """
    settings = settings.resolve()
    kwargs = tokenizer_kwargs if tokenizer_kwargs is not None else {"add_special_tokens": False}
    r = request.num_return_sequences
    if settings.decoder == "fast":
        from paramem.paraphrase import fastgen

        if fastgen.covers(lm):
            # the HF path's checks (pad token, 0 <= min_new <= max_new) apply here too
            generation_config(settings, min_new, max_new, tokenizer.pad_token_id, tokenizer.eos_token_id, request)
            n = len(prompts)
            ids = fastgen.generate_ids(lm, tokenizer, settings, prompts, keys, _as_list(min_new, n),
                                       _as_list(max_new, n), request, device, kwargs)
            texts = tokenizer.batch_decode([seq for per_prompt in ids for seq in per_prompt], skip_special_tokens=True)
            return [texts[i * r:(i + 1) * r] for i in range(n)]
    enc = tokenizer(prompts, return_tensors="pt", padding=True, **kwargs).to(device)
    prompt_len = enc["input_ids"].shape[1]
    config = generation_config(settings, min_new, max_new, tokenizer.pad_token_id, tokenizer.eos_token_id, request)
    procs = logits_processors(settings, keys, prompt_len, request.num_beams, min_new=min_new, max_new=max_new,
                              eos_id=tokenizer.eos_token_id)
    with own_generation_config(lm), torch.no_grad():
        out = lm.generate(**enc, generation_config=config, logits_processor=procs)  # (rows*R, L)
    texts = tokenizer.batch_decode(trim_generated(out, prompt_len, tokenizer.eos_token_id), skip_special_tokens=True)
    return [texts[i * r:(i + 1) * r] for i in range(len(prompts))]
