"""Hugging Face hub data sets: MIMIR, WikiMIA (+ paraphrased), TOFU.

Each source loads rows with ``datasets.load_dataset`` from the hub, or from
``local_files`` shaped like the hub rows (JSONL/JSON/CSV/Parquet) when the hub is out of
reach; both go through the same row -> sample conversion.
"""

from __future__ import annotations

from pathlib import Path

from paramem.data.sample import Source, make_sample
from paramem.io import InputError

MIMIR_DOMAINS = ("arxiv", "dm_mathematics", "github", "hackernews", "pile_cc", "pubmed_central", "wikipedia_(en)")
MIMIR_SPLITS = ("ngram_7_0.2", "ngram_13_0.2", "ngram_13_0.8")


def load_rows(hub_id: str, config: str | None, split: str, local_files: str | list[str] | None,
              revision: str | None = None):
    """A ``datasets.Dataset`` from the hub or from local files; one clear error otherwise."""
    import datasets

    if local_files:
        files = [local_files] if isinstance(local_files, str) else list(local_files)
        missing = [f for f in files if not Path(f).exists()]
        if missing:
            raise InputError(f"{hub_id}: local file(s) not found: {', '.join(missing)}")
        suffix = Path(files[0]).suffix.lstrip(".").lower()
        builder = {"jsonl": "json", "json": "json", "csv": "csv", "parquet": "parquet"}.get(suffix)
        if builder is None:
            raise InputError(f"{files[0]}: unsupported local file type {suffix!r} (jsonl, json, csv, parquet)")
        try:
            return datasets.load_dataset(builder, data_files=files, split="train")
        except Exception as e:  # datasets wraps parse errors in several exception types
            raise InputError(f"{hub_id}: could not read local copy {files}: {e}") from None
    try:
        return datasets.load_dataset(hub_id, config, split=split, revision=revision)
    except Exception as e:
        raise InputError(
            f"could not load data set '{hub_id}' (config {config!r}, split {split!r}) from the Hugging Face hub: "
            f"{type(e).__name__}: {str(e)[:300]}\n"
            f"With no hub access, save the rows elsewhere (e.g. `datasets.load_dataset(...).to_json('x.jsonl')`) "
            f"and give them with `local_files: x.jsonl`."
        ) from None


def _field(row: dict, name: str, where: str):
    if name not in row:
        raise InputError(f"{where}: missing field '{name}' (has: {', '.join(sorted(row))})")
    return row[name]


class MimirSource(Source):
    """MIMIR (``iamgroot42/mimir``): each row's ``member`` and ``nonmember`` texts become two
    labelled samples of the given domain and n-gram split."""

    def __init__(self, domain: str = "arxiv", split: str = "ngram_13_0.8", hub_id: str = "iamgroot42/mimir",
                 local_files: str | list[str] | None = None, revision: str | None = None) -> None:
        if domain not in MIMIR_DOMAINS:
            raise InputError(f"MIMIR domain {domain!r} unknown; one of {', '.join(MIMIR_DOMAINS)}")
        if split not in MIMIR_SPLITS:
            raise InputError(f"MIMIR split {split!r} unknown; one of {', '.join(MIMIR_SPLITS)}")
        self.domain, self.split, self.hub_id = domain, split, hub_id
        self.local_files, self.revision = local_files, revision

    def name(self) -> str:
        return f"{self.hub_id}/{self.domain}/{self.split}"

    def load(self, run_dir: Path | None = None) -> list[dict]:
        rows = load_rows(self.hub_id, self.domain, self.split, self.local_files, self.revision)
        samples = []
        for i, row in enumerate(rows):
            where = f"{self.name()}:row {i}"
            for column, label in (("member", 1), ("nonmember", 0)):
                samples.append(make_sample(
                    uid=f"mimir/{self.domain}/{self.split}/{i:06d}/{column}", text=_field(row, column, where),
                    label=label, where=where, text_field=column, domain=self.domain, split=self.split))
        return samples


