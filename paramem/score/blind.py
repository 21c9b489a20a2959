"""The blind baseline (Das, Zhang & Tramèr 2024): can the texts alone tell members apart?

``blind_bow``: a bag-of-words logistic regression on the texts, no model involved. Each
sample's score is the member probability from a classifier fitted on the *other* folds of
a seeded, stratified k-fold (vocabulary included), so no score comes from a classifier
that saw its label. When it separates members from non-members (AUROC CI above 0.6), the
benchmark measures distribution shift between the two sets, not memorization.
"""

from __future__ import annotations

from paramem.score.registry import register

SHIFT_THRESHOLD = 0.6
SHIFT_WARNING = ("members and non-members are distinguishable without the model: this benchmark measures "
                 "distribution shift")


@register("blind_bow", formula="out-of-fold P(member | bag of words of x), logistic regression, seeded "
                               "stratified k-fold", per_sample=False)
def blind_bow(texts: list[str], labels: list[int], folds: int = 5, seed: int = 0) -> list[float | None]:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline

    n_min = min(sum(1 for y in labels if y == 1), sum(1 for y in labels if y == 0))
    k = min(folds, n_min)
    if k < 2:
        return [None] * len(texts)  # one class, or too few of one to hold any out
    scores: list[float | None] = [None] * len(texts)
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    for train, test in splitter.split(texts, labels):
        clf = make_pipeline(CountVectorizer(lowercase=True, ngram_range=(1, 1)),
                            LogisticRegression(max_iter=2000, C=1.0))
        clf.fit([texts[i] for i in train], [labels[i] for i in train])
        proba = clf.predict_proba([texts[i] for i in test])[:, list(clf.classes_).index(1)]
        for i, p in zip(test, proba):
            scores[i] = float(p)
    return scores


def shift_warning(metrics: dict) -> str | None:
    """The distribution-shift warning when blind_bow's overall AUROC CI lies above 0.6."""
    entry = metrics.get("all", {}).get("blind_bow")
    if not entry or not entry.get("defined"):
        return None
    ci = entry["auroc"].get("ci")
    low = ci[0] if ci else entry["auroc"]["value"]
    if low is None or low <= SHIFT_THRESHOLD:
        return None
    return f"blind_bow AUROC {entry['auroc']['value']:.3f} (95% CI low {low:.3f} > {SHIFT_THRESHOLD}): {SHIFT_WARNING}"
