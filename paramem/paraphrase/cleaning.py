"""Turn a paraphraser continuation into one candidate paraphrase, and judge it.

Failed candidates are reported with a reason and stay failed: the caller must never put
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
    + r")\s*:\s*",
    re.IGNORECASE,
)
_QUOTE_PAIRS = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019", "\u00ab": "\u00bb", "`": "`"}


def _label(line: str) -> str | None:
    m = _LABEL_RE.match(line)
    return m.group(1).lower().replace(" ", "-") if m else None


def _strip_labels(line: str) -> str:
    # Loop: a model may stack labels ("Output: Paraphrase: ...").
    while (m := _LABEL_RE.match(line)) is not None:
        line = line[m.end():]
    return line


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _strip_quotes(text: str) -> str:
    while len(text) >= 2 and text[0] in _QUOTE_PAIRS and text[-1] == _QUOTE_PAIRS[text[0]]:
        text = text[1:-1].strip()
    return text


def clean(generated: str, original: str | None = None) -> str:
    """The paraphrase inside a decoded continuation (only the new tokens), or "".

    Rules, in order:
    1. Skip one echoed prompt line, if the next line is labelled: a first line starting
       with an input label ("Original:"), or with a label other than the next line's
       output label ("Paraphrase: <orig>\\nNear-duplicate: <rewrite>"), or, when
       ``original`` is given, a first line whose body equals the original.
    2. Drop the label(s) at the start of the chosen line ("Near-duplicate: ...").
    3. Keep lines until the first blank line or the next labelled line (the model starting
       another "Original:" block, as few-shot prompts invite).
    4. Collapse whitespace, strip surrounding matching quotes.
    """
    lines = generated.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    nonblank = [i for i, line in enumerate(lines) if line.strip()]
    if not nonblank:
        return ""
    start = nonblank[0]
    # One echoed line at most: a prompt tail is "<label>: <original>" then the output label.
    if start + 1 < len(lines) and (next_label := _label(lines[start + 1])) is not None:
        label = _label(lines[start])
        if (
            label in INPUT_LABELS
            or (label is not None and next_label in _OUTPUT_KEYS and next_label != label)
            or (original is not None and _norm(_strip_labels(lines[start])) == _norm(original))
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


def validate(
    candidate: str,
    original: str,
    min_words: int = 3,
    min_semantic: float | None = None,
    similarity=None,
) -> tuple[bool, str]:
    """(valid, reason), reason in "ok", "empty", "too_short", "identical", "low_similarity".

    ``similarity`` is the candidate's semantic similarity to the original: a float already
    computed (batch it with SemanticSimilarity.pairwise), or an object with a ``pairwise``
    method to compute it here. It is required only when ``min_semantic`` is set.
    """
    if not candidate or not candidate.strip():
        return False, "empty"
    if len(candidate.split()) < min_words:
        return False, "too_short"
    if _norm(candidate) == _norm(original):
        return False, "identical"
    if min_semantic is not None:
        if similarity is None:
            raise ValueError("validate(min_semantic=...) needs the similarity score (or a SemanticSimilarity)")
        score = similarity.pairwise([original], [candidate])[0] if hasattr(similarity, "pairwise") else similarity
        if float(score) < min_semantic:
            return False, "low_similarity"
    return True, "ok"
