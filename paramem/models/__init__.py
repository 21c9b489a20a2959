"""Loading target / paraphraser / reference models, and the embedded tiny model."""

from paramem.models.loading import load_causal_lm, load_tokenizer, resolve_dtype

__all__ = ["load_causal_lm", "load_tokenizer", "resolve_dtype"]
