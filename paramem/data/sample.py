"""The sample contract every stage reads: ``{uid, text, label, domain, split?, paraphrases?}``.

Optional fields: ``loss_start_char`` (QA data such as TOFU: the loss is taken on the
characters from there on, i.e. the answer), ``question`` / ``answer`` (kept for reference),
``paraphrase_loss_starts`` (one ``loss_start_char`` per paraphrase, when the paraphrase
records carry them: a QA paraphrase's answer starts at its own offset).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paramem.io import InputError

MEMBER_WORDS = {"1", "true", "member", "members", "yes", "in", "train"}
NONMEMBER_WORDS = {"0", "false", "nonmember", "non-member", "non_member", "nonmembers", "no", "out", "test"}


def parse_label(value: Any, where: str) -> int:
    """1/0, true/false or member/nonmember (any case) -> 1 / 0; anything else is an error."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in MEMBER_WORDS:
            return 1
        if word in NONMEMBER_WORDS:
            return 0
    raise InputError(f"{where}: label {value!r} is neither member (1/true/member) nor non-member (0/false/nonmember)")


def normalize_paraphrases(value: Any, where: str) -> list[str] | None:
    """Accept a list of strings or of ``{text, valid}`` records (a paraphrases.jsonl row);
    keep only valid, non-empty texts. A failed paraphrase is never replaced by anything."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise InputError(f"{where}: field 'paraphrases' must be a list, got {type(value).__name__}")
    out = []
    for item in value:
        if isinstance(item, dict):
            if item.get("valid", True) and isinstance(item.get("text"), str) and item["text"].strip():
                out.append(item["text"])
        elif isinstance(item, str):
            if item.strip():
                out.append(item)
        else:
            raise InputError(f"{where}: paraphrase entries must be strings or objects, got {type(item).__name__}")
    return out


def paraphrase_loss_starts(value: Any) -> list[int] | None:
    """The ``loss_start_char`` of each paraphrase ``normalize_paraphrases`` keeps (same
    order), or None when no paraphrase record carries one."""
    if not isinstance(value, list) or not any(isinstance(i, dict) and "loss_start_char" in i for i in value):
        return None
    return [int(item.get("loss_start_char") or 0) if isinstance(item, dict) else 0 for item in value
            if (item.get("valid", True) and isinstance(item.get("text"), str) and item["text"].strip()
                if isinstance(item, dict) else isinstance(item, str) and item.strip())]


def make_sample(
    *,
    uid: str,
    text: Any,
    label: Any,
    where: str,
    text_field: str = "text",
    domain: str | None = None,
    split: str | None = None,
    paraphrases: Any = None,
    extra: dict | None = None,
) -> dict:
    """Validate one sample; ``where`` ("file:line") is used in every error message."""
    if text is None:
        raise InputError(f"{where}: missing text field '{text_field}'")
    if not isinstance(text, str):
        raise InputError(f"{where}: field '{text_field}' must be a string, got {type(text).__name__}")
    if not text.strip():
        raise InputError(f"{where}: field '{text_field}' is empty")
    sample = {"uid": str(uid), "text": text, "label": parse_label(label, where), "domain": domain or "default"}
    if split is not None:
        sample["split"] = str(split)
    paras = normalize_paraphrases(paraphrases, where)
    if paras is not None:
        sample["paraphrases"] = paras
        starts = paraphrase_loss_starts(paraphrases)
        if starts is not None:
            sample["paraphrase_loss_starts"] = starts
    if extra:
        sample.update(extra)
    return sample


class Source:
    """Where samples come from. Subclasses are chosen in YAML by ``class_path``."""

    def name(self) -> str:
        return type(self).__name__

    def load(self, run_dir: Path | None = None) -> list[dict]:
        """The evaluation samples (validated, unique uids)."""
        raise NotImplementedError

    def auxiliary(self, run_dir: Path | None = None) -> list[dict]:
        """Extra records that are never evaluated (e.g. paraphrase-teaching examples)."""
        return []


def check_unique(samples: list[dict], source: str) -> None:
    seen: dict[str, int] = {}
    for i, s in enumerate(samples):
        if s["uid"] in seen:
            raise InputError(f"{source}: duplicate uid {s['uid']!r} (samples {seen[s['uid']]} and {i})")
        seen[s["uid"]] = i
