"""paramem fit: embedded tiny model, loggers, re-runs, fine-tuning an existing HF directory."""

from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.helpers import CONFIGS, TINY_SOURCE, run_cli, run_subprocess, wandb_records

TINY = ["--trainer.max_epochs", "1", "--model.init_args.hidden_size", "32", "--model.init_args.num_layers", "1",
        "--model.init_args.vocab_size", "300", "--trainer.enable_progress_bar", "false"]


def test_saved_model_loads_with_auto_classes(tiny_run):
    model = AutoModelForCausalLM.from_pretrained(tiny_run / "model")
    tok = AutoTokenizer.from_pretrained(tiny_run / "model")
    assert tok.pad_token is not None and tok.eos_token is not None
    ids = tok("Joval Brennow wrote a book.", return_tensors="pt")
    assert model(**ids).logits.shape[-1] == model.config.vocab_size


def test_fit_logs_csv_and_offline_wandb_and_reruns(tmp_path):
    # A child process in tmp_path: W&B keeps process-wide state (relative save dirs, its
    # service), which must not leak into the other tests of this process.
    args = ["fit", "--config", str(CONFIGS / "fit/tiny.yaml"), "--run_dir", str(tmp_path / "run"), *TINY_SOURCE,
            *TINY, "--trainer.check_val_every_n_epoch", "1", "--trainer.log_every_n_steps", "1"]
    first = run_subprocess(args, cwd=tmp_path)
    second = run_subprocess(args, cwd=tmp_path)  # same command twice: the saved config is overwritten
    for proc in (first, second):
        assert "mean loss: members" in proc.stdout and "W&B offline run" in proc.stdout
    metrics = sorted((tmp_path / "lightning_logs" / "fit").rglob("metrics.csv"))
    assert len(metrics) == 2
    header = metrics[0].read_text().splitlines()[0]
    for key in ("val/member_loss", "val/nonmember_loss", "final/member_loss", "final/nonmember_loss", "train/loss"):
        assert key in header
    runs = sorted((tmp_path / "lightning_logs" / "wandb").glob("offline-run-*"))
    assert len(runs) == 2
    # the loggers paramem built from the config's logging: section carry the run's identity
    run = next(r.run for r in wandb_records(runs[0]) if r.WhichOneof("record_type") == "run")
    assert (run.project, run.run_group, run.job_type, run.display_name, list(run.tags)) == \
        ("paramem", "embedded", "fit", "fit-tiny", ["embedded", "tiny-gpt-neox", "fit"])


def test_fine_tune_from_local_directory(tiny_run, tmp_path):
    cli = run_cli(["fit", "--config", str(CONFIGS / "fit/tiny.yaml"), "--run_dir", str(tmp_path / "ft"), *TINY_SOURCE,
                   *TINY, "--trainer.logger", "false", "--model.init_args.model", str(tiny_run / "model"),
                   "--model.init_args.teach_paraphrase", "false"])
    assert (tmp_path / "ft" / "model" / "model.safetensors").exists()
    assert cli.trainer.loggers == []  # an explicit trainer.logger wins over the logging: section


def test_answer_only_targets():
    from paramem.models.tiny import train_bpe_tokenizer
    from paramem.textbatch import encode

    import tempfile

    tok = train_bpe_tokenizer(["Question: who wrote it?\nAnswer: Joval did."] * 50, tempfile.mkdtemp(), 300)
    text = "Question: who wrote it?\nAnswer: Joval did."
    start = text.index("Joval") - 1
    enc = encode(tok, [text], 64, loss_start_chars=[start])
    ids = enc.input_ids[0].tolist()
    targets = [tok.decode([i]) for i, m in zip(ids, enc.target_mask[0].tolist()) if m]
    assert "".join(targets).strip() == "Joval did."


def test_lora_fine_tune_trains_only_the_adapted_blocks_and_saves_a_full_model(tiny_run, tmp_path):
    import torch
    from safetensors.torch import load_file

    run_cli(["fit", "--config", str(CONFIGS / "fit/tiny.yaml"), "--run_dir", str(tmp_path / "lora"), *TINY_SOURCE,
             *TINY, "--trainer.logger", "false", "--model.init_args.model", str(tiny_run / "model"),
             "--model.init_args.teach_paraphrase", "false", "--model.init_args.lr", "0.01",
             "--model.init_args.lora.rank", "4", "--model.init_args.lora.n_layers", "1"])
    before = load_file(tiny_run / "model" / "model.safetensors")
    after = load_file(tmp_path / "lora" / "model" / "model.safetensors")
    assert after.keys() == before.keys()  # merged: no adapter tensors, the same full model
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("gpt_neox.layers.1.") for k in changed)  # only the last block's linears
    assert any("attention" in k for k in changed) and any("mlp" in k for k in changed)
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "lora" / "model") is not None


def test_lora_settings_are_range_checked(tmp_path):
    import pytest

    from paramem.fit.lora import LoRASettings
    from paramem.io import InputError

    with pytest.raises(InputError, match=r"model.init_args.lora.rank is 0: it must be an integer >= 1"):
        LoRASettings(rank=0)
