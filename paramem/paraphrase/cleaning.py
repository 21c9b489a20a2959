"""Turn a paraphraser continuation into one candidate paraphrase (judged in gate.py).

Continuations come from base models (a labelled line, maybe an echoed prompt line) and
from chat models (a courtesy line, markdown emphasis, a reasoning block). Failed candidates are reported with a reason and stay failed: the caller must never put
the original text in their place (a text aligned with itself scores 1.0 and inflates
member and non-member scores alike; see DESIGN.md).
"""

from __future__ import annotations

import re

from rapidfuzz.distance import Indel

# Labels our templates put before the original (INPUT) and before the answer (OUTPUT).
# "Paraphrase" serves both roles (compact templates); it is listed as an output label and
# the echo rule in clean() handles "Paraphrase: <original>\nNear-duplicate: <rewrite>".
INPUT_LABELS = ("original", "input", "text")
OUTPUT_LABELS = ("near-duplicate", "near duplicate", "rewritten", "rewrite", "revised", "output", "paraphrase",
                 "paraphrased")
_OUTPUT_KEYS = tuple(x.replace(" ", "-") for x in OUTPUT_LABELS)  # as _label() reports them
_LABEL_RE = re.compile(
    r"^\s*(" + "|".join(re.escape(x) for x in sorted(INPUT_LABELS + OUTPUT_LABELS, key=len, reverse=True))
    + r")\s*:\s*(?:\*\*|__)?\s*",  # chat answers often bold the label: "**Rewritten:** ..."
    re.IGNORECASE,
)
# Chat-style wrappers: a reasoning block, leading markdown (quote, heading, bullet,
# emphasis), and a courtesy line before the answer ("Sure! Here is the rewritten text:").
_THINK_RE = re.compile(r"<think>.*?(?:</think>|$)", re.IGNORECASE | re.DOTALL)
_MARKUP_RE = re.compile(r"^\s*(?:>\s*|#+\s+|[-*]\s+|\*\*|__)+")
_COURTESY_RE = re.compile(r"^(?:sure|certainly|of course|okay|ok|absolutely|here(?:'s| is| are))\b", re.IGNORECASE)
_QUOTE_PAIRS = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019", "\u00ab": "\u00bb", "`": "`"}


def _label(line: str) -> str | None:
    m = _LABEL_RE.match(line)
    return m.group(1).lower().replace(" ", "-") if m else None


def _strip_labels(line: str) -> str:
    # Loop: a model may stack labels ("Output: Paraphrase: ...").
    while (m := _LABEL_RE.match(line)) is not None:
        line = line[m.end():]
    return line


def normalized(text: str) -> str:
    """Whitespace-collapsed, case-folded: how "identical" and an echoed original are judged."""
    return " ".join(text.split()).casefold()


def _strip_quotes(text: str) -> str:
    while len(text) >= 2 and text[0] in _QUOTE_PAIRS and text[-1] == _QUOTE_PAIRS[text[0]]:
        text = text[1:-1].strip()
    return text


def clean(generated: str, original: str | None = None) -> str:
    """The paraphrase inside a decoded continuation (only the new tokens), or "".

    Rules, in order:
    0. Chat answers: drop ``<think>`` blocks and leading markdown markers, and skip a
       first line that is a courtesy or an announcement ("Sure! ...", a line ending in
       ":") when another non-blank line follows it.
    1. Skip one echoed prompt line, if the next line is labelled: a first line starting
       with an input label ("Original:"), or with a label other than the next line's
       output label ("Paraphrase: <orig>\\nNear-duplicate: <rewrite>"), or, when
       ``original`` is given, a first line whose body equals the original.
    2. Drop the label(s) at the start of the chosen line ("Near-duplicate: ...").
    3. Keep lines until the first blank line or the next labelled line (the model starting
       another "Original:" block, as few-shot prompts invite).
    4. Collapse whitespace, strip surrounding matching quotes.
    """
    generated = _THINK_RE.sub("", generated)
    lines = [_MARKUP_RE.sub("", line) for line in generated.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    nonblank = [i for i, line in enumerate(lines) if line.strip()]
    if not nonblank:
        return ""
    start = nonblank[0]
    if len(nonblank) > 1 and _label(lines[start]) is None and (
            lines[start].rstrip(" *_").endswith(":") or _COURTESY_RE.match(lines[start].strip())):
        start = nonblank[1]
    # One echoed line at most: a prompt tail is "<label>: <original>" then the output label.
    if start + 1 < len(lines) and (next_label := _label(lines[start + 1])) is not None:
        label = _label(lines[start])
        if (
            label in INPUT_LABELS
            or (label is not None and next_label in _OUTPUT_KEYS and next_label != label)
            or (original is not None and normalized(_strip_labels(lines[start])) == normalized(original))
        ):
            start += 1
    kept = [_strip_labels(lines[start])]
    for line in lines[start + 1:]:
        if not line.strip():
            if any(k.strip() for k in kept):
                break
            continue  # blank lines right after a bare "Rewritten:" line
        if _label(line) is not None:
            break
        kept.append(line)
    kept = [re.sub(r"(?:\*\*|__)\s*$", "", line) for line in kept]  # closing emphasis of a chat answer
    return _strip_quotes(" ".join(" ".join(kept).split()))


def edit_similarity(a: str, b: str) -> float:
    """Character-level similarity in [0, 1]: the normalized InDel similarity
    ``2 * LCS(a, b) / (len a + len b)`` (longest common subsequence of characters).

    rapidfuzz computes it exactly with a bit-parallel LCS: microseconds for 500-token
    texts, where difflib's SequenceMatcher (a matching-blocks approximation of the same
    ratio, never above it) took 0.05-0.15 s per pair and would dominate GPU generation.
    """
    if not a and not b:
        return 1.0
    return Indel.normalized_similarity(a, b)
