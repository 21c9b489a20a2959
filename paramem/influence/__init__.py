"""Influence functions (kronfluence EK-FAC), TracIn self-influence and RepSim as a predict stage."""
