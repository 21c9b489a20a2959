"""ROC and score-histogram figures (PNG, matplotlib Agg, no pyplot state).

Legend clutter: a run can carry ~30 methods, most of them parameter sweeps (min-k% at
ten values of k, min-k%++ likewise). When there are more than ``max_curves`` methods, the
ROC figure keeps the best variant (by AUROC) of each family (a name with its trailing
numeric parameter removed: ``mink_0.2`` -> ``mink``), then the best ``max_curves`` of
those. The figure says how many it shows. Picking the best variant on the evaluation data
is optimistic, so this is a reading aid only; metrics.json/csv always hold every method.
The histogram grid has one panel per method, so it shows all of them.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from paramem.io import atomic_write_bytes
from paramem.report.metrics import clean, discover_methods, roc_counts, roc_metrics
from paramem.report.tables import method_family



def method_data(records_or_scores: Sequence[Mapping] | Mapping[str, Any]) -> dict[str, tuple[list, list]]:
    """{method: (scores, labels)} from score records or from such a mapping itself."""
    if isinstance(records_or_scores, Mapping):
        return {m: (list(s), list(y)) for m, (s, y) in records_or_scores.items()}
    records = list(records_or_scores)
    labels = [r["label"] for r in records]
    return {m: ([(r.get("scores") or {}).get(m) for r in records], labels) for m in discover_methods(records)}


def select_methods(aurocs: Mapping[str, float], max_curves: int = 10) -> list[str]:
    """Methods to draw, best AUROC first (see module docstring)."""
    ranked = sorted(aurocs, key=lambda m: (-aurocs[m], m))
    if len(ranked) <= max_curves:
        return ranked
    best_of_family: dict[str, str] = {}
    for m in ranked:  # best first, so the first seen per family wins
        best_of_family.setdefault(method_family(m), m)
    kept = set(best_of_family.values())
    return [m for m in ranked if m in kept][:max_curves]


def _save(fig: Figure, path: str | Path, tight: bool = True) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight" if tight else None)
    atomic_write_bytes(path, buf.getvalue())
    return str(path)


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)  # explicit Agg canvas: no GUI backend, no global pyplot figure list
    return fig


def roc_figure(records_or_scores, path: str | Path, max_curves: int = 10) -> str:
    """ROC curves of the (selected) methods on linear and log-log axes; returns ``path``."""
    curves, undefined = {}, []
    for method, (scores, labels) in method_data(records_or_scores).items():
        point = roc_metrics(scores, labels)
        if not point["defined"]:
            undefined.append(method)
            continue
        s, y, _ = clean(scores, labels)
        fps, tps = roc_counts(s, y)
        curves[method] = (fps / point["n_nonmembers"], tps / point["n_members"], point["auroc"], point["n_nonmembers"])
    shown = select_methods({m: c[2] for m, c in curves.items()}, max_curves)

    fig = _new_figure(13, 5.8)
    lin, log = fig.subplots(1, 2)
    # Zero FPR/TPR have no log: clamp them to a floor, the power of ten below half the
    # smallest nonzero rate any curve can reach (1 / n), so zero stays visibly apart.
    n_max = max((c[3] for c in curves.values()), default=10)
    floor = 10.0 ** math.floor(math.log10(0.5 / max(n_max, 1)))
    colors = _colors(len(shown))
    for color, method in zip(colors, shown):
        fpr, tpr, auroc, _ = curves[method]
        label = f"{method} (AUROC {auroc:.3f})"
        lin.plot(fpr, tpr, color=color, lw=1.4, label=label)
        log.plot(np.maximum(fpr, floor), np.maximum(tpr, floor), color=color, lw=1.4, label=label)
    for ax, lo in ((lin, 0.0), (log, floor)):
        ax.plot([lo, 1], [lo, 1], color="grey", ls="--", lw=1, label="chance")
        ax.set_xlim(lo, 1)
        ax.set_ylim(lo, 1)
        ax.set_xlabel("false positive rate (non-members flagged)")
        ax.set_ylabel("true positive rate (members flagged)")
        ax.grid(True, alpha=0.3, which="both")
    log.set_xscale("log")
    log.set_yscale("log")
    lin.set_title("ROC (linear)")
    log.set_title(f"ROC (log-log; 0 drawn at {floor:g})")
    lin.legend(loc="lower right", fontsize=8)
    note = f"{len(shown)} of {len(curves)} methods with an ROC shown"
    if len(shown) < len(curves):
        note += " (best variant per family, then best AUROC)"
    if undefined:
        note += f"; no ROC (one class or no valid scores): {', '.join(undefined)}"
    if not curves:
        note = "no method has both members and non-members: no ROC to draw"
    fig.suptitle(note, fontsize=9)
    return _save(fig, path)


def dose_response_figure(metrics: Mapping[str, Any], path: str | Path) -> str:
    """AUROC (95% CI band) vs exposure on a log x-axis, one line per method family
    (``paramem.report.dose.plain_representatives``): fixed sign on the left, calibrated
    direction (evaluation half) on the right. An undefined point is a gap, never 0."""
    from paramem.report.dose import plain_representatives

    exposures = metrics["dose_response"]["exposures"]
    groups = [metrics.get(f"exposure={e}", {}) for e in exposures]
    plain = plain_representatives(metrics)
    fig = _new_figure(15, 5.6)
    panels = fig.subplots(1, 2, sharey=True)
    fig.subplots_adjust(left=0.06, right=0.84, wspace=0.08)
    for ax, prefix, title in ((panels[0], "", "fixed sign (larger = member)"),
                              (panels[1], "calibrated/", "calibrated direction, evaluation half")):
        for color, method in zip(_colors(len(plain)), plain):
            name = prefix + method
            pts = [(e, g[name]) for e, g in zip(exposures, groups) if g.get(name, {}).get("defined")]
            if not pts:
                continue
            x = np.array([e for e, _ in pts], dtype=float)
            y = np.array([p["auroc"]["value"] for _, p in pts])
            # Every other family dashed: with ~15 families, colour alone does not tell them apart.
            ax.plot(x, y, marker="o", ms=3, lw=1.4, color=color, ls="-" if plain.index(method) % 2 == 0 else "--",
                    label=method)
            cis = [p["auroc"].get("ci") for _, p in pts]
            if all(cis):
                ax.fill_between(x, [c[0] for c in cis], [c[1] for c in cis], color=color, alpha=0.07, lw=0)
        ax.axhline(0.5, color="grey", ls="--", lw=1)
        ax.set_xscale("log", base=2)
        ax.set_xticks(exposures, [str(e) for e in exposures])
        ax.set_ylim(0, 1)
        ax.set_xlabel("exposure (occurrences of a member in the training stream)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3, which="both")
    panels[0].set_ylabel("AUROC: members of that exposure vs all non-members")
    handles, labels = panels[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="center left", bbox_to_anchor=(0.85, 0.5))
    fig.suptitle("dose-response (95% bootstrap CI bands; one variant per swept family)", fontsize=9)
    return _save(fig, path, tight=False)


def histogram_figure(records_or_scores, path: str | Path, bins: int = 40, ncols: int = 4) -> str:
    """Member vs non-member score histograms, one panel per method; returns ``path``."""
    data = method_data(records_or_scores)
    methods = list(data) or ["(no methods)"]
    ncols = max(1, min(ncols, len(methods)))
    nrows = math.ceil(len(methods) / ncols)
    fig = _new_figure(4.0 * ncols, 3.0 * nrows)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax in axes[len(methods):]:
        ax.set_visible(False)
    for ax, method in zip(axes, methods):
        if method not in data:
            ax.text(0.5, 0.5, "no scores", ha="center", va="center", transform=ax.transAxes)
            continue
        _histogram_panel(ax, method, *data[method], bins=bins)
    # One legend for the figure, class sizes in each panel's title: with ~35 panels,
    # per-panel legends covered the data and cost as much as the drawing.
    fig.legend(handles=[Patch(color=_CLASS_COLOR[1], alpha=0.5, label="members"),
                        Patch(color=_CLASS_COLOR[0], alpha=0.5, label="non-members")],
               loc="upper center", ncols=2, fontsize=9, frameon=False)
    # Fixed spacing rather than tight_layout: with ~30 panels the layout solver costs
    # more than drawing, and every panel has the same furniture anyway.
    top = 1 - 0.75 / fig.get_figheight()  # room for the legend, in inches whatever the grid
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.05, top=top, wspace=0.12, hspace=0.45)
    return _save(fig, path, tight=False)


_CLASS_COLOR = {1: "tab:red", 0: "tab:blue"}


def _histogram_panel(ax, method: str, scores, labels, bins: int) -> None:
    s, y, keep = clean(scores, labels)
    n_dropped = int((~keep).sum())
    point = roc_metrics(scores, labels)
    title = method if not point["defined"] else f"{method}  AUROC {point['auroc']:.3f}"
    counts = f"{int((y == 1).sum())} members, {int((y == 0).sum())} non-members" + (
        f", {n_dropped} dropped" if n_dropped else "")
    ax.set_title(f"{title}\n{counts}", fontsize=8.5)
    ax.set_yticks([])  # densities: only their shapes compare across classes
    if len(s) == 0:
        ax.text(0.5, 0.5, point["reason"], ha="center", va="center", fontsize=7, wrap=True, transform=ax.transAxes)
        return
    # Ratio-type scores can have a few extreme values that would squash every other
    # sample into one bin: bin the central 99% and pile the tails into the edge bins.
    lo, hi = np.quantile(s, [0.005, 0.995])
    if not hi - lo > 1e-9 * max(1.0, abs(lo), abs(hi)):
        # (near-)constant scores, e.g. DC-PDD capped at a for every member: bins of a few
        # ulps would have zero width after rounding and no finite density
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    clipped = np.clip(s, lo, hi)
    for cls in (1, 0):
        vals = clipped[y == cls]
        if len(vals):
            density, _ = np.histogram(vals, bins=edges, density=True)
            # Filled steps as one polygon collection and one line: a stairs patch costs
            # a Bezier walk per segment when the axes compute their limits.
            steps = np.append(density, density[-1])  # (bins + 1,)
            ax.fill_between(edges, steps, step="post", alpha=0.35, color=_CLASS_COLOR[cls], lw=0)
            ax.plot(edges, steps, drawstyle="steps-post", color=_CLASS_COLOR[cls], lw=1)
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.tick_params(labelsize=7)


def _colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]
