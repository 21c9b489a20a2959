"""torch.compile for the fast decoder's CPU hot spots, with a clean fallback to eager.

Why: on CPU a tiny model's decode step costs its number of ops (each a few us of dispatch),
not its FLOPs; inductor fuses the elementwise runs into generated C++ (the machine's gcc).
Compiling costs tens of seconds per process (bench/RESULTS.md, "Fast decoder"), so it only
pays on long runs. ``PARAMEM_FAST_COMPILE`` chooses:
- ``off``: never compile;
- ``on``: compile from the first call;
- ``auto`` (default): compile once this process has decoded ``AUTO_AFTER`` row-steps (the
  measured break-even: compile seconds / seconds saved per row-step), so tests, demos and
  small runs stay eager and a long paraphrase run compiles once, early in the run.
Shapes turn dynamic as they change, so a few compiles serve every bucket. Where compiling fails (no C++
compiler, an unsupported op), one log line says so and every later call runs eagerly.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

MODES = ("auto", "on", "off")
# Break-even, measured on the 2-core dev host (bench/RESULTS.md, "Fast decoder", 2026-12-02
# 17:38-17:42 UTC, load ~3): ~144 s to compile every mode's graphs cold (the prompts' forward,
# 4 unrolled decode steps, the beam step, the noise hash), 11-28 us (mean ~18) saved per
# row-step at the tiny shape, compiled vs eager -> ~8M row-steps (warm on-disk cache: ~13 s,
# ~0.7M). Before (09:14 UTC: ~58 s, ~8 us) it was ~7M.
AUTO_AFTER = 8_000_000
_state = {"work": 0, "failed": False}
_compiled: dict[str, object] = {}
_OPTIONS = {"size_asserts": False, "scalar_asserts": False, "alignment_asserts": False}


def mode() -> str:
    value = os.environ.get("PARAMEM_FAST_COMPILE", "auto").strip().lower()
    if value not in MODES:
        raise ValueError(f"PARAMEM_FAST_COMPILE={value!r}: expected one of {', '.join(MODES)}")
    return value


def note_work(row_steps: int) -> None:
    """Count the decode work this process has started (for ``auto``)."""
    _state["work"] += int(row_steps)


def active() -> bool:
    """Whether the compiled variants run now."""
    if _state["failed"]:
        return False
    m = mode()
    return m == "on" or (m == "auto" and _state["work"] >= AUTO_AFTER)


def mark_rows_dynamic(args) -> None:
    """Mark every tensor's dim 0 (cache rows, batch rows) symbolic from the first compile:
    buckets differ in rows, and each new row count would otherwise cost a recompile. call()
    marks its arguments; a caller marks the tensors its arguments hold as attributes."""
    import torch

    for x in args:
        for t in (x if isinstance(x, (list, tuple)) else (x,)):
            if isinstance(t, torch.Tensor) and t.dim() and t.shape[0] > 1:
                torch._dynamo.maybe_mark_dynamic(t, 0)


def call(name: str, fn, *args, eager=None, options: dict | None = None):
    """fn(*args), compiled when active() (with inductor ``options`` on top of _OPTIONS); else
    (and for good, with one log line, once compiling fails) ``eager(*args)``, by default fn
    itself: an eager twin with the same results."""
    eager = eager or fn
    if not active():
        return eager(*args)
    compiled = _compiled.get(name)
    if compiled is None:
        import torch

        # Automatic dynamic shapes: a dim (rows, the attended span, candidates) turns symbolic
        # once it changes, the model's dims stay static (dynamic=True made head_dim symbolic
        # too: masked loads and index divisions in the inner loops, 10-15 % slower per sample).
        # That costs a few recompiles per function (warm-up shapes, bias / back-pointers or
        # not), so the limit is raised above them; past it Dynamo would run the code eagerly.
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 32)
        # No size/stride asserts on the inputs inside the compiled code: Dynamo's guards
        # already check them, and at ~40 inputs per decode step they cost ~20-40 us per call.
        compiled = _compiled[name] = torch.compile(fn, options={**_OPTIONS, **(options or {})})
    mark_rows_dynamic(args)
    try:
        return compiled(*args)
    except Exception as e:  # noqa: BLE001 - any compile failure: eager gives the same results
        _state["failed"] = True
        log.warning("torch.compile of the fast decoder failed (%s: %s); decoding eagerly",
                    type(e).__name__, str(e).splitlines()[0] if str(e) else "")
        return eager(*args)
