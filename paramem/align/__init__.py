"""Gradient alignment of a text with its paraphrases (see DESIGN.md, "Gradient alignment").

``align_scope`` is the single entry point; ``gram`` holds the head-only Gram trick and
``scopes`` the registry of scopes (``SCOPES``: head, layers, full).
"""

from paramem.align.gram import align_batch, gram_inner, head_features
from paramem.align.scopes import (
    SCOPES,
    Scope,
    ScopeMemoryError,
    align_scope,
    check_scope_memory,
    estimate_scope_bytes,
    find_blocks,
    find_final_norm,
    get_scope,
    scope_parameters,
)

__all__ = [
    "SCOPES", "Scope", "ScopeMemoryError", "align_batch", "align_scope", "check_scope_memory",
    "estimate_scope_bytes", "find_blocks", "find_final_norm", "get_scope", "gram_inner", "head_features",
    "scope_parameters",
]
