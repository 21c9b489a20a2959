"""The sample contract every stage reads: ``{uid, text, label, domain, split?, paraphrases?}``.

Optional fields: ``loss_start_char`` (QA data such as TOFU: the loss is taken on the
characters from there on, i.e. the answer), ``question`` / ``answer`` (kept for reference),
``paraphrase_loss_starts`` (one ``loss_start_char`` per paraphrase, when the paraphrase
records carry them: a QA paraphrase's answer starts at its own offset).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator

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


def _kept_paraphrases(value: list, where: str) -> Iterator[Any]:
    """The entries of a paraphrase list that count: valid, with a non-empty text (the one
    filter both the texts and their loss starts use, so the two lists stay aligned)."""
    for item in value:
        if isinstance(item, dict):
            if item.get("valid", True) and isinstance(item.get("text"), str) and item["text"].strip():
                yield item
        elif isinstance(item, str):
            if item.strip():
                yield item
        else:
            raise InputError(f"{where}: paraphrase entries must be strings or objects, got {type(item).__name__}")


def normalize_paraphrases(value: Any, where: str) -> list[str] | None:
    """Accept a list of strings or of ``{text, valid}`` records (a paraphrases.jsonl row);
    keep only valid, non-empty texts. A failed paraphrase is never replaced by anything."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise InputError(f"{where}: field 'paraphrases' must be a list, got {type(value).__name__}")
    return [item["text"] if isinstance(item, dict) else item for item in _kept_paraphrases(value, where)]


def paraphrase_loss_starts(value: Any) -> list[int] | None:
    """The ``loss_start_char`` of each paraphrase ``normalize_paraphrases`` keeps (same
    order), or None when no paraphrase record carries one."""
    if not isinstance(value, list) or not any(isinstance(i, dict) and "loss_start_char" in i for i in value):
        return None
    return [int(item.get("loss_start_char") or 0) if isinstance(item, dict) else 0
            for item in _kept_paraphrases(value, "paraphrases")]


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
    field_names: dict[str, str] | None = None,
) -> dict:
    """Validate one sample; ``where`` ("file:line") is used in every error message.

    ``domain`` and ``split`` are stored as strings whatever their type in the file (a
    domain 0 stays "0"); ``field_names`` maps sample keys to the file's column names for
    messages (e.g. ``loss_start_char`` read from a column named otherwise)."""
    if text is None:
        raise InputError(f"{where}: missing text field '{text_field}'")
    if not isinstance(text, str):
        raise InputError(f"{where}: field '{text_field}' must be a string, got {type(text).__name__}")
    if not text.strip():
        raise InputError(f"{where}: field '{text_field}' is empty")
    sample = {"uid": str(uid), "text": text, "label": parse_label(label, where),
              "domain": "default" if domain is None or domain == "" else str(domain)}
    if split is not None and split != "":
        sample["split"] = str(split)
    paras = normalize_paraphrases(paraphrases, where)
    if paras is not None:
        sample["paraphrases"] = paras
        starts = paraphrase_loss_starts(paraphrases)
        if starts is not None:
            sample["paraphrase_loss_starts"] = starts
    if extra:
        sample.update(extra)
    check_utf8(sample, where, {"text": text_field, **(field_names or {})})
    if "loss_start_char" in sample:
        names = field_names or {}
        sample["loss_start_char"] = parse_loss_start(sample["loss_start_char"], text, where,
                                                     names.get("loss_start_char") or "loss_start_char")
    return sample


def _unencodable(value: Any, path: str) -> str | None:
    """The path of the first string inside ``value`` that UTF-8 cannot encode, else None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            return f"{path} (character {e.start}: {value[e.start]!r})"
    elif isinstance(value, (list, tuple)):
        return next((bad for i, v in enumerate(value) if (bad := _unencodable(v, f"{path}[{i}]"))), None)
    elif isinstance(value, dict):
        return next((bad for k, v in value.items() if (bad := _unencodable(v, f"{path}.{k}"))), None)
    return None


def check_utf8(sample: dict, where: str, field_names: dict[str, str]) -> None:
    """Every string of a sample is text a tokenizer can take: JSON's ``\\ud800`` (a lone
    surrogate) parses, but no UTF-8 text holds it."""
    for key, value in sample.items():
        bad = _unencodable(value, field_names.get(key) or key)
        if bad:
            raise InputError(f"{where}: field {bad} is a lone surrogate, not a character (valid JSON, "
                             f"but no text holds it); fix or drop it")


def parse_loss_start(value: Any, text: str, where: str, field: str) -> int:
    """A character offset into ``text`` (an int, or a string/float holding one, as CSV gives)."""
    offset = None
    if isinstance(value, int) and not isinstance(value, bool):
        offset = value
    elif isinstance(value, float) and value.is_integer():
        offset = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        offset = int(value.strip())
    if offset is None:
        raise InputError(f"{where}: field '{field}' must be a character offset (an integer), got {value!r}")
    if not 0 <= offset <= len(text):
        raise InputError(f"{where}: field '{field}' is {offset}, outside the text (0..{len(text)} characters)")
    return offset


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


def checked_samples(located: Iterable[tuple[dict, str | None]], source: str, from_file: bool = False) -> list[dict]:
    """The checks every source's samples pass, written once: at least one sample, each uid
    once. ``located`` yields ``(sample, where)``, ``where`` being the sample's row
    ("file:line") when the source reads a file (``from_file``), else None: messages then
    name the rows, else the sample numbers. It is consumed lazily, so a file's first
    problem in row order is the one reported."""
    samples: list[dict] = []
    first: dict[str, str | int] = {}  # uid -> where it first came (row, or sample number)
    for sample, where in located:
        uid, number = sample["uid"], len(samples) + 1
        if uid in first and where is not None:
            raise InputError(f"{where}: duplicate uid {uid!r} (first at {first[uid]}); every row needs its own uid")
        if uid in first:
            raise InputError(f"{source}: duplicate uid {uid!r} (the source's samples number {first[uid]} "
                             f"and {number}); every sample needs its own uid")
        first[uid] = number if where is None else where
        samples.append(sample)
    if not samples and from_file:
        raise InputError(f"{source}: no samples (the file holds no rows); give a file with members and non-members")
    if not samples:
        raise InputError(f"{source}: the source gave no samples; check its path and settings")
    return samples
