"""Tests for xkd.data: every source format, its failure modes, the demo and check_data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from xkd.data import check_data, load_data, validate_frame
from xkd.data.dataset import TextDataset
from xkd.data.demo import (
    LANGUAGE_CODES,
    TRANSLATIONS,
    alignment_problem,
    demo_files,
    demo_summary,
    load_demo,
)
from xkd.data.schema import COLUMNS, SPLITS, assign_split
from xkd.errors import DataError

SIB200 = Path("/work/shared/data/sib200")


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


CSV_TEXT = (
    "text,label,language,split,pair_id\n"
    "Hello world,1,en,train,p1\n"
    "Hallo Welt,1,de,train,p1\n"
    '"Commas, and ""quotes""",2,en,dev,p2\n'
    "Kommas,2,de,dev,p2\n"
    "Unlabelled row,,en,test,\n"
)


def _csv(tmp: Path) -> Path:
    return write(tmp / "data.csv", CSV_TEXT)


# -- schema ---------------------------------------------------------------------------------
def test_validate_frame_normalises_labels_and_types():
    frame = pd.DataFrame(
        {
            "text": [" a ", "b", "c", "d"],
            "label": [1, "1", 2.0, None],
            "language": ["en", "en", "de", "de"],
            "split": ["train", "Validation", "TEST", "train"],
            "pair_id": [10, 11.0, "10", None],
        }
    )
    clean = validate_frame(frame)
    assert list(clean.columns) == list(COLUMNS)
    assert list(clean["label"]) == ["1", "1", "2", None]
    assert list(clean["split"]) == ["train", "dev", "test", "train"]
    assert list(clean["pair_id"]) == ["10", "11", "10", None]
    assert clean["text"][0] == "a"
    assert all(clean[c].dtype == object for c in COLUMNS)


def test_validate_frame_errors_name_row_and_field():
    frame = pd.DataFrame({"text": ["ok", "  "], "language": ["en", "en"]})
    with pytest.raises(DataError) as e:
        validate_frame(frame, file="x.csv", first_row=2)
    assert (e.value.file, e.value.row, e.value.field) == ("x.csv", 3, "text")
    frame = pd.DataFrame({"text": ["ok"], "language": ["en"], "split": ["holdout"]})
    with pytest.raises(DataError, match="holdout") as e:
        validate_frame(frame)
    assert e.value.field == "split"
    with pytest.raises(DataError, match="columns") as e:
        validate_frame(pd.DataFrame({"sentence": ["x"], "language": ["en"]}))
    assert e.value.field == "text" and "'sentence'" in str(e.value)


def test_text_dataset_api(tmp_path):
    ds = load_data(_csv(tmp_path))
    assert ds.languages() == ["de", "en"]
    assert ds.labels == ["1", "2"]
    counts = ds.counts()
    assert list(counts.columns) == list(SPLITS)
    assert counts.loc["en"].tolist() == [1, 1, 1]
    assert ds.n_parallel_groups() == 2
    pairs = ds.parallel_pairs("en", "de")
    assert list(pairs.columns) == ["pair_id", "source_text", "target_text", "label", "split"]
    assert pairs["pair_id"].tolist() == ["p1", "p2"]
    assert pairs.loc[1, "source_text"] == 'Commas, and "quotes"'
    assert ds.parallel_pairs("en", "de", split="dev")["pair_id"].tolist() == ["p2"]
    sub = ds.subset(split="train", languages=["de"])
    assert len(sub) == 1 and sub.labels == ds.labels
    assert ds.frame.loc[4, "label"] is None and ds.frame.loc[4, "pair_id"] is None
    with pytest.raises(DataError, match="fr"):
        ds.parallel_pairs("en", "fr")
    with pytest.raises(DataError, match="columns"):
        TextDataset(pd.DataFrame({"text": ["x"]}), [], "bad")


def test_assign_split_is_deterministic_and_balanced():
    keys = [f"k{i}" for i in range(3000)]
    splits = [assign_split(k) for k in keys]
    assert splits == [assign_split(k) for k in keys]
    share = pd.Series(splits).value_counts(normalize=True)
    assert 0.65 < share["train"] < 0.75 and 0.07 < share["dev"] < 0.13


