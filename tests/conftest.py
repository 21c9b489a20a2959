"""Test-wide settings: no hub, W&B offline with every W&B folder inside tmp paths."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["WANDB_MODE"] = "offline"
os.environ["WANDB_SILENT"] = "true"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.pop("WANDB_API_KEY", None)
# `make test` runs two workers on CI's two cores, and some tests start further processes:
# one torch thread each, as paramem itself does for processes sharing a host.
os.environ.setdefault("PARAMEM_CPU_THREADS", "1")

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _wandb_dirs(tmp_path, monkeypatch):
    wandb_root = tmp_path / "wandb_home"
    for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR", "WANDB_ARTIFACT_DIR"):
        d = wandb_root / var.lower()
        d.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(var, str(d))
    yield


@pytest.fixture(scope="session", autouse=True)
def _lightning_logs_to_the_session_stderr():
    """Lightning gives its loggers a stream handler on whatever ``sys.stderr`` is when it
    is first imported. Imported inside a test that captures with ``capsys`` (``paramem
    predict --print_config``), that is the test's capture stream, closed at teardown: every
    later Lightning log line in that worker then prints a "--- Logging error ---"
    traceback into other tests' output. Importing it here, before any test's capture
    starts, binds the handler to the session's stream."""
    import lightning.pytorch  # noqa: F401


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A run dir with a tiny model trained by the real ``paramem fit`` on a small embedded corpus."""
    from tests.helpers import CONFIGS, QUIET, TINY_SOURCE, run_cli

    run_dir = tmp_path_factory.mktemp("tiny_run")
    run_cli(["fit", "--config", str(CONFIGS / "fit/tiny.yaml"), "--run_dir", str(run_dir), *TINY_SOURCE, *QUIET,
             "--trainer.max_epochs", "3", "--model.init_args.hidden_size", "32", "--model.init_args.num_layers", "2",
             "--model.init_args.vocab_size", "400", "--data.init_args.batch_size", "16",
             # Members for 3 epochs plus the prompt-teaching pairs, as the tests on this run expect
             # (the demo's config trains on an exposure stream without teaching).
             "--model.init_args.teach_paraphrase", "true"])
    return run_dir


@pytest.fixture(scope="session")
def reference_run(tiny_run, tmp_path_factory):
    """All three predict stages run once, in-process, single process: the reference that
    DDP, multi-node and kill-and-resume runs must reproduce."""
    from tests.helpers import STAGES, copy_run, run_cli, stage_args

    run_dir = copy_run(tiny_run, tmp_path_factory.mktemp("reference"))
    for config, _, extra in STAGES:
        run_cli(stage_args(config, run_dir, extra))
    return run_dir


def pytest_collection_modifyitems(config, items):
    """Slow tests first (stable otherwise): with two workers (`make test`, worksteal), the
    longest tests start at once and the many short ones fill the other worker around
    them, instead of one long test running alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
