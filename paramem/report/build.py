"""Build the report of a scored run: metrics.json/csv, figures, W&B logging, text table.

Everything here works from score records alone (``scores.jsonl``), so a report can be
rebuilt or re-bootstrapped later without loading any model.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from paramem.io import InputError, atomic_write_bytes, remove_stale_temps, to_json_safe
from paramem.report.background import RECORD_FIGURES, BackgroundFigures
from paramem.report.bootstrap import evaluate
from paramem.report.calibrate import PREFIX as CALIBRATED, calibrated_records
from paramem.report.dose import dose_summary, exposure_groups, format_dose_table, representatives
from paramem.report.figures import dose_response_figure
from paramem.report.metrics import METRICS, discover_methods, group_records
from paramem.report.scores_file import load_score_files
from paramem.report.staging import StagedFiles, folder_lock
from paramem.report.tables import text_table

log = logging.getLogger(__name__)

CSV_COLUMNS = (
    "group", "method", "metric", "value", "ci_low", "ci_high",
    "n_members", "n_nonmembers", "defined", "n_dropped", "reason",
)  # fmt: skip
_TABLE_METRICS = (("auroc", "AUROC [95% CI]"), ("fpr@95", "FPR@95"), ("tpr@5", "TPR@5"), ("tpr@1", "TPR@1"))


# The figures of a report, by their W&B name.
FIGURE_FILES = {**RECORD_FIGURES, "dose_response": "dose_response.png"}
# Top-level keys of metrics.json that are not evaluation groups.
NOT_GROUPS = ("meta", "dose_response")


def metric_groups(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The evaluation groups of a metrics dict (every top-level key but ``NOT_GROUPS``)."""
    return {k: v for k, v in metrics.items() if k not in NOT_GROUPS}


