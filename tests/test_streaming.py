"""Task data larger than memory: files streamed in batches, bounded by
``data.max_train_per_language`` while they are read (xkd.data.stream, xkd.data.sampling)."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest

from xkd.data import load_data, stream
from xkd.data.sampling import TrainCap, lowest_rows

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
    """What a streamed file keeps: per language the train rows of its ``cap`` lowest-hash
    groups, every other row."""
    parts = [frame[frame["split"] != "train"]]
    for _, rows in frame[frame["split"] == "train"].groupby("language"):
        parts.append(lowest_rows(rows, cap))
    return pd.concat(parts).sort_index()


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_every_format_streams_to_the_rows_read_whole(tmp_path, monkeypatch, suffix):
    path = _write(tmp_path / f"task{suffix}", _rows(40))
    whole = load_data(path).frame
    assert len(load_data(path, max_train_per_language=5).frame) == len(whole)  # read whole
    _streaming(monkeypatch)
    assert stream.streamed(path)
    pd.testing.assert_frame_equal(load_data(path).frame, whole)
    streamed = load_data(path, max_train_per_language=5).frame
    pd.testing.assert_frame_equal(streamed, _capped(whole, 5).reset_index(drop=True))


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


def test_capping_at_load_and_at_examples_keep_the_same_training_examples(tmp_path, monkeypatch):
    """A streamed file capped while it is read trains on the examples of the same file read
    whole and capped when the examples are built."""
    from xkd.config import DataConfig
    from xkd.train.examples import kd_examples

    path = _write(tmp_path / "task.csv", _rows(120))
    cfg = DataConfig(path=str(path), source_language="en", max_train_per_language=7)
    whole = load_data(path, max_train_per_language=7)
    _streaming(monkeypatch, batch_rows=13)
    streamed = load_data(path, max_train_per_language=7)
    a = kd_examples(whole.frame, cfg, whole.labels, ["de", "fr"])
    b = kd_examples(streamed.frame, cfg, streamed.labels, ["de", "fr"])
    assert len(a) == len(b) > 7
    assert sorted(zip(a.student_texts, a.teacher_texts)) == sorted(
        zip(b.student_texts, b.teacher_texts)
    )


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
    raw = pd.DataFrame(
        {
            "text": ["a", "b", "c", ""],
            "language": ["en", "en", None, "en"],
            "split": ["train", "train", "train", "bogus"],
        }
    )
    kept = TrainCap(1)
    kept.add(raw)
    frame = kept.frame()
    assert len(frame) == 3  # one of the two good train rows, the row without a language, "bogus"
    assert frame["language"].isna().sum() == 1 and (frame["split"] == "bogus").sum() == 1
