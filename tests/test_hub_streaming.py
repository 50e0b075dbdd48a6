"""Hub parallel corpora are streamed (issue 10, corpora larger than memory).

``data.parallel_corpus: hf:<id>`` goes through ``datasets.load_dataset(..., streaming=True)`` and
reaches the selector ``BATCH_ROWS`` rows at a time, so ``max_pairs_per_language`` bounds memory
as it does for local files. ``load_dataset`` also reads local dataset folders, so the tests build
tiny ones (a ``translation`` column in JSON Lines, one column per language in Parquet, several
splits) and pass their paths as the dataset id: no Hub needed.
"""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from xkd.data import parallel
from xkd.data.parallel import load_parallel
from xkd.data.sampling import Selector, bucket
from xkd.errors import DataError

SPLITS = {"train": 240, "validation": 70}


def _texts(split: str, i: int) -> dict[str, str]:
    """Row ``i`` of ``split``: always English, Italian and/or German (some of them empty)."""
    row = {"en": f"{split} sentence {i} in english"}
    if i % 3:
        row["it"] = f"{split} frase {i}" if i % 17 else "  "  # blank: left out
    if i % 4:
        row["de"] = f"{split} Satz {i}"
    return row


@pytest.fixture
def translation_folder(tmp_path):
    """A dataset folder of JSON Lines files with a ``translation`` column (OPUS style)."""
    folder = tmp_path / "opus"
    folder.mkdir()
    for split, n in SPLITS.items():
        lines = [json.dumps({"translation": _texts(split, i)}) for i in range(n)]
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


@pytest.fixture
def columns_folder(tmp_path):
    """A dataset folder of Parquet files with an ``id`` column and one column per language."""
    folder = tmp_path / "cols"
    folder.mkdir()
    for split, n in SPLITS.items():
        rows = [{"id": f"s{1000 + i}", **_texts(split, i)} for i in range(n)]
        frame = pd.DataFrame(rows, columns=["id", "en", "it", "de"])
        frame.to_parquet(folder / f"{split}.parquet", index=False)
    return folder


def _expected(with_ids: bool, cap: int | None, test_pairs: int) -> pd.DataFrame:
    """What the whole corpus, held in memory and given to the selector at once, keeps."""
    rows = []
    for split, n in SPLITS.items():
        for i in range(n):
            group = f"s{1000 + i}" if with_ids else str(i + 1)
            for lang, text in _texts(split, i).items():
                if text.strip():
                    rows.append({"pair_id": f"pc:{split}:{group}", "language": lang, "text": text})
    selector = Selector("en", cap, test_pairs)
    selector.add(pd.DataFrame(rows))
    return selector.frame()


def _rows(frame: pd.DataFrame) -> set[tuple]:
    return set(frame[["pair_id", "language", "split", "text"]].itertuples(index=False))


@pytest.mark.parametrize("form", ["translation", "columns"])
@pytest.mark.parametrize("cap", [None, 25])
def test_streamed_rows_match_the_whole_corpus(form, cap, request, monkeypatch):
    folder = request.getfixturevalue(f"{form}_folder")
    monkeypatch.setattr(parallel, "BATCH_ROWS", 37)  # many batches, splits not a multiple
    corpus = load_parallel(
        f"hf:{folder}", source_language="en", max_pairs_per_language=cap, test_pairs=12
    )
    expected = _expected(form == "columns", cap, 12)
    assert corpus.kind == "Hugging Face dataset" and corpus.languages() == ["de", "en", "it"]
    assert _rows(corpus.frame) == _rows(expected)
    for lang in ("it", "de"):  # the same pair ids per language, train and test
        for split in ("train", "test"):
            got = corpus.frame[
                (corpus.frame["language"] == lang) & (corpus.frame["split"] == split)
            ]
            want = expected[(expected["language"] == lang) & (expected["split"] == split)]
            assert set(got["pair_id"]) == set(want["pair_id"])
    assert corpus.pairs("it", "test") + corpus.pairs("de", "test") > 0
    if form == "translation":  # the blank Italian texts are reported, located by split
        blanks = {(f"hf:{folder}/{s}", i + 2) for s, n in SPLITS.items() for i in range(n)}
        blanks = {b for b in blanks if (b[1] - 2) % 3 and (b[1] - 2) % 17 == 0}
        assert set(corpus.empty) == blanks
    else:  # an empty cell: the group has no text in that language
        assert corpus.empty == []
    if cap is not None:  # per language the cap lowest-hash groups (a kept group keeps all)
        full = load_parallel(f"hf:{folder}", source_language="en", test_pairs=12)
        train = corpus.frame[corpus.frame["split"] == "train"]
        assert train["pair_id"].nunique() <= 2 * cap
        for lang in ("it", "de"):
            assert full.pairs(lang) > 3 * cap and cap <= corpus.pairs(lang) <= 2 * cap
            groups = full.frame[(full.frame["language"] == lang) & (full.frame["split"] == "train")]
            lowest = sorted(groups["pair_id"], key=bucket)[:cap]
            assert set(lowest) <= set(train[train["language"] == lang]["pair_id"])
            assert full.pairs(lang, "test") == corpus.pairs(lang, "test")


