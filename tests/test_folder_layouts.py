"""Folder layouts as users have them (issue 10, item 1): per-language split files in any format
and split naming, common column names without a mapping, a combined ``all/`` folder left out,
and ``xkd data check`` output without repeated row names."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from xkd.data import check_data, load_data

WORDS = {
    "en": ["good film", "bad film", "great song", "awful song", "nice day", "sad day"],
    "de": [
        "guter Film",
        "schlechter Film",
        "tolles Lied",
        "schlimmes Lied",
        "schöner Tag",
        "trauriger Tag",
    ],
    "fr": [
        "bon film",
        "mauvais film",
        "belle chanson",
        "affreuse chanson",
        "beau jour",
        "triste jour",
    ],
}
LABELS = ["pos", "neg"] * 3
SPLITS = {"train": [0, 1, 2, 3], "valid": [4], "test": [5]}


def _write(path, rows: list[dict], fmt: str) -> None:
    frame = pd.DataFrame(rows)
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    else:
        frame.to_parquet(path, index=False)


def sentiment_folder(root, *, fmt: str = "csv", combined: bool = False, columns=None):
    """``<lang>/{train,valid,test}.<fmt>`` with ``id,text,label`` (ids link translations)."""
    names = columns or {"id": "id", "text": "text", "label": "label"}
    langs = dict(WORDS)
    if combined:
        langs["all"] = [w for words in WORDS.values() for w in words]
    for lang, words in langs.items():
        (root / lang).mkdir(parents=True)
        for split, idx in SPLITS.items():
            rows = []
            for i in idx:
                for k in range(len(words) // 6):  # "all": every language's row i
                    rows.append(
                        {names["id"]: i, names["text"]: words[k * 6 + i], names["label"]: LABELS[i]}
                    )
            _write(root / lang / f"{split}.{fmt}", rows, fmt)
    return root


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl", "parquet"])
def test_split_files_with_id_text_label_load_without_options(tmp_path, fmt):
    root = sentiment_folder(tmp_path / "sentiment", fmt=fmt)
    report = check_data(root)
    assert report.errors == [], report.format()
    assert report.languages == ["de", "en", "fr"] and report.labels == ["neg", "pos"]
    assert report.n_parallel_groups == 6  # the ids link the three languages
    ds = load_data(root)
    assert set(ds.frame["split"]) == {"train", "dev", "test"}  # valid -> dev
    row = ds.frame[(ds.frame["language"] == "de") & (ds.frame["text"] == "tolles Lied")].iloc[0]
    assert row["label"] == "pos" and str(row["pair_id"]) == "2"


def test_split_names_in_any_case_and_aliases(tmp_path):
    root = sentiment_folder(tmp_path / "s")
    for lang in WORDS:
        (root / lang / "train.csv").rename(root / lang / "Train.CSV")
        (root / lang / "valid.csv").rename(root / lang / "validation.csv")
    ds = load_data(root)
    assert (ds.frame["split"] == "dev").sum() == 3 and (ds.frame["split"] == "train").sum() == 12


def test_common_column_names_and_the_columns_option(tmp_path):
    root = sentiment_folder(
        tmp_path / "a", columns={"id": "index_id", "text": "sentence", "label": "category"}
    )
    assert check_data(root).n_parallel_groups == 6
    other = sentiment_folder(tmp_path / "b", columns={"id": "uid", "text": "review", "label": "y"})
    mapped = check_data(other, columns={"text": "review", "label": "y", "pair_id": "uid"})
    assert mapped.errors == [] and mapped.n_parallel_groups == 6
    unmapped = check_data(other)
    assert unmapped.errors and "review" in unmapped.format()


def test_combined_all_folder_is_reported_and_left_out(tmp_path):
    root = sentiment_folder(tmp_path / "s", combined=True)
    report = check_data(root)
    assert report.languages == ["de", "en", "fr"]
    text = report.format()
    assert "language folder 'all' holds the union" in text and "warning" in text
    assert report.errors == []
    assert "all" not in set(load_data(root).frame["language"])
    # asked for by name, it is read as a language, and its repeated ids are then refused
    from xkd.errors import DataError

    with pytest.raises(DataError, match="duplicate pair_ids in language 'all'"):
        load_data(root, languages=["en", "all"])


def test_data_check_prints_each_row_name_once(tmp_path):
    root = sentiment_folder(tmp_path / "s", combined=True)
    text = check_data(root, languages=["en", "all"]).format()
    table = [
        line.split()[0] for line in text.splitlines() if line.startswith("  ") and line.split()
    ]
    names = [n for n in table if n in {"en", "all", "(all"}]
    assert names.count("all") == 1 and names.count("(all") == 1, text


def test_cli_data_check_on_the_folder(tmp_path, capsys):
    from xkd.cli import main

    root = sentiment_folder(tmp_path / "sentiment")
    assert main(["data", "check", str(root)]) == 0
    out = capsys.readouterr().out
    assert "3 languages, 2 labels" in out and "6 translation groups" in out