# -- files ----------------------------------------------------------------------------------
def test_csv(tmp_path):
    ds = load_data(str(_csv(tmp_path)))
    assert len(ds) == 5 and ds.name == "data.csv"
    assert ds.frame["label"].tolist() == ["1", "1", "2", "2", None]


def test_tsv_quotes_parse_right(tmp_path):
    lines = [
        "text\tlabel\tlanguage\tsplit\tpair_id",
        'He said "hi" to me\ta\ten\ttrain\t1',
        '"Hello" he said\ta\ten\ttrain\t2',
        '"Quoted ""inner"" text"\tb\ten\ttrain\t3',
        '"""Starts with a quote"\tb\ten\ttrain\t4',
        '"tab\tinside"\tb\ten\ttrain\t5',
        '"unclosed quote\tb\ten\ttrain\t6',
        "plain\tb\ten\ttrain\t7",
        '"multi\nline"\tb\ten\ttrain\t8',
        "last\tb\ten\ttrain\t9",
    ]
    ds = load_data(write(tmp_path / "q.tsv", "\n".join(lines) + "\n"))
    texts = dict(zip(ds.frame["pair_id"], ds.frame["text"]))
    assert texts == {
        "1": 'He said "hi" to me',
        "2": '"Hello" he said',
        "3": 'Quoted "inner" text',
        "4": '"Starts with a quote',
        "5": "tab\tinside",
        "6": '"unclosed quote',
        "7": "plain",
        "8": "multi\nline",
        "9": "last",
    }


def test_jsonl_labels_and_hashed_splits(tmp_path):
    rows = [
        {"text": "one", "label": 1, "language": "en", "pair_id": "a"},
        {"text": "uno", "label": "1", "language": "it", "pair_id": "a"},
        {"text": "two", "label": 2, "language": "en", "pair_id": "b"},
    ]
    body = json.dumps(rows[0]) + "\n\n" + "\n".join(json.dumps(r) for r in rows[1:]) + "\n"
    ds = load_data(write(tmp_path / "d.jsonl", body))
    assert ds.labels == ["1", "2"]
    assert ds.frame["split"].tolist() == [assign_split("a"), assign_split("a"), assign_split("b")]


def test_parquet(tmp_path):
    frame = pd.DataFrame(
        {"text": ["x", "y"], "label": [0, 1], "language": ["en", "en"], "split": ["train"] * 2}
    )
    frame.to_parquet(tmp_path / "d.parquet")
    ds = load_data(tmp_path / "d.parquet")
    assert ds.labels == ["0", "1"] and ds.frame["pair_id"].tolist() == [None, None]


def test_column_mapping(tmp_path):
    path = write(tmp_path / "m.csv", "sentence,lang,topic\nhi,en,greet\nhallo,de,greet\n")
    ds = load_data(path, columns={"text": "sentence", "language": "lang", "label": "topic"})
    assert ds.frame["text"].tolist() == ["hi", "hallo"] and ds.labels == ["greet"]
    with pytest.raises(DataError, match=r"did you mean \{'text': 'sentence'\}"):
        load_data(path, columns={"sentence": "text"})
    with pytest.raises(DataError, match="'words'.*not there"):
        load_data(path, columns={"text": "words"})
    ds = load_data(path, columns={"text": "sentence", "language": "lang"}, languages=["de"])
    assert ds.languages() == ["de"]


def test_missing_language_column(tmp_path):
    path = write(tmp_path / "nolang.csv", "text,label\nhi,a\n")
    with pytest.raises(DataError) as e:
        load_data(path)
    msg = str(e.value)
    assert e.value.field == "language" and "nolang.csv" in msg
    assert "'text', 'label'" in msg and "`columns`" in msg


def test_empty_text_row_number(tmp_path):
    path = write(tmp_path / "e.csv", "text,language\nfine,en\nalso fine,en\n   ,en\n")
    with pytest.raises(DataError) as e:
        load_data(path)
    assert (e.value.row, e.value.field) == (4, "text") and "e.csv" in str(e.value)


def test_latin1_file(tmp_path):
    path = write(tmp_path / "l.csv", "text,language\nok,fr\ncafé,fr\n", encoding="latin-1")
    with pytest.raises(DataError, match="UTF-8") as e:
        load_data(path)
    assert e.value.row == 3 and e.value.file == str(path)


