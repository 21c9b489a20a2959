"""Gradient alignment of a text with its paraphrases (see DESIGN.md, "Gradient alignment").

``align_scope`` is the single entry point; ``gram`` holds the head-only Gram trick and
``scopes`` the autograd-backed wider scopes.
"""

from paramem.align.gram import align_batch, gram_inner, head_features
from paramem.align.scopes import (
    SCOPES,
    ScopeMemoryError,
    align_scope,
    check_scope_memory,
    estimate_scope_bytes,
    find_blocks,
    find_final_norm,
    scope_parameters,
)

__all__ = [
    "SCOPES", "ScopeMemoryError", "align_batch", "align_scope", "check_scope_memory",
    "estimate_scope_bytes", "find_blocks", "find_final_norm", "gram_inner", "head_features",
    "scope_parameters",
]
