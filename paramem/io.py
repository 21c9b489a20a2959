"""File helpers shared by every stage: JSONL with precise errors, atomic writes."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import socket
import tempfile
from pathlib import Path
from typing import Any, Iterator


UTF8_BOM = b"\xef\xbb\xbf"


def finite_or_none(x: Any) -> float | None:
    """A number for a strict-JSON record: None for a missing, NaN or infinite value."""
    return None if x is None or not math.isfinite(x) else float(x)


def mean_or(values: Any, empty: Any = None) -> Any:
    """The mean of the values that are not None (sum, then divide); ``empty`` when none is."""
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else empty


class InputError(ValueError):
    """Bad user input; the message names the file, line and/or field."""


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-finite number {name} is not valid JSON")


def read_jsonl(path: str | Path, *, allow_truncated_tail: bool = False) -> Iterator[tuple[int, dict]]:
    """Yield (line_number, record) from a JSONL file.

    Malformed lines raise InputError naming file and line. With ``allow_truncated_tail``
    a last line without its newline that does not parse (a writer killed mid-line) is
    skipped: its sample was never completed and will be redone.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    if raw.startswith(UTF8_BOM):  # spreadsheet exports start with one; it is not part of line 1
        raw = raw[len(UTF8_BOM):]
    lines = raw.split(b"\n")
    ends_with_newline = raw.endswith(b"\n")
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        is_tail = i == len(lines) and not ends_with_newline
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            if is_tail and allow_truncated_tail:
                return
            raise InputError(f"{path}:{i}: not valid UTF-8 ({e.reason} at byte {e.start})") from None
        try:
            record = json.loads(text, parse_constant=_reject_constant)
        except ValueError as e:
            if is_tail and allow_truncated_tail:
                return
            raise InputError(f"{path}:{i}: malformed JSON ({e})") from None
        if not isinstance(record, dict):
            raise InputError(f"{path}:{i}: expected a JSON object, got {type(record).__name__}")
        yield i, record


def read_json(path: str | Path, advice: str) -> Any:
    """A whole-file JSON document; an unreadable or malformed one (a write cut short by a
    kill or a full disk) is one InputError naming the file and ``advice`` (what to do)."""
    path = Path(path)
    try:
        return json.loads(path.read_bytes().removeprefix(UTF8_BOM).decode("utf-8"), parse_constant=_reject_constant)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found; {advice}") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a JSON file; {advice}") from None
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InputError(f"{path}: damaged or truncated ({e}); {advice}") from None


def expand_run_dir(path: str | Path, run_dir: str | Path | None) -> Path:
    """``path`` with every ``{run_dir}`` replaced by the run directory (no run directory:
    the current one), so a config names what an earlier stage wrote into the run."""
    return Path(str(path).replace("{run_dir}", str(run_dir or ".")))


def to_json_safe(value: Any) -> Any:
    """Non-finite floats become None so every file we write is strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: to_json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_safe(v) for v in value]
    return value


def dumps(record: dict) -> str:
    return json.dumps(to_json_safe(record), ensure_ascii=False, allow_nan=False)


def with_filename(error: OSError, path: str | Path) -> OSError:
    """``error`` naming ``path`` when it names no file: a full disk (ENOSPC) on a write or
    flush says nothing of the file, and the user must be told which one."""
    return error if error.filename else OSError(error.errno, error.strerror, str(path))


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w"):
    """A temporary file beside ``path``; on success fsync + rename over ``path``, so no
    reader ever sees half a file. It gets the mode a plain open() would give (mkstemp's
    0600 would make shared result folders unreadable to the team)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():  # else the rename fails naming the temporary file, not this path
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            try:
                yield f
                f.flush()
                os.fsync(f.fileno())
            except OSError as e:
                raise with_filename(e, path) from e
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_open(path) as f:
        f.write(text)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_jsonl(path: str | Path, records) -> int:
    """Stream ``records`` into ``path`` atomically; returns how many were written."""
    n = 0
    with atomic_open(path) as f:
        for record in records:
            f.write(dumps(record) + "\n")
            n += 1
    return n


# -- temporary files of atomic writes -------------------------------------------------------
def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname().split(".")[0]) or "host"


def temp_prefix(name: str, pid: int | None = None) -> str:
    """Prefix of a temporary file standing in for ``name`` (an atomic write's, a staged
    figure's): it names the writing process (default: this one), so a later run can tell
    a dead writer's leftover from a live one's file (``remove_stale_temps``)."""
    return f".{name}.{os.getpid() if pid is None else pid}@{_host()}."


_TEMP = re.compile(r"^\..+\.(?P<pid>\d+)@(?P<host>[A-Za-z0-9-]+)\.[^.]*\.tmp$")


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is a temporary file of ``temp_prefix``'s kind."""
    return _TEMP.match(name) is not None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:  # a zombie (exited, not yet reaped: e.g. orphaned under an init that never reaps) is not alive
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc (not Linux): what kill() said
        return True


def remove_stale_temps(folder: Path) -> list[Path]:
    """Remove temporary files that a killed atomic write left in ``folder``: those of a
    process of this host that no longer runs. Files of live processes and of other hosts
    (a shared file system) are left alone."""
    removed = []
    if not folder.is_dir():
        return removed
    host = _host()
    for path in folder.glob(".*.tmp"):
        m = _TEMP.match(path.name)
        if m is None or m["host"] != host or _alive(int(m["pid"])):
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed
