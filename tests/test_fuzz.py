"""Fuzzing the data loaders: random bytes and random rows in every supported format.

Whatever comes in, ``load_data`` returns a valid, non-empty ``TextDataset`` or raises an
``XKDError`` (a ``DataError`` naming the file), and ``check_data`` returns a report or raises an
``XKDError``; never any other exception. Bounded so the whole module runs in seconds.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from xkd.data import SPLITS, TextDataset, check_data, load_data, validate_frame
from xkd.data.files import parse_csv, parse_tsv
from xkd.errors import XKDError

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    derandomize=True,  # the same examples every run: a failure here is reproducible
)
SUFFIXES = (".csv", ".tsv", ".jsonl", ".parquet")
SCHEMA = ("text", "label", "language", "split", "pair_id")
KEYS = st.sampled_from([*SCHEMA, *SCHEMA, "extra", "Text", "", "index_id", "category"])

# Cell values of every kind a user's file may hold.
SCALARS = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["en", "it", "de", "train", "dev", "test", "validation", "1", "a", " ", ""]),
    st.integers(min_value=-3, max_value=3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=2),
    st.dictionaries(st.text(max_size=3), SCALARS, max_size=2),
)
JUNK_ROWS = st.lists(st.dictionaries(KEYS, VALUES, max_size=6), max_size=12)
# Rows that are right (so that loading succeeds and the normalisation runs), and the same with
# the odd bad value.
CLEAN_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=20
).filter(str.strip)
CLEAN = {
    "text": CLEAN_TEXT,
    "language": st.sampled_from(["en", "it", "de"]),
}
OPTIONAL = {
    "label": st.sampled_from(["a", "b", 1, "1", 2.0, None, "  "]),
    "split": st.sampled_from(["train", "dev", "test", "Validation", " TRAIN "]),
    "pair_id": st.one_of(st.integers(min_value=0, max_value=50), st.none(), CLEAN_TEXT),
    "extra": VALUES,
}
CLEAN_ROWS = st.lists(st.fixed_dictionaries(CLEAN, optional=OPTIONAL), max_size=12)
PLAUSIBLE_ROWS = st.lists(
    st.fixed_dictionaries(
        {k: st.one_of(v, SCALARS) for k, v in CLEAN.items()},
        optional={k: st.one_of(v, SCALARS) for k, v in OPTIONAL.items()},
    ),
    max_size=12,
)
ROWS = st.one_of(JUNK_ROWS, PLAUSIBLE_ROWS, CLEAN_ROWS)


def check_dataset(ds: TextDataset) -> None:
    """The schema contract of every dataset the loaders return."""
    assert isinstance(ds, TextDataset)
    frame = ds.frame
    assert list(frame.columns) == list(SCHEMA)
    for text in frame["text"]:
        assert isinstance(text, str) and text.strip()
    for lang in frame["language"]:
        assert isinstance(lang, str) and lang
    assert set(frame["split"]) <= set(SPLITS)
    for value in (*frame["label"], *frame["pair_id"]):
        assert value is None or isinstance(value, str)
    assert ds.labels == sorted(set(ds.labels))
    assert set(frame["label"].dropna()) <= set(ds.labels)
    paired = frame[frame["pair_id"].notna()]
    assert not paired.duplicated(["language", "pair_id"]).any()


def load_or_error(path: str | Path) -> None:
    try:
        ds = load_data(path)
    except XKDError as e:
        assert str(e)
        event(f"refused: {type(e).__name__}")
    else:
        check_dataset(ds)
        # a file or folder without data rows (a header alone, say) is refused, never loaded
        assert len(ds), f"{path} loaded with no rows"
        event("loaded")
    try:
        report = check_data(path)
    except XKDError as e:
        assert str(e)
    else:
        assert isinstance(report.format(), str)
        assert set(report.errors) <= set(report.problems)


# ------------------------------------------------------------------------------ random bytes

PREFIXES = st.sampled_from(
    [
        b"",
        b"text,label,language\n",
        b"text\tlabel\tlanguage\tsplit\tpair_id\n",
        b'{"text": "a", "language": "en"}\n',
        b"\xef\xbb\xbftext,language\n",
        b"\xff\xfe",
        b"PAR1",
        b"PK\x03\x04",
    ]
)


@FUZZ
@given(suffix=st.sampled_from(SUFFIXES), prefix=PREFIXES, body=st.binary(max_size=600))
def test_random_bytes(suffix, prefix, body):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"data{suffix}"
        path.write_bytes(prefix + body)
        load_or_error(path)


@FUZZ
@given(text=st.text(max_size=400), header=st.booleans())
def test_random_text_csv_tsv(text, header):
    head = "text,label,language,split,pair_id\n" if header else ""
    with tempfile.TemporaryDirectory() as tmp:
        for suffix, sep in ((".csv", ","), (".tsv", "\t")):
            path = Path(tmp) / f"data{suffix}"
            path.write_text(head.replace(",", sep) + text, encoding="utf-8")
            load_or_error(path)
        for parse in (parse_csv, parse_tsv):
            try:
                header_row, records = parse(head + text, "f")
            except XKDError:
                continue
            assert all(len(fields) == len(header_row) for _, fields in records)


# ------------------------------------------------------------------------------- random rows


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def _delimited(rows: list[dict], sep: str) -> str:
    columns = list(dict.fromkeys(k for r in rows for k in r)) or ["text"]
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=sep, lineterminator="\n")
    writer.writerow(columns)
    for r in rows:
        writer.writerow([_cell(r.get(c)) for c in columns])
    return buf.getvalue()


@FUZZ
@given(rows=ROWS, kind=st.sampled_from(["csv", "tsv", "jsonl", "parquet"]))
def test_random_rows_in_every_format(rows, kind):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"data.{kind}"
        if kind == "jsonl":
            path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
        elif kind == "parquet":
            frame = pd.DataFrame(rows)
            try:
                frame.to_parquet(path)
            except Exception:  # noqa: BLE001 - pyarrow cannot store this mix of types
                frame = frame.map(lambda v: None if v is None else _cell(v))
                frame.to_parquet(path)
        else:
            path.write_text(_delimited(rows, "," if kind == "csv" else "\t"), encoding="utf-8")
        load_or_error(path)


@FUZZ
@given(rows=ROWS)
def test_random_frames_through_validate_frame(rows):
    frame = pd.DataFrame(rows)
    try:
        clean = validate_frame(frame, file="memory")
    except XKDError as e:
        assert str(e)
        return
    check_dataset(TextDataset(clean, sorted(set(clean["label"].dropna())), "memory"))


LANG = st.sampled_from(["en", "it", "de", ".hidden", "_skip", "fr"])
SPLIT_FILE = st.sampled_from(["train", "dev", "test", "validation", "other"])


@FUZZ
@given(
    files=st.lists(
        st.tuples(LANG, SPLIT_FILE, st.sampled_from(["tsv", "text-labels"]), ROWS),
        max_size=4,
    ),
    labels_txt=st.one_of(st.none(), st.text(max_size=30)),
)
def test_random_folders(files, labels_txt):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        root.mkdir()
        for lang, split, layout, rows in files:
            folder = root / lang
            folder.mkdir(exist_ok=True)
            if layout == "tsv":
                sib = [
                    {("index_id" if k == "pair_id" else k): v for k, v in r.items()} for r in rows
                ]
                (folder / f"{split}.tsv").write_text(_delimited(sib, "\t"), encoding="utf-8")
            else:
                texts = [_cell(r.get("text")).replace("\n", " ") for r in rows]
                labels = [_cell(r.get("label")).replace("\n", " ") for r in rows]
                if rows and len(rows) % 3 == 0:
                    labels = labels[:-1]  # line counts that do not match
                (folder / f"{split}_text.txt").write_text("\n".join(texts), encoding="utf-8")
                (folder / f"{split}_labels.txt").write_text("\n".join(labels), encoding="utf-8")
            if labels_txt is not None:
                (folder / "labels.txt").write_text(labels_txt, encoding="utf-8")
        load_or_error(root)
