"""Loggers built from a config's `logging:` section: the W&B identity (project, group,
job_type, name, tags) and the CSV folder of every shipped stage, and the stage names."""

import pytest
import yaml

from paramem.io import InputError
from paramem.loggers import STAGE_OF_CLASS, LoggingSettings, build_loggers, logger_kwargs, stage_name
from tests.helpers import CONFIGS, EXPERIMENTS, run_cli

# (configs composed in order, subcommand) -> (CSV folder, W&B init arguments): the values
# the shipped configs' logger lists spelled out before paramem built the loggers.
IDENTITIES = [
    (["align/tiny.yaml"], "predict", "align",
     {"name": "align-tiny", "group": "embedded", "job_type": "align",
      "tags": ["embedded", "tiny-gpt-neox", "align", "scope-head"]}),
    (["fit/smollm2.yaml"], "fit", "fit",
     {"name": "fit-smollm2", "group": "demo_real", "job_type": "fit", "tags": ["pydocs", "smollm2-135m", "fit"]}),
    (["experiments/base/mia.yaml"], "predict", "mia",
     {"job_type": "mia", "tags": ["paraphrase:beam_single_prompt"]}),
    (["experiments/base/align.yaml", "experiments/mimir/align.yaml"], "predict", "mimir-align",
     {"group": "mimir", "job_type": "align", "tags": ["mimir", "scope-head"]}),
    (["experiments/base/mia.yaml", "experiments/wikimia/mia_paraphrased.yaml"], "predict",
     "wikimia-paraphrased-mia",
     {"group": "wikimia-paraphrased", "job_type": "mia", "tags": ["wikimia", "paraphrased-variant", "baselines"]}),
    (["paraphrase/real.yaml", "experiments/demo_real/paraphrase.yaml"], "predict", "paraphrase",
     {"group": "demo_real", "job_type": "paraphrase",
      "tags": ["pydocs", "smollm2-135m-instruct", "paraphrase:synonym_edit"]}),
]


def printed_config(files: list[str], subcommand: str, capsys) -> dict:
    args = [a for f in files for a in ("--config", str(CONFIGS / f))]
    with pytest.raises(SystemExit):
        run_cli([subcommand, *args, "--print_config"])
    return yaml.safe_load(capsys.readouterr().out)


@pytest.mark.parametrize("files, subcommand, csv, wandb", IDENTITIES, ids=[" + ".join(i[0]) for i in IDENTITIES])
def test_shipped_configs_keep_their_run_identity(files, subcommand, csv, wandb, capsys):
    config = printed_config(files, subcommand, capsys)
    assert config["trainer"]["logger"] is None  # nothing restated: paramem builds them
    stage = STAGE_OF_CLASS[config["model"]["class_path"].rsplit(".", 1)[1]]
    kwargs = logger_kwargs(LoggingSettings(**config["logging"]), stage)
    assert kwargs["csv"] == {"save_dir": "lightning_logs", "name": csv}
    assert kwargs["wandb"] == {"project": "paramem", "save_dir": "lightning_logs", **wandb}


def test_benchmark_overrides_set_a_group():
    for path in EXPERIMENTS.glob("*/*.yaml"):
        if path.parent.name != "base":
            assert yaml.safe_load(path.read_text())["logging"]["group"].startswith(path.parent.name)


def test_built_loggers_carry_the_identity(tmp_path):
    from lightning.pytorch.loggers import CSVLogger, WandbLogger

    settings = LoggingSettings(group="g", name="n", tags=["a"], csv_name="{group}-{stage}", save_dir=str(tmp_path))
    csv, wandb = build_loggers(settings, "align")
    assert isinstance(csv, CSVLogger) and csv.name == "g-align" and csv.save_dir == str(tmp_path)
    assert isinstance(wandb, WandbLogger) and wandb._experiment is None  # not started
    assert {k: wandb._wandb_init[k] for k in ("project", "group", "job_type", "name", "tags")} == \
        {"project": "paramem", "group": "g", "job_type": "align", "name": "n", "tags": ["a"]}


def test_stage_name_follows_the_class_hierarchy():
    from paramem.align.module import GradientAligner

    class MyAligner(GradientAligner):
        pass

    assert stage_name(MyAligner.__new__(MyAligner), "predict") == "align"
    assert stage_name(object(), "validate") == "validate"
    assert LoggingSettings(csv_name="{group}-{stage}").folder_name("mia") == "mia"  # no group: no dangling "-"


@pytest.mark.parametrize("csv_name, says", [("{bench}-{stage}", "{bench} is not a placeholder"),
                                            ("{stage", "expected '}'")])
def test_bad_csv_name_is_one_line(csv_name, says, tmp_path, capsys):
    with pytest.raises(InputError):
        run_cli(["predict", "--config", str(CONFIGS / "align/tiny.yaml"), "--run_dir", str(tmp_path),
                 "--logging.csv_name", csv_name])
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("paramem: error: logging.csv_name") and says in err[-1]