def evaluate_report(records: Sequence[Mapping], methods: Sequence[str], group_by: Sequence[str],
                    n_resamples: int, seed: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(groups, calibration summary, dose-response summary). Every group holds the
    fixed-sign methods on its records and ``calibrated/<method>`` on those of its records
    that fall in the evaluation half; with exposures, the groups ``exposure=<e>`` are added."""
    groups_of = {**group_records(records, group_by), **exposure_groups(records)}
    groups_of.pop("all")
    groups = evaluate(records, methods=methods, group_by=(), n_resamples=n_resamples, seed=seed,
                      extra_groups=groups_of)
    held_out, calibration = calibrated_records(records, methods, seed=seed)
    by_uid = {r["uid"]: r for r in held_out}
    calibrated = evaluate(held_out, methods=[CALIBRATED + m for m in methods], group_by=(),
                          n_resamples=n_resamples, seed=seed,
                          extra_groups={g: [by_uid[r["uid"]] for r in recs if r["uid"] in by_uid]
                                        for g, recs in groups_of.items()})
    for gname, per_method in calibrated.items():
        groups[gname].update(per_method)
    return groups, calibration, dose_summary(records, methods, n_resamples, seed)


def assemble_metrics(groups: Mapping[str, Any], calibration: Mapping[str, Any], dose: Mapping[str, Any],
                     methods: Sequence[str], group_by: Sequence[str], n_records: int, n_resamples: int,
                     seed: int) -> dict[str, Any]:
    """The metrics.json dict: "meta", then the groups, then "dose_response" when present."""
    from paramem.score.blind import shift_warning

    warning = shift_warning(groups)
    meta = {
        "n_resamples": n_resamples,
        "seed": seed,
        "methods": list(methods),
        "group_by": list(group_by),
        "n_records": n_records,
        "ci": "95% percentile bootstrap; members and non-members resampled separately; "
        "paired across methods scored on the same samples",
        "calibration": calibration,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "warnings": [warning] if warning else [],
    }
    return {"meta": meta, **groups, **({"dose_response": dose} if dose else {})}


def write_report(
    records: Sequence[Mapping],
    out_dir: str | Path,
    n_resamples: int = 1000,
    seed: int = 0,
    group_by: Sequence[str] = ("domain", "split"),
    wandb_run: Any = None,
    drawing: BackgroundFigures | None = None,
) -> dict[str, Any]:
    """Evaluate ``records`` and write metrics.json, metrics.csv, roc.png, histograms.png
    (and dose_response.png with exposures) into ``out_dir``: staged, then put in place
    together under a lock on the folder (``paramem.report.staging``); log to ``wandb_run``
    when given. Returns the metrics dict as written (groups plus "meta"). ``drawing``: the
    record figures already being drawn aside (``paramem report``); by default they are
    drawn in this process."""
    records = list(records)
    out_dir = Path(out_dir)
    methods = [m for m in discover_methods(records) if not m.startswith(CALIBRATED)]
    with folder_lock(out_dir), StagedFiles(out_dir) as staged, \
            drawing or BackgroundFigures(records, out_dir, fork=False) as drawing:
        remove_stale_temps(out_dir)  # a live child's staged figures are not stale: kept
        groups, calibration, dose = evaluate_report(records, methods, group_by, n_resamples, seed)
        metrics = assemble_metrics(groups, calibration, dose, methods, group_by, len(records), n_resamples, seed)
        text = json.dumps(to_json_safe(metrics), indent=2, allow_nan=False) + "\n"
        atomic_write_bytes(staged.path("metrics.json"), text.encode())
        atomic_write_bytes(staged.path("metrics.csv"), metrics_csv(metrics).encode())
        if dose:
            dose_response_figure(metrics, staged.path("dose_response.png"))
        drawing.join(staged)
        # Every file of this report at once; an earlier report's dose figure goes with
        # them when these records have no exposures.
        written = staged.commit(remove=() if dose else ("dose_response.png",))
    figures = {key: written[name] for key, name in FIGURE_FILES.items() if name in written}
    warning = (metrics["meta"]["warnings"] or [None])[0]
    if wandb_run is not None:
        from paramem.report.wandb_log import log_to_wandb  # W&B only where a run logs

        log_to_wandb(wandb_run, metrics, records, figures)
    if warning:
        log.warning(warning)
    return metrics


def publish_report(records: Sequence[Mapping], out_dir: str | Path, n_resamples: int, seed: int,
                   wandb_run: Any = None, drawing: BackgroundFigures | None = None) -> dict[str, Any]:
    """The report of score records, as the mia stage (after its join, paramem.score.join)
    and ``paramem report`` both make it: written into ``out_dir`` (:func:`write_report`),
    its tables printed."""
    metrics = write_report(records, out_dir, n_resamples=n_resamples, seed=seed, wandb_run=wandb_run,
                           drawing=drawing)
    print(format_report(metrics))
    return metrics


def metrics_csv(metrics: Mapping[str, Any]) -> str:
    """One row per (group, method, metric); an undefined method keeps its rows, with
    empty values and the reason, so the grid stays rectangular and nothing reads as 0."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for gname, per_method in metric_groups(metrics).items():
        for method, entry in per_method.items():
            for metric in METRICS:
                cell = entry.get(metric) or {}
                ci = cell.get("ci") or ["", ""]
                writer.writerow({
                    "group": gname, "method": method, "metric": metric,
                    "value": cell.get("value", ""), "ci_low": ci[0], "ci_high": ci[1],
                    "n_members": entry["n_members"], "n_nonmembers": entry["n_nonmembers"],
                    "defined": entry["defined"], "n_dropped": entry["n_dropped"],
                    "reason": entry.get("reason", ""),
                })  # fmt: skip
    for method, rho in (metrics.get("dose_response") or {}).get("spearman", {}).items():
        ci = rho.get("ci") or ["", ""]
        writer.writerow({
            "group": "dose_response", "method": method, "metric": "spearman", "value": rho.get("value", ""),
            "ci_low": ci[0], "ci_high": ci[1], "n_members": rho["n"], "n_nonmembers": "",
            "defined": rho["defined"], "n_dropped": rho["n_dropped"], "reason": rho.get("reason", ""),
        })  # fmt: skip
    return buf.getvalue()


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def format_report(metrics: Mapping[str, Any]) -> str:
    """What a finished report prints: the fixed-sign methods of group "all", the
    calibrated-direction view of one method per family, and the dose-response table
    when the records carry exposures."""
    plain = [m for m in metrics.get("all", {}) if not m.startswith(CALIBRATED)]
    calibrated = [CALIBRATED + m for m in representatives(plain) if CALIBRATED + m in metrics.get("all", {})]
    parts = [format_table(metrics, methods=plain)]
    if calibrated:
        parts.append(format_table(metrics, methods=calibrated, title="calibrated direction (chosen on the "
                                  "calibration half, scored on the evaluation half only; one method per family)"))
    dose = format_dose_table(metrics)
    return "\n\n".join(parts + ([dose] if dose else []))


def format_table(metrics: Mapping[str, Any], group: str = "all", methods: Sequence[str] | None = None,
                 title: str | None = None) -> str:
    """Plain-text table of one group: a row per method (``methods``: those, in that
    order; default all); undefined rows say why."""
    groups = metric_groups(metrics)
    if group not in groups:
        raise InputError(f"no group {group!r} in metrics (groups: {', '.join(groups) or 'none'})")
    header = ["method", *(title for _, title in _TABLE_METRICS), "members/non"]
    rows, notes = [], []
    chosen = groups[group] if methods is None else {m: groups[group][m] for m in methods if m in groups[group]}
    for method, entry in chosen.items():
        counts = f"{entry['n_members']}/{entry['n_nonmembers']}"
        if entry["n_dropped"]:
            counts += f" ({entry['n_dropped']} dropped)"
        if not entry["defined"]:
            notes.append((method, f"undefined: {entry['reason']}"))
            continue
        cells = [method]
        for metric, _ in _TABLE_METRICS:
            cell = entry[metric]
            text = _fmt(cell["value"])
            if metric == "auroc" and cell.get("ci"):
                text += f" [{_fmt(cell['ci'][0])}, {_fmt(cell['ci'][1])}]"
            cells.append(text)
        rows.append(cells + [counts])
    table, widths = text_table(header, rows)
    lines = [f"MIA metrics, group {group}{', ' + title if title else ''} (members = positives; "
             f"FPR/TPR as fractions)", *table]
    lines += [f"{m.ljust(widths[0])}  {why}" for m, why in notes]
    lines += [f"WARNING: {w}" for w in metrics.get("meta", {}).get("warnings", [])]
    return "\n".join(lines)


def report_main(
    scores: list[str], out_dir: str, n_resamples: int = 1000, seed: int = 0, wandb_project: str | None = None
) -> dict[str, Any]:
    """Rebuild the report from existing scores files (no model is loaded); prints the
    table of group "all" and returns the metrics dict."""
    from paramem.score.settings import ReportSettings
    from paramem.settings import check_number

    for name, value in (("n_resamples", n_resamples), ("seed", seed)):  # the mia stage's ranges
        check_number(f"--{name}", value, **ReportSettings.RANGES[name])
    if not str(out_dir).strip():
        raise InputError("--out_dir is empty: name the folder the report goes to")
    if 0 < n_resamples < 100:
        print(f"[paramem] --n_resamples {n_resamples}: percentile intervals from so few resamples are rough "
              f"(the default is 1000; 0 skips them)")
    records = load_score_files(scores)
    if not records:
        raise InputError(f"no score records in {', '.join(map(str, scores))}")
    # Fork the figure drawing first, while this process runs one thread; the W&B run (its
    # threads, its service start) comes after, and starts while the child draws.
    with BackgroundFigures(records, out_dir) as drawing:
        run = _start_wandb_run(wandb_project, scores, n_resamples, seed) if wandb_project else None
        try:
            metrics = publish_report(records, out_dir, n_resamples, seed, wandb_run=run, drawing=drawing)
        except BaseException:
            if run is not None:
                run.finish(exit_code=1)
            raise
        if run is not None:
            run.finish()
    figures = [name for key, name in FIGURE_FILES.items() if key != "dose_response" or metrics.get("dose_response")]
    print(f"\nreport written to {out_dir} (metrics.json, metrics.csv, {', '.join(figures)})")
    return metrics


def _start_wandb_run(project: str, scores: Sequence[str], n_resamples: int, seed: int) -> Any:
    from paramem.loggers import ensure_wandb_mode

    ensure_wandb_mode()  # offline without credentials: never a login prompt
    import wandb

    config = {"scores": [str(p) for p in scores], "n_resamples": n_resamples, "seed": seed}
    return wandb.init(project=project, job_type="report", config=config)