def test_rows_reach_the_selector_batch_by_batch(translation_folder, monkeypatch):
    import datasets

    opened, read, added = [], [], []
    real_load, real_iter, real_add = (
        datasets.load_dataset,
        datasets.IterableDataset.iter,
        Selector.add,
    )

    def load(*args, **kwargs):
        opened.append(kwargs)
        dsd = real_load(*args, **kwargs)
        opened.append(type(dsd).__name__)
        return dsd

    def counting_iter(self, batch_size, drop_last_batch=False):
        for batch in real_iter(self, batch_size, drop_last_batch):
            read.append(len(batch))
            yield batch

    def add(self, batch):
        added.append((sum(read), batch["pair_id"].nunique()))
        real_add(self, batch)

    monkeypatch.setattr(datasets, "load_dataset", load)
    monkeypatch.setattr(datasets.IterableDataset, "iter", counting_iter)
    monkeypatch.setattr(Selector, "add", add)
    monkeypatch.setattr(parallel, "BATCH_ROWS", 50)
    corpus = load_parallel(f"hf:{translation_folder}", source_language="en", test_pairs=10)
    assert opened == [{"streaming": True}, "IterableDatasetDict"]
    assert read == [50] * 4 + [40] + [50, 20]  # train: 240 rows, validation: 70
    assert len(added) == sum(math.ceil(n / 50) for n in SPLITS.values())
    assert added[0] == (50, 50)  # the first batch is selected before the rest is read
    assert [n for _, n in added] == read
    assert corpus.pairs("it") + corpus.pairs("it", "test") > 0


def test_offline_hub_message_when_opening_and_while_streaming(monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'someone/opus' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError) as e:
        load_parallel("hf:someone/opus:en-it", source_language="en")
    assert str(e.value).startswith(
        "hf:someone/opus needs the Hugging Face Hub, which cannot be reached: ConnectionError"
    )
    assert "OfflineModeIsEnabled" in str(e.value) and "`demo`" in str(e.value)

    def rows(fail):
        for i in range(30):
            yield {"translation": {"en": f"e{i}", "it": f"i{i}"}}
        raise fail

    for fail, message in [
        (TimeoutError("read timed out"), "hf:someone/opus needs the Hugging Face Hub"),
        (ValueError("bad row"), "hf:someone/opus/train: could not be read while streaming it"),
    ]:
        stream = datasets.IterableDatasetDict(
            {"train": datasets.IterableDataset.from_generator(rows, gen_kwargs={"fail": fail})}
        )
        monkeypatch.setattr(datasets, "load_dataset", lambda *a, s=stream, **k: s)
        with pytest.raises(DataError, match=message):
            load_parallel("hf:someone/opus", source_language="en")


def test_script_fallback_and_non_parallel_datasets_stream_too(monkeypatch):
    import datasets

    calls = []

    def fake(path, config=None, **kwargs):
        calls.append(kwargs)
        if "revision" not in kwargs:
            raise RuntimeError("Dataset scripts are no longer supported, but found opus.py")
        rows = [{"text": "x", "label": 1}] * 3
        return datasets.IterableDatasetDict(
            {"train": datasets.IterableDataset.from_generator(lambda: iter(rows))}
        )

    monkeypatch.setattr(datasets, "load_dataset", fake)
    with pytest.raises(DataError, match="no translation column and no language columns"):
        load_parallel("hf:someone/old:en-it", source_language="en")
    assert calls == [
        {"streaming": True},
        {"revision": "refs/convert/parquet", "data_dir": "en-it", "streaming": True},
    ]