def test_broken_jsonl_line(tmp_path):
    body = '{"text": "a", "language": "en"}\n{"text": "b", "language": \n'
    with pytest.raises(DataError, match="line 2 is not valid JSON") as e:
        load_data(write(tmp_path / "b.jsonl", body))
    assert e.value.row == 2


def test_binary_and_empty_files(tmp_path):
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"PAR1\x00\x01\x02\x00garbage")
    with pytest.raises(DataError, match="binary.*Parquet"):
        load_data(binary)
    empty = tmp_path / "empty.tsv"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        load_data(empty)
    with pytest.raises(DataError, match="empty"):
        load_data(write(tmp_path / "blank.jsonl", "\n  \n"))
    with pytest.raises(DataError, match="not a Parquet"):
        load_data(write(tmp_path / "fake.parquet", "text,language\n"))


def test_a_file_over_the_whole_read_limit_is_streamed_to_the_same_dataset(tmp_path, monkeypatch):
    """Decision: large files are streamed, not refused; the rows and values are the same."""
    from xkd.data import stream

    path = _csv(tmp_path)
    whole = load_data(path).frame
    monkeypatch.setattr(stream, "WHOLE_FILE_BYTES", 10)
    monkeypatch.setattr(stream, "BATCH_ROWS", 2)
    assert stream.streamed(path)
    streamed = load_data(path).frame
    pd.testing.assert_frame_equal(streamed, whole)
    assert "streamed" in check_data(path).kind


def test_bad_split_and_duplicate_pair_ids(tmp_path):
    path = write(tmp_path / "s.csv", "text,language,split\na,en,train\nb,en,holdout\n")
    with pytest.raises(DataError, match="holdout") as e:
        load_data(path)
    assert e.value.row == 3
    path = write(tmp_path / "dup.csv", "text,language,pair_id\na,en,1\nb,de,1\nc,en,1\n")
    with pytest.raises(DataError, match="duplicate pair_id") as e:
        load_data(path)
    assert "dup.csv row 2" in str(e.value) and "dup.csv row 4" in str(e.value)


def test_csv_structure_errors(tmp_path):
    with pytest.raises(DataError, match="header has 2") as e:
        load_data(write(tmp_path / "f.csv", "text,language\na,en,extra\n"))
    assert e.value.row == 2
    with pytest.raises(DataError, match="quote"):
        load_data(write(tmp_path / "q.csv", 'text,language\n"a" b,en\n'))
    with pytest.raises(DataError, match="unsupported suffix"):
        load_data(write(tmp_path / "x.xlsx", "text"))


def test_nonexistent_path_names_it_and_the_accepted_forms():
    with pytest.raises(DataError) as e:
        load_data("no/such/file.csv")
    msg = str(e.value)
    assert "no/such/file.csv" in msg and "demo" in msg and "hf:" in msg and ".jsonl" in msg
    with pytest.raises(DataError, match="hf:Davlan/sib200"):
        load_data("Davlan/sib200")


# -- folders -----------------------------------------------------------------------------------
def _sib_folder(root: Path) -> Path:
    head = "index_id\tcategory\ttext\n"
    write(root / "eng" / "train.tsv", head + '1\tsports\tA "goal".\n2\tpolitics\tVote.\n')
    write(root / "eng" / "dev.tsv", head + '3\tsports\t"He said ""run"" now."\n')
    write(root / "eng" / "labels.txt", "sports\npolitics\ntravel\n")
    write(root / "deu" / "train.tsv", head + "1\tsports\tEin Tor.\n2\tpolitics\tWahl.\n")
    write(root / "deu" / "dev.tsv", head + "3\tsports\tEr sagte lauf.\n")
    write(root / ".hidden" / "junk.txt", "ignored")
    return root


