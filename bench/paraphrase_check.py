"""Check a paraphrases.jsonl against a measure the gate does not use.

The gate judges ratios (InDel on characters and words, MiniLM cosine). This check counts
edits instead: the word-level diff (difflib opcodes on case-folded words) between the
rewritten field and the original must change at most max(3, 10 %) of the original's
words, in at most 3 places, and keep the length within 85-115 %. A 'valid' candidate that
fails it is counted as not really a near-duplicate. Prints the rates and, with --show N,
N samples (original and each candidate with its reason) to read by eye.

--strict counts raw whitespace tokens instead (case and punctuation kept, so "foo()" ->
"foo" or "*x*" -> "*x**" is a change): at most 2 changed places of at most 2 tokens each,
length within 90-110 %. --regate CONFIG re-judges the stored candidates with that config's
gate (their stored MiniLM cosine reused; duplicates and surplus recounted), to compare a
run made under another gate.

    python bench/paraphrase_check.py RUN_DIR/paraphrases.jsonl [--show 30] [--strict] [--regate CONFIG]
"""

from __future__ import annotations

import argparse
import difflib
import json
from collections import Counter

from paramem.paraphrase.gate import words


def edits(candidate: str, original: str) -> tuple[int, int]:
    """(words changed, places changed) from the word diff of the two texts."""
    ops = difflib.SequenceMatcher(a=words(original), b=words(candidate), autojunk=False).get_opcodes()
    changed = [(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in ops if tag != "equal"]
    return sum(max(a, b) for a, b in changed), len(changed)


def is_strict_near_duplicate(candidate: str, original: str) -> bool:
    a, b = original.split(), candidate.split()
    ops = difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
    changed = [max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in ops if tag != "equal"]
    return 0 < len(changed) <= 2 and max(changed) <= 2 and 0.9 <= len(b) / max(len(a), 1) <= 1.1


def regate(records: list[dict], config: str, k: int) -> None:
    """Re-judge every stored candidate in place with ``config``'s gate."""
    import yaml

    from paramem.paraphrase.cleaning import edit_similarity, normalized
    from paramem.paraphrase.gate import GateSettings, validate

    gate = GateSettings(**yaml.safe_load(open(config, encoding="utf-8"))["model"]["init_args"]["gate"])
    for record in records:
        original, cands = field_texts(record)
        seen: set[str] = set()
        for text, p in cands:
            valid, reason = validate(text, original, gate.min_words, gate.min_semantic_similarity, p["similarity"],
                                     gate.edit_range, bool(gate.check_entities), edit_similarity(text, original),
                                     gate.min_word_similarity, real_text=gate)
            if valid and normalized(text) in seen:
                valid, reason = False, "duplicate"
            elif valid and len(seen) >= k:
                valid, reason = False, "surplus"
            if valid:
                seen.add(normalized(text))
            p["valid"], p["reason"] = valid, reason


def is_near_duplicate(candidate: str, original: str) -> bool:
    n = len(words(original))
    changed, places = edits(candidate, original)
    ratio = len(words(candidate)) / max(n, 1)
    return 0 < changed <= max(3, round(0.1 * n)) and places <= 3 and 0.85 <= ratio <= 1.15


def field_texts(record: dict) -> tuple[str, list[tuple[str, dict]]]:
    start = record.get("loss_start_char") or 0 if record["field"] == "answer" else 0
    original = record["text"][start:]
    return original, [(p["text"][p.get("loss_start_char", 0) if record["field"] == "answer" else 0:], p)
                      for p in record["paraphrases"]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--show", type=int, default=0)
    ap.add_argument("--strict", action="store_true")
    ap.add_argument("--regate", default=None)
    args = ap.parse_args()
    records = [json.loads(line) for line in open(args.path, encoding="utf-8")]
    if args.regate:
        regate(records, args.regate, records[0]["settings"]["num_paraphrases"] if records else 0)
    check = is_strict_near_duplicate if args.strict else is_near_duplicate
    reasons, with_valid, valid, wrong, with_true = Counter(), 0, 0, 0, 0
    for n, record in enumerate(records):
        original, cands = field_texts(record)
        good = [text for text, p in cands if p["valid"]]
        reasons.update(p["reason"] for _, p in cands)
        with_valid += bool(good)
        valid += len(good)
        bad = [t for t in good if not check(t, original)]
        wrong += len(bad)
        with_true += any(check(t, original) for t in good)
        if n < args.show:
            print(f"\n[{record['uid']}] ORIGINAL: {original}")
            for text, p in cands:
                flag = "" if not p["valid"] else (" NOT-ND" if text in bad else " ND")
                print(f"  - {p['reason']}{flag} (cos {p['similarity']}, indel {p['edit_similarity']:.3f}"
                      f", round {p.get('round', 0)}): {text}")
    n = len(records)
    print(f"\nsamples {n}; with a valid candidate {with_valid} ({with_valid / n:.0%}); with a valid candidate "
          f"that passes the edit check {with_true} ({with_true / n:.0%}); valid candidates {valid}, of which "
          f"failing the edit check {wrong} ({wrong / max(valid, 1):.0%})")
    print("reasons: " + ", ".join(f"{k} {v}" for k, v in reasons.most_common()))


if __name__ == "__main__":
    main()
