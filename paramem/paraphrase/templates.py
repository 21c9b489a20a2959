"""Prompt templates for the paraphraser model.

A template is literal text with exactly one ``{text}`` placeholder. Substitution is a plain
split-and-join, never ``str.format``: the texts we paraphrase (code, LaTeX, JSON) are full
of braces, and no brace in either the template or the text is ever interpreted.

Shipped families live in ``templates/<family>.yaml`` (package data). A user file may be
YAML or JSON with the same schema, a YAML/JSON list of strings or ``{name, text}`` dicts, or
a ``.txt`` file whose templates are separated by lines holding only ``---``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

PLACEHOLDER = "{text}"
_PACKAGE_DIR = "templates"


class TemplateError(ValueError):
    """A template file or template is malformed; the message names the file and template."""


@dataclass(frozen=True)
class Template:
    name: str
    text: str
    family: str = "custom"
    source: str = "<inline>"
    # (original, rewrite) pairs shown before the real prompt when few_shot is requested.
    examples: tuple[tuple[str, str], ...] = field(default=())
    # The system message of a chat prompt (``messages``); before the prompt otherwise.
    system: str | None = None

    def __post_init__(self):
        n = self.text.count(PLACEHOLDER)
        if n != 1:
            raise TemplateError(
                f"{self.source}: template {self.name!r} must contain {PLACEHOLDER} exactly once, found {n}"
            )

    def _split(self) -> tuple[str, str, str]:
        # head = instructions before the line holding {text}; the line pattern (before/after)
        # is what few-shot examples repeat, so the instructions appear only once.
        before, after = self.text.split(PLACEHOLDER)
        cut = before.rfind("\n") + 1
        return before[:cut], before[cut:], after

    def _n_examples(self, few_shot: bool | int) -> int:
        if isinstance(few_shot, bool):
            n_examples = len(self.examples) if few_shot else 0
        elif isinstance(few_shot, int) and few_shot >= 0:
            n_examples = few_shot
        else:
            raise ValueError(f"few_shot must be a bool or a non-negative int, got {few_shot!r}")
        if n_examples > len(self.examples):
            raise ValueError(
                f"template {self.name!r} ({self.source}) has {len(self.examples)} few-shot examples, "
                f"{n_examples} requested"
            )
        return n_examples

    def render(self, text: str, few_shot: bool | int = False) -> str:
        """The prompt for ``text`` as one text to continue (base models); ``few_shot`` = True
        (all examples) or a count of examples, inline after the instructions."""
        head, line_before, after = self._split()
        parts = [f"{self.system}\n\n" if self.system else "", head]
        for original, rewrite in self.examples[:self._n_examples(few_shot)]:
            # The example answer follows the output label after one space, and a blank line
            # ends it: the same shape cleaning.clean() expects from the model.
            parts.append(f"{line_before}{original}{after} {rewrite}\n\n")
        parts.append(line_before + text + after)
        return "".join(parts)

    def messages(self, text: str, few_shot: bool | int = False) -> list[dict[str, str]]:
        """The prompt for ``text`` as chat turns (instruct models): the system message, then
        each few-shot example as a user turn (the template for its original) answered by an
        assistant turn (its rewrite alone), then the user turn for ``text``. The model so
        answers the last turn as it saw the examples answered, instead of continuing text."""
        chat = [{"role": "system", "content": self.system}] if self.system else []
        plain = Template(self.name, self.text, self.family, self.source)
        for original, rewrite in self.examples[:self._n_examples(few_shot)]:
            chat += [{"role": "user", "content": plain.render(original)}, {"role": "assistant", "content": rewrite}]
        return chat + [{"role": "user", "content": plain.render(text)}]

    def instruction_texts(self) -> list[str]:
        """The prompt's own words (system message, instructions before the text line): an
        output that repeats them copied the prompt (gate reason ``copied_instruction``)."""
        head, line_before, after = self._split()
        return [t for t in (self.system, head, line_before, after) if t and t.strip()]


def list_families() -> list[str]:
    """Names of the shipped template families (``templates/*.yaml``)."""
    root = resources.files("paramem.paraphrase") / _PACKAGE_DIR
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


def load_templates(family_or_path: str | Path, names: list[str] | None = None) -> list[Template]:
    """Templates of a shipped family, or of a user file (YAML, JSON or txt).

    ``names`` selects templates by name and keeps that order; ``None`` keeps all in file order.
    """
    key = str(family_or_path)
    families = list_families()
    if key in families:
        source = f"{_PACKAGE_DIR}/{key}.yaml"
        raw = (resources.files("paramem.paraphrase") / _PACKAGE_DIR / f"{key}.yaml").read_text("utf-8")
        templates = _parse(raw, ".yaml", source, default_family=key)
    else:
        path = Path(key).expanduser()
        if not path.is_file():
            raise TemplateError(
                f"{key!r} is neither a shipped template family ({', '.join(families)}) nor an existing file"
            )
        source = str(path)
        templates = _parse(path.read_text("utf-8"), path.suffix.lower(), source, default_family=path.stem)
    if not templates:
        raise TemplateError(f"{source}: no templates found")
    seen: set[str] = set()
    for t in templates:
        if t.name in seen:
            raise TemplateError(f"{source}: duplicate template name {t.name!r}")
        seen.add(t.name)
    if names is None:
        return templates
    by_name = {t.name: t for t in templates}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise TemplateError(f"{source}: unknown template name(s) {missing}; available: {sorted(by_name)}")
    return [by_name[n] for n in names]


def _parse(raw: str, suffix: str, source: str, default_family: str) -> list[Template]:
    if suffix not in (".json", ".yaml", ".yml", ".txt"):
        raise TemplateError(f"{source}: unsupported template file type {suffix!r} (use .yaml, .json or .txt)")
    if suffix == ".txt":
        blocks, current = [], []
        for line in raw.splitlines():
            if line.strip() == "---":
                blocks.append("\n".join(current))
                current = []
            else:
                current.append(line)
        blocks.append("\n".join(current))
        # Surrounding newlines of a block are layout, not prompt; a trailing space would
        # also hurt tokenisation of the first generated word.
        texts = [b.strip("\n").rstrip() for b in blocks if b.strip()]
        return [
            _make(f"{default_family}_{i}", t, default_family, source, ()) for i, t in enumerate(texts)
        ]
    try:
        data = json.loads(raw) if suffix == ".json" else yaml.safe_load(raw)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise TemplateError(f"{source}: cannot parse: {err}") from err

    if isinstance(data, list):
        data = {"templates": data}
    if not isinstance(data, dict) or not isinstance(data.get("templates"), list):
        raise TemplateError(f"{source}: expected a list of templates or a mapping with a 'templates' list")
    family = str(data.get("family", default_family))
    examples = _examples(data.get("few_shot") or [], source)
    system = data.get("system")
    if system is not None and not (isinstance(system, str) and system.strip()):
        raise TemplateError(f"{source}: 'system' must be a non-empty string (the chat system message)")
    out = []
    for i, item in enumerate(data["templates"]):
        if isinstance(item, str):
            out.append(_make(f"{family}_{i}", item, family, source, examples, system))
        elif isinstance(item, dict) and isinstance(item.get("text"), str):
            out.append(_make(str(item.get("name", f"{family}_{i}")), item["text"], family, source, examples,
                             system))
        else:
            raise TemplateError(f"{source}: template #{i} must be a string or a mapping with a 'text' string")
    return out


def _examples(raw, source: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, list):
        raise TemplateError(f"{source}: 'few_shot' must be a list of {{original, rewrite}} mappings")
    out = []
    for i, ex in enumerate(raw):
        if not (isinstance(ex, dict) and isinstance(ex.get("original"), str) and isinstance(ex.get("rewrite"), str)):
            raise TemplateError(f"{source}: few_shot example #{i} needs string fields 'original' and 'rewrite'")
        out.append((ex["original"], ex["rewrite"]))
    return tuple(out)


def _make(name: str, text: str, family: str, source: str, examples, system: str | None = None) -> Template:
    return Template(name=name, text=text, family=family, source=source, examples=examples, system=system)