def test_sib200_folder(tmp_path):
    ds = load_data(_sib_folder(tmp_path / "sib"))
    assert ds.languages() == ["deu", "eng"]
    assert ds.labels == ["politics", "sports", "travel"]  # travel comes from labels.txt
    assert ds.counts().loc["eng"].tolist() == [2, 1, 0]
    pairs = ds.parallel_pairs("eng", "deu")
    assert pairs.set_index("pair_id").loc["3", "source_text"] == 'He said "run" now.'
    assert pairs.set_index("pair_id").loc["1", "source_text"] == 'A "goal".'
    assert load_data(tmp_path / "sib", languages=["deu"]).languages() == ["deu"]
    with pytest.raises(DataError, match="fra"):
        load_data(tmp_path / "sib", languages=["fra"])


def test_text_labels_folder(tmp_path):
    write(tmp_path / "tl" / "en" / "train_text.txt", "good movie\nbad film\n")
    write(tmp_path / "tl" / "en" / "train_labels.txt", "pos\nneg\n")
    write(tmp_path / "tl" / "en" / "test_text.txt", "fine\n")
    write(tmp_path / "tl" / "fr" / "validation_text.txt", "bon film\n")
    write(tmp_path / "tl" / "fr" / "validation_labels.txt", "pos\n")
    ds = load_data(tmp_path / "tl")
    assert ds.counts().loc["en"].tolist() == [2, 0, 1]
    assert ds.counts().loc["fr"].tolist() == [0, 1, 0]
    test_rows = ds.subset(split="test").frame
    assert test_rows["label"].tolist() == [None]
    assert ds.labels == ["neg", "pos"]


def test_text_labels_mismatch(tmp_path):
    text = write(tmp_path / "tl" / "en" / "train_text.txt", "a\nb\nc\n")
    labels = write(tmp_path / "tl" / "en" / "train_labels.txt", "x\ny\n")
    with pytest.raises(DataError) as e:
        load_data(tmp_path / "tl")
    msg = str(e.value)
    assert str(text) in msg and str(labels) in msg and "2 lines" in msg and "has 3" in msg


def test_folder_without_layout(tmp_path):
    write(tmp_path / "flat" / "train.tsv", "text\tlanguage\nx\ten\n")
    with pytest.raises(DataError, match="language"):
        load_data(tmp_path / "flat")


@pytest.mark.skipif(not SIB200.is_dir(), reason=f"{SIB200} (shared SIB-200 copy) is not here")
def test_real_sib200_folder():
    ds = load_data(SIB200)
    assert len(ds.languages()) == 12
    counts = ds.counts()
    assert (counts["train"] == 701).all() and (counts["dev"] == 99).all()
    assert (counts["test"] == 204).all()
    assert len(ds.labels) == 7 and ds.n_parallel_groups() == 1004
    eng = ds.frame[(ds.frame["language"] == "eng_Latn") & (ds.frame["pair_id"] == "1095")]
    assert eng["text"].iloc[0].startswith('In an interview, he said the new variant was "very')
    report = check_data(SIB200)
    assert report.problems == [] and report.n_parallel_groups == 1004


# -- demo --------------------------------------------------------------------------------------
def test_demo_pairs_and_splits():
    ds = load_data("demo")
    assert set(ds.languages()) == set(LANGUAGE_CODES.values())
    frame = ds.frame
    english = set(frame.loc[frame["language"] == "en", "pair_id"])
    for lang in ds.languages():
        ids = frame.loc[frame["language"] == lang, "pair_id"]
        assert ids.notna().all() and set(ids) <= english, lang
    assert (frame.groupby("pair_id")["split"].nunique() == 1).all()
    assert (frame["split"] == frame["pair_id"].map(assign_split)).all()
    assert (frame["label"] == frame["pair_id"].str.split(":").str[0]).all()
    again = load_demo()
    pd.testing.assert_frame_equal(ds.frame, again.frame)
    en = frame[frame["language"] == "en"]
    assert not en.groupby("label")["text"].apply(lambda t: t.str.lower().duplicated().any()).any()


def test_demo_uses_only_allow_listed_aligned_files():
    status = demo_files()
    used = status[status["status"] == "used"]
    allowed = {(LANGUAGE_CODES[lang], c) for lang, cats in TRANSLATIONS.items() for c in cats}
    assert {(r.language, r.category) for r in used.itertuples() if r.language != "en"} <= allowed
    assert "pt" not in set(load_demo().languages())
    assert load_demo(["italian", "en"]).languages() == ["en", "it"]
    summary = demo_summary()
    assert summary["language"].tolist()[0] == "en"
    assert (summary[list(SPLITS)].sum(axis=1) == summary["total"]).all()


