"""Real human-written text that ships with every Python: CPython's documentation.

Two pools of prose paragraphs, both written by people for people (PSF licence):
``pydoc_data.topics`` (the language reference topics behind ``help('if')``) and the
docstrings of a fixed list of pure-Python standard-library modules. Code blocks, doctests
and grammar rules are left out; whitespace is collapsed; exact repeats are dropped. The
text depends only on the Python version (the manifest records it), never on which
optional modules (tkinter, ssl, C accelerators) are installed: the listed modules define
everything they document in Python, the same on every build.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
import sys
from typing import Iterator

# Pure-Python modules whose public objects are all defined in Python on every build (no
# names that exist only when ssl / tkinter / a C accelerator is present).
DOCSTRING_MODULES = (
    "abc", "argparse", "ast", "asyncio.events", "asyncio.tasks", "base64", "calendar", "cmd", "code",
    "codecs", "collections", "concurrent.futures._base", "configparser", "copy", "csv", "dataclasses",
    "difflib", "doctest", "email.message", "email.utils", "enum", "fractions", "functools", "gettext",
    "glob", "hashlib", "heapq", "hmac", "html.parser", "inspect", "ipaddress", "json.decoder",
    "json.encoder", "locale", "logging", "mimetypes", "numbers", "operator", "optparse", "pathlib",
    "pdb", "plistlib", "pprint", "queue", "quopri", "random", "sched", "selectors", "signal",
    "socketserver", "statistics", "string", "tarfile", "tempfile", "textwrap", "threading", "timeit",
    "tokenize", "traceback", "types", "typing", "unittest.case", "urllib.parse", "uuid", "warnings",
    "weakref", "xml.dom.minidom", "zipfile",
)

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


def prose_paragraphs(text: str) -> Iterator[str]:
    """The prose paragraphs of a reST-ish text, whitespace collapsed: a paragraph with an
    indented line (a code block, a quoted grammar), a doctest or a grammar rule is not prose."""
    for block in _PARAGRAPH_BREAK.split(text):
        lines = block.strip("\n").split("\n")
        if not block.strip() or lines[0][:1].isspace():  # a code block or quoted grammar
            continue
        if ">>>" in block or "::=" in block or set(lines[-1].strip()) <= set("*=-~^"):
            continue  # doctests, grammar, headings (a title underlined with *** / ===)
        yield " ".join(block.split())


def _topic_title(text: str, key: str) -> str:
    first = text.strip().split("\n", 1)[0].strip()
    return " ".join(first.split()) or key


def pydoc_paragraphs() -> Iterator[tuple[str, str, str]]:
    """``(key, title, paragraph)`` for the paragraphs of ``pydoc_data.topics``, topics in
    sorted order, paragraphs in document order (``key`` = ``pydoc/<topic>/<n>``)."""
    from pydoc_data.topics import topics

    for topic in sorted(topics):
        title = _topic_title(topics[topic], topic)
        for n, paragraph in enumerate(prose_paragraphs(topics[topic])):
            yield f"pydoc/{topic}/{n}", title, paragraph


def _own_doc(obj: object) -> str:
    doc = getattr(obj, "__doc__", None)  # a class with __slots__ = ('__doc__',) holds a descriptor
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def _documented(module_name: str) -> Iterator[tuple[str, str]]:
    """``(qualified name, docstring)`` of a module, its classes and functions defined there,
    and those classes' methods, in sorted name order."""
    module = importlib.import_module(module_name)
    yield module_name, inspect.getdoc(module) or ""
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or getattr(obj, "__module__", None) != module_name:
            continue  # private helpers, and names imported from elsewhere
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        yield f"{module_name}.{name}", _own_doc(obj)
        if inspect.isclass(obj):
            for attr, member in sorted(vars(obj).items()):
                if inspect.isfunction(member):
                    yield f"{module_name}.{name}.{attr}", _own_doc(member)


