"""jsonargparse's parse errors as one line, and command-line values it would mangle.

jsonargparse reports a bad option as an indented tree (one branch per Union member, the
``NoneType`` branch of every ``Optional`` included) after the whole usage text. A user
needs the key and the type it takes: ``summarize`` walks the tree to its innermost
``Parser key`` and says just that. Standard library only (imported before Lightning).
"""

from __future__ import annotations

import json
import re
import sys

_KEY = re.compile(r'^(\s*)(?:- )?Parser key "([^"]+)":\s*(.*)$')
_CLASS = re.compile(r"Problem with given class_path '([^']+)'")
_NOT_ACCEPTED = re.compile(r"Option '([^']+)' is not accepted")
_EXPECTED = re.compile(r"Expected a (.+?)\. Got value: (.*)$")
_SUBTYPES = re.compile(r"Subtypes: \[(.*)\]")
_GIVEN = re.compile(r"Given value: (.*)$")
_TYPE = re.compile(r"<class '(?:[\w.]+\.)?(\w+)'>")


def _type_name(text: str) -> str:
    return _TYPE.sub(lambda m: "null" if m[1] == "NoneType" else m[1], text.strip())


def _full_key(lines: list[str]) -> tuple[str, int, str | None]:
    """The dotted key of the innermost ``Parser key`` line, its line index and the class
    whose argument it is (subclass arguments are ``<key>.init_args.<name>``)."""
    key, at, owner, pending_class = "", -1, None, None
    for i, line in enumerate(lines):
        found = _CLASS.search(line)
        if found:
            pending_class = found[1]
            continue
        m = _KEY.match(line)
        if m:
            joiner = ".init_args." if pending_class else "."
            key = f"{key}{joiner}{m[2]}" if key else m[2]
            owner, pending_class, at = pending_class, None, i
    return key, at, pending_class or owner


def _moved_to(owner: str | None, name: str) -> str | None:
    """Where an earlier version's option ``name`` of class ``owner`` lives now (the class's
    ``moved_settings``); the class is already imported when jsonargparse checked its options."""
    module, _, cls = (owner or "").rpartition(".")
    moved = getattr(getattr(sys.modules.get(module), cls, None), "moved_settings", None)
    return moved.get(name) if isinstance(moved, dict) else None


def summarize(message: str, command: str = "predict") -> str:
    """One line for jsonargparse's error ``message``: the key, what it expects, what it got."""
    lines = message.splitlines() or [""]
    key, at, owner = _full_key(lines)
    help_hint = f"(paramem {command} --help lists the options)"
    if at < 0:  # e.g. "unrecognized arguments: --x 1", "File does not exist: ..."
        return f"{' '.join(line.strip() for line in lines)} {help_hint}"
    block = lines[at:]
    rest = _KEY.match(lines[at])[3]
    for line in block:
        m = _NOT_ACCEPTED.search(line)
        if m:
            option = f"{key}.init_args.{m[1]}" if owner else f"{key}.{m[1]}"
            moved = _moved_to(owner, m[1])
            if moved:
                return (f"{option} is now {option[:-len(m[1])]}{moved} (the setting moved into a settings group: "
                        f"set that key instead)")
            return f"{option}: not an option of {owner or key} {help_hint}"
    for line in [rest, *block[1:]]:
        m = _EXPECTED.search(line)
        if m and "NoneType" not in m[1]:
            return f"{key}: expected {_type_name(m[1])}, got {m[2].strip()!r}"
    subtypes = next((m[1] for line in block if (m := _SUBTYPES.search(line))), None)
    given = next((m[1] for line in block if (m := _GIVEN.search(line))), None)
    if subtypes is not None:
        expected = " or ".join(_type_name(t) for t in re.split(r",\s*(?![^\[]*\])", subtypes))
        return f"{key}: expected {expected}" + (f", got {given.strip()!r}" if given is not None else "")
    detail = " ".join(line.strip() for line in [rest, *block[1:]] if line.strip())
    return f"{key}: {detail}"


_NULLS = {"null", "~", "Null", "NULL"}


def _nested(parts: list[str]) -> bool:
    """A subclass argument two levels down, or a field of a settings group (a dataclass
    argument: ``model.init_args.gate.min_semantic_similarity``), where a null goes astray."""
    if not parts or parts[0] == "init_args" or "init_args" not in parts:
        return False
    last = len(parts) - 1 - parts[::-1].index("init_args")
    return parts.count("init_args") >= 2 or len(parts) - last - 1 >= 2


def nested_nulls_as_json(argv: list[str]) -> list[str]:
    """``--a.init_args.b.init_args.c null`` as ``--a '{"init_args": {"b": {"init_args": {"c": null}}}}'``:
    jsonargparse (4.x) passes a subclass argument two levels down on as text, and a null
    arrives there as the string "None", which the type then refuses; a field of a settings
    group given alone refuses a null too. The JSON form keeps
    the other settings of ``a`` and ``b`` (jsonargparse merges it into them)."""
    out, i = [], 0
    while i < len(argv):
        arg = argv[i]
        key, value, used = None, None, 1
        if arg.startswith("--") and "=" in arg:
            key, value = arg[2:].split("=", 1)
        elif arg.startswith("--") and i + 1 < len(argv):
            key, value, used = arg[2:], argv[i + 1], 2
        parts = key.split(".") if key else []
        if value is not None and value.strip() in _NULLS and _nested(parts):
            nested: object = None
            for part in reversed(parts[1:]):
                nested = {part: nested}
            out += [f"--{parts[0]}", json.dumps(nested)]
            i += used
            continue
        out.append(arg)
        i += 1
    return out
