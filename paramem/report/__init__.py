"""Membership-inference report: metrics with bootstrap CIs, figures, files, W&B."""

from paramem.report.bootstrap import bootstrap_ci, evaluate
from paramem.report.build import format_table, report_main, write_report
from paramem.report.figures import histogram_figure, roc_figure
from paramem.report.metrics import METRICS, roc_curve, roc_metrics
from paramem.report.scores_file import load_score_files

__all__ = [
    "METRICS",
    "bootstrap_ci",
    "evaluate",
    "format_table",
    "histogram_figure",
    "load_score_files",
    "report_main",
    "roc_curve",
    "roc_figure",
    "roc_metrics",
    "write_report",
]
