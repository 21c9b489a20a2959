"""The fast decoder's entry point: bucket prompts by length, prefill once, search, decode.

Used by decoding.generate_texts when ``decoder: fast`` and the model is covered
(fastlm.ARCHITECTURES); outputs per prompt depend on (model, prompt, seed, key) only, so
splitting a call into length buckets changes nothing but the padding work.
"""

from __future__ import annotations

import logging

import torch

from paramem.paraphrase import fastbeam, fastcompile, fastloop, fastsearch
from paramem.paraphrase.decoding import trim_generated
from paramem.paraphrase.fastlm import StaticCacheLM, unsupported_reason
from paramem.paraphrase.processors import uid_seed

log = logging.getLogger(__name__)
_M32 = 0xFFFFFFFF
_WARNED: set[str] = set()
# A bucket closes when padding would exceed this share of its prompt tokens.
MAX_PAD_SHARE = 0.25


def covers(lm) -> bool:
    """True when the fast path runs ``lm``; otherwise logs why (once per reason) for HF's path."""
    reason = unsupported_reason(lm)
    if reason is not None and reason not in _WARNED:
        _WARNED.add(reason)
        log.warning("decoder: fast does not cover this model (%s); using HF generate", reason)
    return reason is None


def length_buckets(lengths: list[int], max_pad_share: float = MAX_PAD_SHARE) -> list[list[int]]:
    """Indices grouped by similar prompt length (longest first), each padded cheaply."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    buckets: list[list[int]] = []
    for i in order:
        if buckets:
            cur = buckets[-1]
            longest = lengths[cur[0]]
            real = sum(lengths[j] for j in cur) + lengths[i]
            if longest * (len(cur) + 1) - real <= max_pad_share * longest * (len(cur) + 1):
                cur.append(i)
                continue
        buckets.append([i])
    return buckets


def _key_tensor(keys: list[str], seed: int, device) -> torch.Tensor:
    vals = [uid_seed(k, seed) for k in keys]
    return torch.tensor([[v & _M32, v >> 32] for v in vals], dtype=torch.int64, device=device)  # (n, 2)


def _run_bucket(lm, settings, enc: dict, keys: list[str], lo: list[int], hi: list[int], request, eos_ids, pad_id):
    """One bucket: (n prompts) -> generated ids (n * num_return, <= max_new_tokens)."""
    ids, mask = enc["input_ids"], enc["attention_mask"]
    n, p = ids.shape
    dev = ids.device
    factor = max(request.num_beams, request.num_return_sequences)
    rows, n_new = n * factor, max(hi) + 1  # +1: the slot of the forced EOS
    fastcompile.note_work(rows * n_new)  # PARAMEM_FAST_COMPILE=auto compiles after enough of it
    beam = request.num_beams > 1
    vocab = lm.get_output_embeddings().weight.shape[0]
    slack = max(fastloop.slack(settings, beam, dev), fastbeam.slack(settings, beam, eos_ids, vocab, dev))
    cache = StaticCacheLM(lm, rows, p + n_new + slack)
    logits = cache.prefill(ids, mask, factor)

    def per_row(v):
        return torch.tensor(v, dtype=torch.int64, device=dev).repeat_interleave(factor)

    replica = torch.zeros(rows, dtype=torch.int64, device=dev) if beam else torch.arange(rows, device=dev) % factor
    keys_t = _key_tensor(keys, settings.seed, dev).repeat_interleave(factor, dim=0) if settings.is_sampled else None
    procs = fastsearch.FusedProcessors(settings, per_row(lo), per_row(hi), eos_ids, keys_t, replica, beam,
                                       ids.repeat_interleave(factor, dim=0), mask.repeat_interleave(factor, dim=0),
                                       logits.shape[1])
    if fastloop.applies(settings, beam, dev):  # one compiled call per step
        return fastloop.greedy(cache, logits, procs, n_new, pad_id)
    if not beam:
        return fastsearch.greedy(cache, logits, procs, n_new, eos_ids, pad_id)
    fill = pad_id if pad_id != 0 else eos_ids[0]  # HF's fill value for unfinished slots
    if fastbeam.applies(settings, beam, eos_ids, vocab, dev):  # STEPS steps and their search per call
        return fastbeam.beam(cache, logits, procs, n, request.num_beams, request.num_return_sequences, n_new, fill,
                             float(settings.length_penalty))
    return fastsearch.beam(cache, logits, procs, n, request.num_beams, request.num_return_sequences, n_new,
                           eos_ids, fill, float(settings.length_penalty), p)


def generate_ids(lm, tokenizer, settings, prompts: list[str], keys: list[str], lo: list[int], hi: list[int],
                 request, device, tokenizer_kwargs: dict) -> list[list[list[int]]]:
    """Per prompt, ``num_return_sequences`` lists of new token ids (cut before the first EOS)."""
    eos = tokenizer.eos_token_id
    eos_ids = [int(x) for x in eos] if isinstance(eos, (list, tuple)) else [int(eos)]
    pad_id = int(tokenizer.pad_token_id)
    encoded = tokenizer(prompts, **tokenizer_kwargs)["input_ids"]
    r = request.num_return_sequences
    out: list[list[list[int]]] = [[] for _ in prompts]
    for bucket in length_buckets([len(e) for e in encoded]):
        width = max(len(encoded[i]) for i in bucket)
        ids = torch.full((len(bucket), width), pad_id, dtype=torch.int64)
        mask = torch.zeros((len(bucket), width), dtype=torch.int64)
        for row, i in enumerate(bucket):  # left padding, as the HF path's tokenizer call
            ids[row, width - len(encoded[i]):] = torch.tensor(encoded[i], dtype=torch.int64)
            mask[row, width - len(encoded[i]):] = 1
        enc = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
        with torch.no_grad():
            gen = _run_bucket(lm, settings, enc, [keys[i] for i in bucket], [lo[i] for i in bucket],
                              [hi[i] for i in bucket], request, eos_ids, pad_id)
        trimmed = trim_generated(gen, 0, eos_ids)
        for row, i in enumerate(bucket):
            out[i].extend(trimmed[row * r:(row + 1) * r])
    return out