def test_demo_drops_misaligned_files(tmp_path):
    def yml(lang: str, cat: str, convs: list[list[str]]) -> None:
        body = f"categories:\n- {cat}\nconversations:\n"
        for conv in convs:
            body += "".join(
                f"{'- - ' if i == 0 else '  - '}{json.dumps(t)}\n" for i, t in enumerate(conv)
            )
        write(tmp_path / lang / f"{cat}.yml", body)

    yml("english", "food", [["Do you eat?", "No."], ["Do you eat?", "Only power."], ["Yum", "ok"]])
    yml("english", "money", [["Cash?", "Yes."]])
    yml("italian", "food", [["Mangi?", "No."], ["Mangi?", "Solo energia."], ["Gnam", "ok"]])
    yml("japanese", "food", [["食べる?", "いいえ"], ["食べる?"], ["うまい", "ok"]])  # 1 turn short
    yml("german", "food", [["Isst du?", ""], ["Isst du?", "Strom."], ["Lecker", "ok"]])  # empty
    yml("ukrainian", "money", [["Гроші?", "Так."]])
    yml("korean", "food", [["먹어?", "아니"], ["먹어?", "전기"], ["냠", "ok"]])  # not allow-listed
    ds = load_demo(root=tmp_path)
    assert set(ds.languages()) == {"en", "it", "uk"}
    status = demo_files(root=tmp_path).set_index(["language", "category"])["status"]
    assert status[("ja", "food")].startswith("dropped: conversation 1 has 1 turns")
    assert status[("de", "food")].startswith("dropped") and "empty" in status[("de", "food")]
    assert ("ko", "food") not in status.index
    # the repeated English question keeps its first occurrence only; "No." is kept once
    en = ds.frame[ds.frame["language"] == "en"].set_index("pair_id")["text"]
    assert "food:1:0" not in en.index and en["food:0:0"] == "Do you eat?"
    it = ds.frame[ds.frame["language"] == "it"].set_index("pair_id")["text"]
    assert it["food:1:1"] == "Solo energia." and set(it.index) <= set(en.index)


def test_alignment_problem():
    assert alignment_problem([["a", "b"]], [["x", "y"]]) is None
    assert "conversations" in alignment_problem([["a"]], [["x"], ["y"]])
    assert "empty" in alignment_problem([["a"]], [[" "]])


# -- hub ---------------------------------------------------------------------------------------
def test_hub_mapping_functions():
    from datasets import ClassLabel, Dataset, Features, Value

    from xkd.data.hub import map_generic, map_massive, map_sib200, map_tatoeba, map_xnli

    sib = Dataset.from_dict(
        {"index_id": [5, 6], "category": ["sports", "travel"], "text": ["a", "b"]}
    )
    frame = validate_frame(map_sib200(sib, "eng_Latn", "validation"))
    assert frame["pair_id"].tolist() == ["5", "6"] and set(frame["split"]) == {"dev"}

    massive = Dataset.from_dict(
        {
            "id": ["1", "2"],
            "locale": ["de-DE", "de-DE"],
            "partition": ["train", "test"],
            "utt": ["weck mich", "licht an"],
            "intent": [1, 0],
        },
        features=Features(
            {
                "id": Value("string"),
                "locale": Value("string"),
                "partition": Value("string"),
                "utt": Value("string"),
                "intent": ClassLabel(names=["iot_hue_lighton", "alarm_set"]),
            }
        ),
    )
    frame = validate_frame(map_massive(massive))
    assert frame["label"].tolist() == ["alarm_set", "iot_hue_lighton"]
    assert frame["split"].tolist() == ["train", "test"] and frame["language"][0] == "de-DE"
    assert validate_frame(map_massive(massive, "validation"))["split"].tolist() == ["dev"] * 2

    xnli = Dataset.from_dict(
        {"premise": ["P1", "P2"], "hypothesis": ["H1", "H2"], "label": [0, 2]},
        features=Features(
            {
                "premise": Value("string"),
                "hypothesis": Value("string"),
                "label": ClassLabel(names=["entailment", "neutral", "contradiction"]),
            }
        ),
    )
    frame = validate_frame(map_xnli(xnli, "de", "test"))
    assert frame["text"][0] == "P1 [SEP] H1"
    assert frame["label"].tolist() == ["entailment", "contradiction"]
    assert frame["pair_id"].tolist() == ["test:0", "test:1"]
    assert validate_frame(map_xnli(xnli, "de", "train"))["pair_id"].tolist() == [None, None]

    tatoeba = [{"id": "7", "translation": {"en": "Hi.", "de": "Hallo."}}]
    frame = validate_frame(map_tatoeba(tatoeba, "en", "de"))
    assert frame["pair_id"].tolist() == ["7", "7"] and frame["label"].tolist() == [None, None]
    assert frame["language"].tolist() == ["en", "de"]

    generic = Dataset.from_dict({"sentence": ["x"], "topic": ["t"]})
    frame = validate_frame(
        map_generic(generic, "train", language="fr", columns={"text": "sentence", "label": "topic"})
    )
    assert frame[["text", "label", "language"]].iloc[0].tolist() == ["x", "t", "fr"]
    with pytest.raises(DataError, match="Davlan/sib200"):
        map_generic(generic, "train", dataset="someone/thing")


