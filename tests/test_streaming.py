"""Task data larger than memory: files streamed in batches, bounded by
``data.max_train_per_language`` while they are read (xkd.data.stream, xkd.data.sampling)."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest

from xkd.data import load_data, stream
from xkd.data.sampling import lowest_rows

LANGS = ("en", "de", "fr")


def _rows(n: int) -> list[dict]:
    """``n`` translation groups in three languages; splits given for half of the file."""
    out = []
    for i in range(n):
        for lang in LANGS:
            row = {"text": f"{lang} sentence {i}", "label": "ab"[i % 2], "language": lang}
            row["pair_id"] = str(i)
            out.append(row)
    return out


def _write(path: Path, rows: list[dict]) -> Path:
    frame = pd.DataFrame(rows)
    kind = path.suffix
    if kind == ".csv":
        frame.to_csv(path, index=False)
    elif kind == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif kind == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        frame.to_parquet(path, index=False)
    return path


def _streaming(monkeypatch, batch_rows: int = 7) -> None:
    monkeypatch.setattr(stream, "WHOLE_FILE_BYTES", 0)
    monkeypatch.setattr(stream, "BATCH_ROWS", batch_rows)


def _capped(frame: pd.DataFrame, cap: int) -> pd.DataFrame:
    """What the cap keeps: every row outside train, and the train rows of every group that is
    among some language's ``cap`` lowest-hash groups."""
    train = frame["split"] == "train"
    kept: set = set()
    for _, rows in frame[train].groupby("language"):
        kept |= set(lowest_rows(rows, cap)["pair_id"])
    return frame[~train | frame["pair_id"].isin(kept)]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_every_format_streams_to_the_rows_read_whole(tmp_path, monkeypatch, suffix):
    path = _write(tmp_path / f"task{suffix}", _rows(40))
    whole = load_data(path).frame
    capped_whole = load_data(path, max_train_per_language=5).frame
    pd.testing.assert_frame_equal(capped_whole, _capped(whole, 5).reset_index(drop=True))
    assert len(capped_whole) < len(whole)
    _streaming(monkeypatch)
    assert stream.streamed(path)
    pd.testing.assert_frame_equal(load_data(path).frame, whole)
    pd.testing.assert_frame_equal(load_data(path, max_train_per_language=5).frame, capped_whole)


def test_the_cap_keeps_whole_translation_groups_and_every_dev_test_row(tmp_path, monkeypatch):
    path = _write(tmp_path / "task.csv", _rows(200))
    full = load_data(path).frame
    _streaming(monkeypatch, batch_rows=11)
    frame = load_data(path, max_train_per_language=10).frame
    train = frame[frame["split"] == "train"]
    assert train.groupby("language").size().to_dict() == dict.fromkeys(LANGS, 10)
    # the same groups in every language (they share their pair ids): the pairs survive the cap
    groups = {lang: set(rows["pair_id"]) for lang, rows in train.groupby("language")}
    assert groups["en"] == groups["de"] == groups["fr"]
    held = full[full["split"] != "train"]
    assert len(frame[frame["split"] != "train"]) == len(held) > 0
    # the kept groups are the lowest hashes of the whole file, whatever the batch size
    expect = lowest_rows(full[(full["split"] == "train") & (full["language"] == "en")], 10)
    assert set(expect["pair_id"]) == groups["en"]


def test_a_folder_of_large_language_files_is_capped_as_it_streams(tmp_path, monkeypatch):
    root = tmp_path / "task"
    for lang in LANGS:
        (root / lang).mkdir(parents=True)
        rows = [r for r in _rows(60) if r["language"] == lang]
        for split, part in (("train", rows[:50]), ("test", rows[50:])):
            frame = pd.DataFrame(part)[["pair_id", "text", "label"]].rename(
                columns={"pair_id": "id"}
            )
            frame.to_csv(root / lang / f"{split}.csv", index=False)
    whole = load_data(root).frame
    _streaming(monkeypatch, batch_rows=9)
    frame = load_data(root, max_train_per_language=8).frame
    pd.testing.assert_frame_equal(frame, _capped(whole, 8).reset_index(drop=True))
    assert frame[frame["split"] == "train"].groupby("language").size().max() == 8
    assert (frame["split"] == "test").sum() == 30


def _sparse_rows(n: int) -> list[dict]:
    """``n`` English sentences; German translates every fifth, French every seventh."""
    out = []
    for i in range(n):
        for lang, step in (("en", 1), ("de", 5), ("fr", 7)):
            if i % step == 0:
                out.append({"text": f"{lang} {i}", "label": "ab"[i % 2], "language": lang})
                out[-1].update(pair_id=str(i), split="train")
    return out


