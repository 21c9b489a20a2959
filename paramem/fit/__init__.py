from paramem.fit.module import CausalLMFit

__all__ = ["CausalLMFit"]