class WikiMIASource(Source):
    """WikiMIA (``swj0419/WikiMIA``, split ``WikiMIA_length<L>``, rows ``{input, label}``).

    With ``paraphrased: true`` the rows of the paraphrased variant (same order, same
    labels) become each sample's ``paraphrases``.
    """

    LENGTHS = (32, 64, 128, 256)

    def __init__(self, length: int = 32, hub_id: str = "swj0419/WikiMIA", paraphrased: bool = False,
                 paraphrased_hub_id: str = "zjysteven/WikiMIA_paraphrased_perturbed",
                 local_files: str | list[str] | None = None,
                 paraphrased_local_files: str | list[str] | None = None) -> None:
        if length not in self.LENGTHS:
            raise InputError(f"WikiMIA length {length} unknown; one of {self.LENGTHS}")
        self.length, self.hub_id, self.paraphrased = length, hub_id, paraphrased
        self.paraphrased_hub_id = paraphrased_hub_id
        self.local_files, self.paraphrased_local_files = local_files, paraphrased_local_files

    def name(self) -> str:
        return f"{self.hub_id}/WikiMIA_length{self.length}" + ("+paraphrased" if self.paraphrased else "")

    def load(self, run_dir: Path | None = None) -> list[dict]:
        split = f"WikiMIA_length{self.length}"
        rows = load_rows(self.hub_id, None, split, self.local_files)
        paras = None
        if self.paraphrased:
            paras = load_rows(self.paraphrased_hub_id, None, f"{split}_paraphrased", self.paraphrased_local_files)
            if len(paras) != len(rows):
                raise InputError(f"{self.name()}: paraphrased variant has {len(paras)} rows, original {len(rows)}")
        samples = []
        for i, row in enumerate(rows):
            where = f"{self.name()}:row {i}"
            sample = make_sample(uid=f"wikimia/{self.length}/{i:05d}", text=_field(row, "input", where),
                                 label=_field(row, "label", where), where=where, text_field="input",
                                 domain=f"wikimia_{self.length}", split=split)
            if paras is not None:
                para_row = paras[i]
                if "label" in para_row and int(para_row["label"]) != sample["label"]:
                    raise InputError(f"{where}: paraphrased row has label {para_row['label']}, original {sample['label']}")
                sample["paraphrases"] = [_field(para_row, "input", f"{self.paraphrased_hub_id}:row {i}")]
            samples.append(sample)
        return samples


class TOFUSource(Source):
    """TOFU (``locuslab/TOFU``): members = a forget split the model was fine-tuned on,
    non-members = the matching holdout split. Text is ``Question: q\\nAnswer: a``; the loss
    is taken on the answer (``loss_start_char``)."""

    def __init__(self, member_config: str = "forget10", nonmember_config: str = "holdout10",
                 hub_id: str = "locuslab/TOFU", split: str = "train",
                 member_local_files: str | list[str] | None = None,
                 nonmember_local_files: str | list[str] | None = None,
                 template: str = "Question: {question}\nAnswer: ") -> None:
        self.member_config, self.nonmember_config = member_config, nonmember_config
        self.hub_id, self.split, self.template = hub_id, split, template
        self.member_local_files, self.nonmember_local_files = member_local_files, nonmember_local_files

    def name(self) -> str:
        return f"{self.hub_id}/{self.member_config}+{self.nonmember_config}"

    def load(self, run_dir: Path | None = None) -> list[dict]:
        samples = []
        for config, files, label in ((self.member_config, self.member_local_files, 1),
                                     (self.nonmember_config, self.nonmember_local_files, 0)):
            for i, row in enumerate(load_rows(self.hub_id, config, self.split, files)):
                where = f"{self.hub_id}/{config}:row {i}"
                question, answer = _field(row, "question", where), _field(row, "answer", where)
                prompt = self.template.format(question=question)
                samples.append(make_sample(
                    uid=f"tofu/{config}/{i:05d}", text=prompt + str(answer), label=label, where=where,
                    text_field="answer", domain="tofu", split=config,
                    extra={"loss_start_char": len(prompt), "question": question, "answer": answer}))
        return samples