def docstring_paragraphs(modules: tuple[str, ...] = DOCSTRING_MODULES) -> Iterator[tuple[str, str, str]]:
    """``(key, title, paragraph)`` for the docstring paragraphs of ``modules`` (``key`` =
    ``doc/<qualified name>/<n>``, ``title`` = the qualified name)."""
    for module_name in modules:
        for qualname, doc in _documented(module_name):
            for n, paragraph in enumerate(prose_paragraphs(doc)):
                yield f"doc/{qualname}/{n}", f"the Python function or class {qualname}" \
                    if qualname != module_name else f"the Python module {module_name}", paragraph


def paragraph_pool(min_words: int, max_words: int) -> list[dict]:
    """Every paragraph of both pools with ``min_words <= words <= max_words``, first
    occurrence of each text kept, in a fixed order (pydoc topics, then docstrings)."""
    seen: set[str] = set()
    pool = []
    for key, title, text in (*pydoc_paragraphs(), *docstring_paragraphs()):
        if min_words <= len(text.split()) <= max_words and text not in seen:
            seen.add(text)
            pool.append({"key": key, "title": title, "text": text})
    return pool


def pool_fingerprint(pool: list[dict]) -> dict:
    """What the texts depend on (the Python version) and a hash of them, for the manifest."""
    digest = hashlib.sha256("\n".join(p["key"] + "\t" + p["text"] for p in pool).encode("utf-8")).hexdigest()
    return {"python": "%d.%d" % sys.version_info[:2], "pool_size": len(pool), "pool_sha256": digest[:16]}


QUESTION = "What does the Python documentation say about {title}?"
QA_TEMPLATE = "Question: {question}\nAnswer: "


def _row(entry: dict, qa: bool) -> dict:
    if not qa:
        return {"uid": entry["key"], "text": entry["text"]}
    question = QUESTION.format(title=entry["title"])
    prompt = QA_TEMPLATE.format(question=question)
    return {"uid": entry["key"], "text": prompt + entry["text"], "loss_start_char": len(prompt),
            "question": question, "answer": entry["text"]}


def build_pydocs_corpus(n_members: int, n_nonmembers: int, n_teach: int, n_prefix: int, seed: int,
                        min_words: int, max_words: int, qa: bool, exposures: list[int] | None) -> dict[str, list[dict]]:
    """``eval`` (members and non-members, sorted by uid), ``teach`` (background, never
    evaluated) and ``prefix_pool`` (teach texts as members, ``n_prefix`` unseen paragraphs as
    non-members: a labelled ReCaLL pool). One seeded shuffle of the pool is cut into
    members | non-members | teach | unseen, so all four come from one distribution and the
    evaluation set does not depend on ``n_teach`` or ``n_prefix``."""
    from paramem.data.embedded import _Rng
    from paramem.io import InputError

    pool = paragraph_pool(min_words, max_words)
    sizes = (n_members, n_nonmembers, n_teach, n_prefix)
    if sum(sizes) > len(pool):
        raise InputError(f"PyDocsSource: {sum(sizes)} paragraphs asked (n_members + n_nonmembers + n_teach + "
                         f"n_prefix), only {len(pool)} of {min_words}..{max_words} words in this Python's "
                         f"documentation; ask for fewer or widen the word window")
    _Rng("pydocs", seed).shuffle(pool)
    cuts = [sum(sizes[:i]) for i in range(5)]
    members, nonmembers, teach, unseen = (pool[a:b] for a, b in zip(cuts, cuts[1:]))
    rows = [{**_row(e, qa), "label": label, "domain": "pydocs", "split": e["key"].split("/", 1)[0]}
            for group, label in ((members, 1), (nonmembers, 0)) for e in group]
    if exposures:
        from paramem.data.exposure import assign_exposures

        dose = assign_exposures([e["key"] for e in members], exposures, seed)
        for row in rows:
            row["exposure"] = dose.get(row["uid"], 0)
    teach_rows = [_row(e, qa) for e in teach]
    prefix_rows = [{**r, "label": 1} for r in teach_rows] + [{**_row(e, qa), "label": 0} for e in unseen]
    return {"eval": sorted(rows, key=lambda r: r["uid"]), "teach": teach_rows, "prefix_pool": prefix_rows}
