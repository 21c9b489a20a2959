"""LoRA fine-tuning for ``paramem fit`` (``model.init_args.lora``).

peft adapters on the linear layers of the chosen blocks; only the adapters train. At the
end the adapters are merged into the weights (``merge_and_unload``) and the model is saved
as a full model directory, so every later stage loads it like any other model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from paramem.settings import RangeChecked


@dataclass(frozen=True)
class LoRASettings(RangeChecked):
    """LoRA adapters for ``paramem fit`` (``model.init_args.lora``; null = full fine-tune).

    Args:
        rank: adapter rank r, >= 1.
        alpha: scaling numerator (the update is ``alpha / rank * B A``), > 0.
        n_layers: adapters on the linear layers of the last ``n_layers`` blocks; 0 = every block.
        seed: the adapters' initialisation (B = 0, so the model starts unchanged).
    """

    rank: int = 16
    alpha: float = 32.0
    n_layers: int = 0
    seed: int = 0

    GROUP = "lora"
    RANGES = {"rank": {"low": 1, "integer": True}, "alpha": {"low": 0, "low_open": True},
              "n_layers": {"low": 0, "integer": True}, "seed": {"low": 0, "integer": True}}


def add_adapters(model: nn.Module, settings: LoRASettings) -> nn.Module:
    """``model`` wrapped by peft with trainable adapters; its own weights frozen."""
    from peft import LoraConfig, get_peft_model

    from paramem.align.scopes import find_blocks
    from paramem.influence.task import block_linear_names

    n_blocks = len(find_blocks(model))
    targets = block_linear_names(model, min(settings.n_layers or n_blocks, n_blocks))
    torch.manual_seed(settings.seed)
    config = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=0.0, target_modules=targets,
                        bias="none")
    return get_peft_model(model, config)


def merged(model: nn.Module) -> nn.Module:
    """The plain model with its adapters folded into the weights (a no-op without adapters)."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model


def trainable_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
