"""The stages' summaries are plain functions of the records the merge kept."""

import math

from paramem.align.module import alignment_summary
from paramem.influence.module import influence_summary


def test_alignment_summary_counts_nulls_by_cause_and_means_by_class_and_exposure():
    records = [{"uid": "a", "label": 1, "exposure": 2, "cosine": 0.5, "n_paraphrases": 3, "n_loss_tokens": 4},
               {"uid": "b", "label": 1, "exposure": 2, "cosine": 0.7, "n_paraphrases": 3, "n_loss_tokens": 4},
               {"uid": "c", "label": 0, "exposure": 0, "cosine": 0.2, "n_paraphrases": 3, "n_loss_tokens": 4},
               {"uid": "d", "label": 0, "exposure": 0, "cosine": None, "n_paraphrases": 0, "n_loss_tokens": 4},
               {"uid": "e", "label": 1, "exposure": 4, "cosine": None, "n_paraphrases": 3, "n_loss_tokens": 0}]
    lines, metrics = alignment_summary(records, "head")
    assert lines[0] == ("alignment (head): 5 samples; cosine null: 1 no valid paraphrase, 1 no loss tokens; "
                        "mean cosine members 0.6000, non-members 0.2000")
    assert lines[1] == "mean cosine by exposure (0 = non-members): 0: 0.2000 (n=1), 2: 0.6000 (n=2)"
    assert metrics["align/n_samples"] == 5 and metrics["align/exposure=2/mean_cosine"] == (0.5 + 0.7) / 2


def test_influence_summary_leaves_null_scores_out_and_a_class_without_any_is_nan():
    records = [{"uid": "a", "label": 1, "self_influence": 2.0, "tracin_self": 1.0, "repsim_max": 0.5},
               {"uid": "b", "label": 1, "self_influence": None, "tracin_self": 3.0, "repsim_max": 0.7},
               {"uid": "c", "label": 0, "self_influence": None, "tracin_self": None, "repsim_max": None}]
    lines, metrics = influence_summary(records, "head, ekfac")
    assert metrics["influence/mean_self_influence_member"] == 2.0
    assert metrics["influence/mean_tracin_self_member"] == 2.0
    assert math.isnan(metrics["influence/mean_tracin_self_nonmember"])
    assert lines == ["influence (head, ekfac): 3 samples; mean self_influence members 2, non-members nan; "
                     "tracin_self members 2, non-members nan; repsim_max members 0.6, non-members nan"]
