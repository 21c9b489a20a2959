"""What kronfluence needs to know about a causal LM: its loss, its padding, its scope.

kronfluence (EK-FAC influence functions) works on ``Task`` objects and token batches;
this module supplies them for paramem's tokenization (explicit position ids, a loss-target
mask for QA answers) and names the tracked modules of each scope:

- ``head``: the output layer (``lm_head`` / ``embed_out``);
- ``layers``: every ``nn.Linear`` inside the last ``n_layers`` transformer blocks;
- ``lora``: the ``lora_B`` factors of the LoRA adapters peft adds (seeded, B = 0) to the
  linear layers of the last ``n_layers`` blocks: ``dL/dB = (dL/dW) Aᵀ``, the weight
  gradient projected to rank r by the random ``lora_A``. (``lora_A``'s gradient is
  exactly zero while B = 0; tracking it would only add a zero curvature block.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kronfluence.task import Task
from kronfluence.utils.state import State
from torch import nn

from paramem.align.scopes import last_blocks
from paramem.textbatch import TokenBatch, encode, forward

SCOPES = ("head", "layers", "lora")


class LocalState(State):
    """A one-process kronfluence state on a given device.

    kronfluence's own ``State`` turns distributed whenever ``LOCAL_RANK`` is set on a CUDA
    machine and then gathers scores across ranks after every call. paramem's predict loop
    gives each DDP rank its own samples and its own number of batches, so every kronfluence
    call here is rank-local; the Lightning writer does the merging."""

    def __init__(self, device: torch.device) -> None:  # noqa: D107 -- no shared singleton dict
        self.__dict__ = {"cpu": device.type == "cpu", "num_processes": 1, "process_index": 0,
                         "local_process_index": 0, "n_gpus": torch.cuda.device_count(), "device": device}


class CausalLMTask(Task):
    """Loss = summed next-token cross-entropy over the target tokens of a batch (each row's
    sum times ``batch["row_weight"]`` when the batch has one: 1/n_tokens gives the gradient
    of the mean token loss, as the transductive aggregate needs before summing rows).

    ``sample=True`` draws each target from the model's own softmax (kronfluence then fits the
    true Fisher, whose expectation is the Gauss-Newton matrix of the cross-entropy)."""

    def __init__(self, tracked: list[str]) -> None:
        self.tracked = tracked

    def _logits(self, batch: dict, model: nn.Module) -> torch.Tensor:
        return forward(model, as_token_batch(batch))[:, :-1].float()  # (B, T-1, V)

    def compute_train_loss(self, batch: dict, model: nn.Module, sample: bool = False) -> torch.Tensor:
        logits = self._logits(batch, model)
        mask = batch["target_mask"][:, 1:].to(logits.dtype)  # (B, T-1)
        if sample:
            with torch.no_grad():
                targets = torch.multinomial(logits.softmax(-1).flatten(0, 1), 1).view(mask.shape)
        else:
            targets = batch["input_ids"][:, 1:]
        ce = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # (B, T-1)
        per_row = (ce * mask).sum(-1)  # (B,)
        if "row_weight" in batch:
            per_row = per_row * batch["row_weight"]
        return per_row.sum()

    def compute_measurement(self, batch: dict, model: nn.Module) -> torch.Tensor:
        return self.compute_train_loss(batch, model, sample=False)

    def get_influence_tracked_modules(self) -> list[str]:
        return self.tracked

    def get_attention_mask(self, batch: dict) -> torch.Tensor:
        return batch["attention_mask"]


def head_name(model: nn.Module) -> str:
    """Module name of the output layer (e.g. ``embed_out`` for GPT-NeoX, ``lm_head`` for GPT-2)."""
    head = model.get_output_embeddings()
    for name, mod in model.named_modules():
        if mod is head:
            return name
    raise ValueError(f"no output layer found in {type(model).__name__}")


def block_linear_names(model: nn.Module, n_layers: int) -> list[str]:
    """Names of the ``nn.Linear`` modules inside the last ``n_layers`` blocks."""
    wanted = {id(m) for b in last_blocks(model, n_layers) for m in b.modules() if isinstance(m, nn.Linear)}
    return [name for name, m in model.named_modules() if id(m) in wanted]


def add_lora(model: nn.Module, n_layers: int, rank: int, alpha: float, seed: int) -> nn.Module:
    """peft LoRA adapters (seeded init) on the linear layers of the last ``n_layers`` blocks."""
    from peft import LoraConfig, get_peft_model

    targets = block_linear_names(model, n_layers)
    torch.manual_seed(seed)
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules=targets, bias="none")
    return get_peft_model(model, config)


def tracked_names(model: nn.Module, scope: str, n_layers: int) -> list[str]:
    if scope == "head":
        return [head_name(model)]
    if scope == "layers":
        return block_linear_names(model, n_layers)
    if scope == "lora":
        names = [n for n, m in model.named_modules()
                 if isinstance(m, nn.Linear) and n.rsplit(".", 2)[-2] == "lora_B"]
        if not names:
            raise ValueError("scope 'lora' needs a model with LoRA adapters (add_lora)")
        return names
    raise ValueError(f"scope {scope!r} unknown; one of {', '.join(SCOPES)}")


def token_batches(tokenizer, items: list[dict], max_length: int, batch_size: int,
                  device: torch.device | str = "cpu", add_special_tokens: str | bool = "auto") -> list[dict]:
    """``items`` (``{text, loss_start_char?}``) as padded tensor batches kronfluence can iterate
    (a DataLoader with ``batch_size=None`` yields them as they are)."""
    return [as_tensors(encode_items(tokenizer, items[i:i + batch_size], max_length, device, add_special_tokens))
            for i in range(0, len(items), batch_size)]


def encode_items(tokenizer, items: list[dict], max_length: int, device: torch.device | str = "cpu",
                 add_special_tokens: str | bool = "auto"):
    return encode(tokenizer, [c["text"] for c in items], max_length, device,
                  loss_start_chars=[c.get("loss_start_char", 0) for c in items],
                  add_special_tokens=add_special_tokens)


# kronfluence moves and sizes its batches with accelerate's send_to_device / find_batch_size,
# which take tensors and mappings of them (a TokenBatch dataclass is refused): the batches
# it iterates are dicts of a TokenBatch's tensors, turned back into one for the model call.
def as_tensors(enc: TokenBatch) -> dict:
    return {"input_ids": enc.input_ids, "attention_mask": enc.attention_mask, "position_ids": enc.position_ids,
            "target_mask": enc.target_mask}


def as_token_batch(batch: dict) -> TokenBatch:
    """The TokenBatch of a kronfluence batch (``as_tensors``'s output, possibly moved), for
    the model calls of ``paramem.textbatch``; truncation is not carried and reads False."""
    mask = batch["attention_mask"]  # (B, T)
    lengths = mask.sum(-1).tolist()
    return TokenBatch(batch["input_ids"], mask, batch["position_ids"], batch["target_mask"], lengths,
                      [False] * len(lengths))
