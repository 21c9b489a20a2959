"""Influence functions (kronfluence EK-FAC), TracIn self-influence and RepSim as a predict stage."""

import warnings

# kronfluence 1.0.1 builds a torch.cuda.amp.GradScaler (disabled unless fp16) on every call.
warnings.filterwarnings("ignore", message=r"`torch\.cuda\.amp\.GradScaler", category=FutureWarning)
