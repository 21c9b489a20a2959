"""The text variants methods read (``register(..., variants=(...))``), one builder each.

A row builder gives a sample's token rows of the variant, ``(text, loss_start_char,
prefix_ids | None)``; the baselines stage tokenizes every row of a batch once and runs one
forward per row (in this registration order, then packed by length). A batch builder
computes a variant's data for the whole batch from the rows already scored or with a
model call of its own.
"""

from __future__ import annotations

from paramem.score.registry import register_variant
from paramem.textbatch import special_tokens_kwargs


@register_variant("lower", formula="x.lower()")
def lower(scorer, sample: dict, text: str, start: int) -> list[tuple]:
    return [(text.lower(), start, None)]


@register_variant("neighbors", formula="each valid paraphrase of x (the paraphrase stage's)", many=True)
def neighbors(scorer, sample: dict, text: str, start: int) -> list[tuple]:
    # A QA paraphrase carries its own answer offset (paraphrase stage, paraphrase_field).
    paras = sample.get("paraphrases") or []
    para_starts = sample.get("paraphrase_loss_starts") or [0] * len(paras)
    return [(p, st, None) for p, st in zip(paras, para_starts)]


@register_variant("recall_non", formula="x after the non-member prefix P_non")
def recall_non(scorer, sample: dict, text: str, start: int) -> list[tuple]:
    return [(text, start, scorer.prefix_ids["recall_non"])]


@register_variant("recall_mem", formula="x after the member prefix P_mem")
def recall_mem(scorer, sample: dict, text: str, start: int) -> list[tuple]:
    return [(text, start, scorer.prefix_ids["recall_mem"])]


@register_variant("swaps", formula="pac.copies copies of x with random word pairs swapped (seeded per uid)",
                  many=True)
def swaps(scorer, sample: dict, text: str, start: int) -> list[tuple]:
    from paramem.score.pac import swapped_copies

    pac = scorer.pac
    copies = swapped_copies(text, str(sample["uid"]), pac.copies, pac.swap_fraction, pac.seed, start=start)
    return [(c, start, None) for c in copies]


@register_variant("ref", formula="x under the reference model", per_batch=True)
def ref(scorer, batch: list[dict], rows: list, slots: list[dict]) -> list:
    return scorer.row_stats(scorer.ref_lm, [rows[sl["original"]] for sl in slots], frozenset())


@register_variant("samia", formula="samia.samples sampled continuations of x's first half (in words)",
                  per_batch=True)
def samia(scorer, batch: list[dict], rows: list, slots: list[dict]) -> list:
    from paramem.paraphrase.decoding import DecodingSettings
    from paramem.score.samia import sample_continuations

    s = scorer.samia
    settings = DecodingSettings(mode="nucleus_Nprompts", num_paraphrases=s.samples, temperature=s.temperature,
                                top_k=s.top_k, top_p=s.top_p, repetition_penalty=1.0, seed=s.seed).resolve()
    return sample_continuations(scorer.lm, scorer.tokenizer, batch, s.samples, settings, scorer.device,
                                special_tokens_kwargs(scorer.add_special_tokens))
