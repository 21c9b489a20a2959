"""Which part of a sample is paraphrased, and how the full text is put back together.

QA data (TOFU) carries ``loss_start_char``: the loss is taken on the answer only. Rewriting
the whole ``Question: ...\\nAnswer: ...`` text and taking a paraphrase's loss over all of
it would compare an answer's gradient with a question-and-answer gradient. Instead one
field is rewritten, the rest of the text is kept verbatim, and every paraphrase gets its
own ``loss_start_char`` so original and paraphrase gradients cover the same span.

    paraphrase_field: answer    the text from loss_start_char on (default for QA samples)
                      question  the sample's ``question`` inside the text (the original
                                work's TOFU runs); the answer stays as it is
                      text      the whole text (default for samples without loss_start_char;
                                refused for QA samples, whose loss spans would then differ)
"""

from __future__ import annotations

from dataclasses import dataclass

from paramem.io import InputError

FIELDS = ("answer", "question", "text")


@dataclass(frozen=True)
class FieldSplit:
    """``text == before + body + after``; ``body`` is what the paraphraser rewrites."""

    field: str
    before: str
    body: str
    after: str
    loss_start_char: int | None  # the original's, None when the sample has none

    def join(self, new_body: str) -> tuple[str, int | None]:
        """The full paraphrase text and its own loss_start_char (None when the sample has none)."""
        text = self.before + new_body + self.after
        if self.loss_start_char is None:
            return text, None
        body_start = len(self.before)
        if body_start >= self.loss_start_char:  # the rewritten field lies inside the loss span
            return text, self.loss_start_char
        return text, self.loss_start_char + len(new_body) - len(self.body)


def check_field(setting: str | None) -> str | None:
    if setting is not None and setting not in FIELDS:
        raise ValueError(f"paraphrase_field must be one of {FIELDS} or null (auto), got {setting!r}")
    return setting


def split_field(sample: dict, setting: str | None) -> FieldSplit:
    """Split one sample for the chosen field (``None`` = answer for QA samples, else text)."""
    text = sample["text"]
    start = sample.get("loss_start_char")
    qa = start is not None and start > 0
    field = setting or ("answer" if qa else "text")
    if field == "text":
        if qa:
            raise InputError(f"sample {sample['uid']}: paraphrase_field 'text' would take the paraphrase's loss "
                             f"over question and answer while the original's starts at character {start}; "
                             f"use paraphrase_field 'answer' or 'question'")
        return FieldSplit("text", "", text, "", start)
    if not qa:
        raise InputError(f"sample {sample['uid']}: paraphrase_field '{field}' needs QA samples with a "
                         f"loss_start_char > 0 (e.g. TOFUSource); use paraphrase_field 'text'")
    if field == "answer":
        return FieldSplit("answer", text[:start], text[start:], "", start)
    question = sample.get("question")
    where = text.find(str(question), 0, start) if isinstance(question, str) and question.strip() else -1
    if where < 0:
        raise InputError(f"sample {sample['uid']}: paraphrase_field 'question' needs the sample's 'question' "
                         f"field, found verbatim before the answer (character {start})")
    end = where + len(question)
    return FieldSplit("question", text[:where], question, text[end:], start)
