"""Any domain value goes through the mia stage, its report and its W&B run (offline)."""

import json

from tests.helpers import CONFIGS, copy_run, read_jsonl, run_cli


def test_numeric_domains_through_mia_with_wandb(tiny_run, tmp_path):
    run_dir = copy_run(tiny_run, tmp_path / "run")
    domains = [5, "web", 0, 5, "web", 0, 5, "web"]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"uid": f"s{i}", "text": f"Record {i} of the harbour log, page {i * 7}.",
                                        "label": i % 2, "domain": d}) + "\n" for i, d in enumerate(domains)))
    wandb_dir = tmp_path / "logs"
    logger = json.dumps([{"class_path": "lightning.pytorch.loggers.WandbLogger",
                          "init_args": {"project": "paramem", "save_dir": str(wandb_dir), "offline": True}}])
    run_cli(["predict", "--config", str(CONFIGS / "mia/tiny.yaml"), "--run_dir", str(run_dir),
             "--trainer.enable_progress_bar", "false", "--trainer.logger", logger,
             "--model.init_args.report.n_resamples", "10", "--model.init_args.methods", "[loss]",
             "--data.init_args.source", "paramem.data.LocalFileSource",
             "--data.init_args.source.init_args.path", str(data)])
    assert [r["domain"] for r in read_jsonl(run_dir / "scores.jsonl")] == [str(d) for d in domains]
    groups = set(json.loads((run_dir / "metrics.json").read_text()))
    assert {"all", "domain=0", "domain=5", "domain=web"} <= groups
    tables = list(wandb_dir.rglob("*.table.json"))
    assert tables, "the per-sample score table reached the W&B run"
    table = json.loads(tables[0].read_text())
    assert sorted({row[2] for row in table["data"]}) == ["0", "5", "web"]


def test_wandb_table_and_report_files_take_any_domain_value(tmp_path):
    from paramem.report.scores_file import load_score_files
    from paramem.report.wandb_log import log_to_wandb

    class Run:
        summary: dict = {}
        logged: dict = {}

        def log(self, data):
            self.logged.update(data)

    records = [{"uid": "a", "label": 1, "domain": 5, "split": 0, "scores": {"loss": -1.0}},
               {"uid": "b", "label": 0, "domain": "web", "scores": {"loss": -2.0}}]
    run = Run()
    log_to_wandb(run, {"meta": {"methods": ["loss"]}}, records, {})
    assert [row[2:4] for row in run.logged["mia/scores"].data] == [["5", "0"], ["web", ""]]
    path = tmp_path / "scores.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert [(r["domain"], r.get("split")) for r in load_score_files(path)] == [("5", "0"), ("web", None)]