def test_hub_offline_message(monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'Davlan/sib200' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(DataError) as e:
        load_data("hf:Davlan/sib200", languages=["eng_Latn"])
    msg = str(e.value)
    assert msg.startswith("hf:Davlan/sib200 needs the Hugging Face Hub, which cannot be reached: ")
    assert "OfflineModeIsEnabled" in msg and "docs/data.md" in msg and "`demo`" in msg
    report = check_data("hf:xnli")
    assert not report.readable and "hf:facebook/xnli needs the Hugging Face Hub" in report.format()


def test_hub_loading_with_patched_load_dataset(monkeypatch):
    import datasets
    from datasets import Dataset, DatasetDict

    calls = []

    def fake(path, config=None, **kwargs):
        calls.append((path, config, kwargs))
        if "revision" not in kwargs:
            raise RuntimeError("Dataset scripts are no longer supported, but found sib200.py")
        lang = kwargs["data_dir"]
        return DatasetDict(
            {
                split: Dataset.from_dict(
                    {"index_id": [10 * k, 10 * k + 1], "category": ["a", "b"], "text": [lang] * 2}
                )
                for k, split in enumerate(("train", "validation", "test"))
            }
        )

    monkeypatch.setattr(datasets, "load_dataset", fake)
    ds = load_data("hf:sib200", languages=["eng_Latn", "deu_Latn"])
    assert ds.languages() == ["deu_Latn", "eng_Latn"] and len(ds) == 12
    assert calls[1][2] == {"revision": "refs/convert/parquet", "data_dir": "eng_Latn"}
    assert ds.n_parallel_groups() == 6
    assert ds.counts().loc["eng_Latn"].tolist() == [2, 2, 2]

    def generic(path, config=None, **kwargs):
        return DatasetDict({"train": Dataset.from_dict({"text": ["x"], "language": ["en"]})})

    monkeypatch.setattr(datasets, "load_dataset", generic)
    assert load_data("hf:someone/thing").frame["text"].tolist() == ["x"]


# -- check_data --------------------------------------------------------------------------------
def test_check_data_reports_every_problem(tmp_path):
    root = tmp_path / "messy"
    head = "index_id\tcategory\ttext\n"
    write(root / "en" / "train.tsv", head + "1\ta\tone\n2\tb\ttwo\n3\tb\t \n4\ta\t\n")
    write(root / "en" / "test.tsv", head + "5\ta\tfive\n5\tb\tfive again\n")
    write(root / "de" / "train.tsv", head + "1\ta\teins\n")
    write(root / "fr" / "test.tsv", head + "f1\ta\tun\n")  # no train rows, ids match nothing
    write(root / "it" / "train.tsv", head + "1\ta\tuno caffè\n", encoding="latin-1")
    report = check_data(root)
    text = "\n".join(report.problems)
    assert "not valid UTF-8" in text and "train.tsv" in text
    assert "empty text in 2 rows (rows 4, 5)" in text
    assert "duplicate pair_id" in text and "'5'" in text
    assert "language 'de' has no rows for 1 of 2 labels: b" in text
    assert "language 'fr' has no train rows" in text
    assert "pair ids of language 'fr' match" in text
    assert report.languages == ["de", "en", "fr"] and report.labels == ["a", "b"]
    assert report.n_parallel_groups == 1
    out = report.format()
    assert "Problems (" in out and "language" in out and "train" in out
    with pytest.raises(DataError):
        load_data(root)


def test_check_data_unreadable_file(tmp_path):
    path = write(tmp_path / "nolang.csv", "text\nhi\n")
    report = check_data(path)
    assert not report.readable and "language" in report.problems[0]
    assert "Could not read" in report.format()
    unpaired = write(tmp_path / "u.csv", "text,language,pair_id\na,en,1\nb,de,2\n")
    assert "no pair_id occurs in more than one language" in "\n".join(check_data(unpaired).problems)
    clean = check_data(_csv(tmp_path))
    assert clean.ok and "No problems found." in clean.format()


# -- header-only files: an error, for check_data, `xkd data check` and load_data ---------------
HEADER_ONLY = {
    "csv": "text,label,language\n",
    "tsv": "text\tlabel\tlanguage\r\n\r\n",  # blank lines after the header are not rows
}


@pytest.mark.parametrize("kind", sorted(HEADER_ONLY))
def test_header_only_file_is_an_error(tmp_path, capsys, kind):
    from xkd.cli import main

    path = write(tmp_path / f"head.{kind}", HEADER_ONLY[kind])
    with pytest.raises(DataError, match="has a header but no data rows") as e:
        load_data(path)
    assert e.value.file == str(path) and str(e.value).startswith(f"{path}: ")
    assert "text, label, language" in str(e.value)
    report = check_data(path)
    assert not report.readable and report.errors == report.problems
    assert len(report.errors) == 1 and "no data rows" in report.errors[0]
    capsys.readouterr()
    assert main(["data", "check", str(path)]) == 2
    out = capsys.readouterr().out
    assert "has a header but no data rows" in out and "xkd train refuses" in out


def test_header_only_parquet_is_an_error(tmp_path):
    path = tmp_path / "head.parquet"
    pd.DataFrame(
        {"text": pd.Series([], dtype=str), "language": pd.Series([], dtype=str)}
    ).to_parquet(path)
    with pytest.raises(DataError, match="has a schema but no data rows") as e:
        load_data(path)
    assert e.value.file == str(path)
    assert check_data(path).errors


def test_jsonl_without_records_is_an_error(tmp_path, capsys):
    from xkd.cli import main

    # JSONL has no header: a file without records is empty, which was already an error
    path = write(tmp_path / "none.jsonl", "\n\n")
    with pytest.raises(DataError, match="is empty") as e:
        load_data(path)
    assert e.value.file == str(path)
    assert check_data(path).errors
    capsys.readouterr()
    assert main(["data", "check", str(path)]) == 2


def test_header_only_file_in_a_folder_is_an_error(tmp_path, capsys):
    from xkd.cli import main

    root = _sib_folder(tmp_path / "sib")
    empty = write(root / "deu" / "test.tsv", "index_id\tcategory\ttext\n")
    with pytest.raises(DataError, match="has a header but no data rows") as e:
        load_data(root)
    assert e.value.file == str(empty)
    report = check_data(root)  # the other files are still read and counted
    assert report.languages == ["deu", "eng"] and report.n_rows == 6
    assert [p for p in report.errors if str(empty) in p and "no data rows" in p]
    capsys.readouterr()
    assert main(["data", "check", str(root)]) == 2
    assert f"error: {empty}: has a header but no data rows" in capsys.readouterr().out
    # a text-labels layout file without lines is empty, an error as before
    write(tmp_path / "tl" / "en" / "train_text.txt", "\n")
    with pytest.raises(DataError, match="empty"):
        load_data(tmp_path / "tl")


def test_import_is_light():
    code = (
        "import sys, xkd.data; assert 'pandas' not in sys.modules; "
        "from xkd.data import load_data; assert 'datasets' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])
