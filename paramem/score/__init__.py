"""Membership scores: token statistics from one forward pass and the classic MIA baselines."""
