"""The one guard of the stages and scopes that take gradients."""

from __future__ import annotations

import torch


def require_autograd(what: str) -> None:
    """Refuse ``what`` under ``torch.inference_mode``, where no gradient can be taken (a
    Lightning predict loop runs there unless the Trainer is told otherwise)."""
    if torch.is_inference_mode_enabled():
        raise RuntimeError(f"{what} needs gradients, which torch.inference_mode makes impossible: set "
                           f"`trainer: {{inference_mode: false}}` in the config (or Trainer(inference_mode=False))")
