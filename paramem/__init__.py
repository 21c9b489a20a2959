"""paramem: paraphrase gradient alignment as a membership-inference signal for causal LMs.

Pipeline: data -> paraphrase -> align -> score -> report (one sub-package each).
"""

__version__ = "0.1.0"
