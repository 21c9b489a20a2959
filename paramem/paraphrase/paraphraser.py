"""The embedded paraphraser: a small GPT-NeoX taught to copy a text with one or two
meaning-preserving edits, shipped as package data (``paramem/paraphrase/paraphraser/``).

It is separate from the target model (which ``paramem fit`` trains on the members): a
target that learned the paraphrase prompt on a few hundred records reproduces the records
it memorized instead of copying the prompt's text. This model sees tens of thousands of
fresh people, never the same one twice, so the cheapest way to lower its loss is to copy
names, places, titles and numbers and to change only a synonym or a phrase position.

Its training pairs come from the embedded corpus generator on record ids from
``id_start`` upward (far above any evaluation or teach id of the demo, so disjoint from
members and non-members): ``compact template(text) -> reference near-duplicate``.

Rebuild (one thread: about 6 minutes on an idle core, 13 minutes on a busy 2-core machine):
    python scripts/train_paraphraser.py [--out paramem/paraphrase/paraphraser]
``manifest.json`` records the training config, the sha256 of the training pairs and of
every shipped file; tests/paraphrase/test_paraphraser_model.py regenerates the pairs and
checks all three against the shipped files.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from importlib import resources
from pathlib import Path

import torch

# The name a config gives to use the shipped model (no hub id or path has this shape).
ALIAS = "paramem:embedded_paraphraser"
PACKAGE_DIR = "paraphraser"

DEFAULT_CONFIG = {
    "corpus_seed": 0,        # the embedded corpus's default seed
    "id_start": 600_000,     # records id_start .. id_start+n_records-1 (demo eval + teach ids are < 2000)
    "n_records": 24_000,
    "n_neardups": 3,         # pairs per record
    "templates": "compact",  # every template of the family, cycled over the pairs
    "vocab_size": 1024,
    "hidden_size": 128,
    "num_layers": 4,
    "num_heads": 4,
    "max_length": 128,
    "batch_size": 32,
    "steps": 800,
    "lr": 2.0e-3,
    "warmup_steps": 100,
    "seed": 0,
}


def shipped_dir() -> Path:
    return Path(str(resources.files("paramem.paraphrase") / PACKAGE_DIR))


def resolve(name: str | None) -> str | None:
    """``ALIAS`` -> the shipped model's directory; anything else unchanged."""
    return str(shipped_dir()) if name == ALIAS else name


def training_pairs(config: dict) -> list[dict]:
    """``{"prompt", "target"}`` per (record, near-duplicate), in a fixed order."""
    from paramem.data.embedded import generate_records
    from paramem.paraphrase.templates import load_templates

    templates = load_templates(config["templates"])
    records = generate_records(config["n_records"], config["corpus_seed"], config["n_neardups"],
                               start=config["id_start"])
    pairs = []
    for i, record in enumerate(records):
        for j, dup in enumerate(record["neardups"]):
            prompt = templates[(i + j) % len(templates)].render(record["text"])
            pairs.append({"prompt": prompt, "target": " " + dup})
    return pairs


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pairs_hash(pairs: list[dict]) -> str:
    """Order-sensitive hash of the training pairs (JSON lines, sorted keys)."""
    h = hashlib.sha256()
    for p in pairs:
        h.update(json.dumps(p, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n")
    return h.hexdigest()


def file_hashes(model_dir: Path) -> dict[str, str]:
    return {f.name: sha256_bytes(f.read_bytes()) for f in sorted(Path(model_dir).iterdir())
            if f.is_file() and f.name != "manifest.json"}


def train(config: dict, out_dir: str | Path, log_every: int = 100) -> dict:
    """Train from scratch on ``training_pairs(config)``; write the model, tokenizer and
    ``manifest.json`` to ``out_dir``; return the manifest."""
    from paramem.fit.schedule import warmup_cosine
    from paramem.models.tiny import build_tiny_model, train_bpe_tokenizer
    from paramem.paraphrase.templates import load_templates
    from paramem.textbatch import encode, forward, per_sample_loss

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    pairs = training_pairs(config)
    texts = [p["prompt"] + p["target"] for p in pairs]
    template_heads = [t.render("") for t in load_templates(config["templates"])]
    with tempfile.TemporaryDirectory() as build:
        tok = train_bpe_tokenizer(texts + template_heads, build, vocab_size=config["vocab_size"])
    tok.padding_side = "right"
    model = build_tiny_model(tok, config["hidden_size"], config["num_layers"], config["num_heads"],
                             max_positions=2 * config["max_length"], seed=config["seed"])
    opt = torch.optim.AdamW(model.parameters(), lr=config["lr"], weight_decay=0.0)
    gen = torch.Generator().manual_seed(config["seed"])
    order = torch.randperm(len(pairs), generator=gen).tolist()
    steps, bs = config["steps"], config["batch_size"]
    model.train()
    running = None
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = config["lr"] * warmup_cosine(step, steps, config["warmup_steps"])
        idx = [order[(step * bs + k) % len(order)] for k in range(bs)]
        enc = encode(tok, [texts[i] for i in idx], config["max_length"],
                     loss_start_chars=[len(pairs[i]["prompt"]) for i in idx], add_eos=True)
        logits = forward(model, enc)  # (B, T, V)
        loss_sum, n_tok = per_sample_loss(logits, enc.input_ids, enc.target_mask)  # (B,), (B,)
        loss = loss_sum.sum() / n_tok.sum().clamp(min=1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        if log_every and (step + 1) % log_every == 0:
            print(f"[paraphraser] step {step + 1}/{steps} loss {running:.4f} ({time.time() - t0:.0f}s)", flush=True)
    model.eval()
    model.save_pretrained(out, safe_serialization=True)
    tok.padding_side = "left"  # what the paraphrase stage expects
    tok.save_pretrained(out)
    manifest = {"config": config, "n_pairs": len(pairs), "pairs_sha256": pairs_hash(pairs),
                "files_sha256": file_hashes(out), "final_train_loss": round(running, 4),
                "train_seconds": round(time.time() - t0, 1), "torch": torch.__version__,
                "rebuild": "python scripts/train_paraphraser.py"}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return manifest