def test_a_sparse_target_keeps_its_pairs_in_a_file_read_whole_or_streamed(tmp_path, monkeypatch):
    """The source language's own lowest groups are not the sparse targets' lowest: the second
    pass keeps the source sentences of every kept target group, so each target keeps its cap
    of pairs whether the file is read whole or streamed."""
    from xkd.config import DataConfig
    from xkd.train.examples import kd_examples, source_examples

    path = _write(tmp_path / "task.csv", _sparse_rows(700))
    cfg = DataConfig(path=str(path), source_language="en", max_train_per_language=9)
    whole = load_data(path, max_train_per_language=9)
    _streaming(monkeypatch, batch_rows=13)
    streamed = load_data(path, max_train_per_language=9)
    pd.testing.assert_frame_equal(whole.frame, streamed.frame)
    examples = kd_examples(streamed.frame, cfg, streamed.labels, ["de", "fr"])
    per_language = pd.Series(examples.languages).value_counts().to_dict()
    assert per_language["de"] == per_language["fr"] == 9
    for student, teacher in zip(examples.student_texts, examples.teacher_texts, strict=True):
        if not student.startswith("en"):  # a pair: the translation of the same sentence
            assert student.split()[1] == teacher.split()[1]
    # the baseline trains on the source language's own 9 lowest groups
    assert len(source_examples(streamed.frame, cfg, streamed.labels)) == 9
    full = load_data(path).frame
    expect = lowest_rows(full[full["language"] == "de"], 9)["text"].tolist()
    assert sorted(
        t for t, lang in zip(examples.student_texts, examples.languages) if lang == "de"
    ) == sorted(expect)


def test_train_cap_memory_is_bounded_by_the_cap_not_the_file(tmp_path, monkeypatch):
    """A 40 MB file streamed with a cap of 50 groups: Python allocations stay far below the
    file's size (a whole read would hold its bytes, then its text)."""
    path = tmp_path / "big.tsv"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("text\tlabel\tlanguage\tsplit\tpair_id\n")
        filler = " ".join(["word"] * 40)
        for i in range(200_000):
            fh.write(f"{filler} {i}\t{'ab'[i % 2]}\t{LANGS[i % 3]}\ttrain\t{i // 3}\n")
    size = path.stat().st_size
    assert size > 40e6
    _streaming(monkeypatch, batch_rows=5000)
    tracemalloc.start()
    try:
        frame = load_data(path, max_train_per_language=50).frame
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(frame) == 150
    assert peak < size / 4, f"peak {peak / 2**20:.0f} MB for a {size / 2**20:.0f} MB file"


def test_train_cap_keeps_bad_rows_so_that_loading_reports_them():
    from xkd.data.sampling import capped

    raw = pd.DataFrame(
        {
            "text": ["a", "b", "c", ""],
            "language": ["en", "en", None, "en"],
            "split": ["train", "train", "train", "bogus"],
        }
    )
    frame = capped(lambda: iter([raw]), 1)
    assert len(frame) == 3  # one of the two good train rows, the row without a language, "bogus"
    assert frame["language"].isna().sum() == 1 and (frame["split"] == "bogus").sum() == 1


def _xnli(language: str, split: str, n: int):
    from datasets import ClassLabel, Dataset, Features, Value

    names = ["entailment", "neutral", "contradiction"]
    return Dataset.from_dict(
        {
            "premise": [f"{language} {split} premise {i}" for i in range(n)],
            "hypothesis": [f"hypothesis {i}" for i in range(n)],
            "label": [i % 3 for i in range(n)],
        },
        features=Features(
            {
                "premise": Value("string"),
                "hypothesis": Value("string"),
                "label": ClassLabel(names=names),
            }
        ),
    )


def test_hub_task_data_is_mapped_a_batch_at_a_time(monkeypatch):
    """``hf:`` task data goes through the same cap a batch at a time: the frame equals the one
    mapped in a single batch; XNLI's parallel dev/test ids count rows across batches and
    ClassLabel names survive the slices."""
    import datasets
    from datasets import DatasetDict

    from xkd.data import hub_load

    def fake(path, config=None, **kwargs):
        sizes = {"train": 40, "validation": 23, "test": 31}
        return DatasetDict({s: _xnli(config, s, n) for s, n in sizes.items()})

    monkeypatch.setattr(datasets, "load_dataset", fake)
    one = load_data("hf:xnli", languages=["en", "de"], max_train_per_language=6).frame
    sliced: list[int] = []
    real = hub_load._batches

    def counting(ds):
        for start, rows in real(ds):
            sliced.append(len(rows))
            yield start, rows

    monkeypatch.setattr(hub_load, "BATCH_ROWS", 5)
    monkeypatch.setattr(hub_load, "_batches", counting)
    many = load_data("hf:xnli", languages=["en", "de"], max_train_per_language=6).frame
    assert max(sliced) == 5  # really sliced
    pd.testing.assert_frame_equal(one, many)
    test = many[many["split"] == "test"]
    assert sorted(test["pair_id"].unique(), key=lambda p: int(p.split(":")[1]))[-1] == "test:30"
    assert test.groupby("pair_id")["language"].nunique().eq(2).all()
    assert set(many["label"]) == {"entailment", "neutral", "contradiction"}
    train = many[many["split"] == "train"]
    assert train.groupby("language").size().to_dict() == {"de": 6, "en": 6}
    assert (many["split"] != "train").sum() == 2 * (23 + 31)  # dev and test rows all kept
