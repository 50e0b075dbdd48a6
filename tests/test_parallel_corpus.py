"""Parallel corpora apart from the task data (issue 10, item 2): every form is read into
translation groups, held-out pairs are split off deterministically, bad corpora are refused
naming the file, ``xkd data check --parallel-corpus`` reports problems, and a run distils on
the corpus while the task data gives labels and evaluation."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.conftest import make_parallel_frame, tiny_overrides
from xkd.data.parallel import is_language_code, load_parallel
from xkd.errors import DataError


def _pairs(frame=None) -> pd.DataFrame:
    """en/it pairs of the tiny task data, one row per pair: columns en, it."""
    frame = make_parallel_frame() if frame is None else frame
    en = frame[frame["language"] == "en"].set_index("pair_id")["text"]
    it = frame[frame["language"] == "it"].set_index("pair_id")["text"]
    return pd.DataFrame({"en": en, "it": it.loc[en.index]}).reset_index(drop=True)


def test_language_codes():
    assert all(map(is_language_code, ["en", "deu", "pt_BR", "deu_Latn", "zh-Hans"]))
    assert not any(map(is_language_code, ["id", "text", "label", "src", "English"]))


def test_one_column_per_language(tmp_path):
    path = tmp_path / "pairs.tsv"
    table = _pairs()
    table.to_csv(path, sep="\t", index=False)
    corpus = load_parallel(str(path), source_language="en")
    assert corpus.languages() == ["en", "it"] and "one column per language" in corpus.kind
    f = corpus.frame
    assert f["pair_id"].str.startswith("pc:").all() and f["label"].isna().all()
    assert f.groupby("pair_id")["language"].nunique().eq(2).all()
    assert set(f["split"]) <= {"train", "test"}
    assert corpus.pairs("it", "train") + corpus.pairs("it", "test") == len(table)
    again = load_parallel(str(path), source_language="en")
    assert again.frame.equals(corpus.frame)  # the held-out split is deterministic


def test_source_target_columns_and_translation_objects(tmp_path):
    pairs = _pairs()
    st = tmp_path / "st.csv"
    pd.DataFrame({"source": pairs["en"], "target": pairs["it"], "target_language": "it"}).to_csv(
        st, index=False
    )
    assert load_parallel(str(st), source_language="en").languages() == ["en", "it"]
    opus = tmp_path / "opus.jsonl"
    opus.write_text(
        "".join(
            json.dumps({"translation": {"en": e, "it": i}}) + "\n"
            for e, i in zip(pairs["en"], pairs["it"], strict=True)
        )
    )
    corpus = load_parallel(str(opus), source_language="en")
    assert corpus.pairs("it", "train") + corpus.pairs("it", "test") == len(pairs)
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"source": ["a"], "target": ["b"]}).to_csv(bad, index=False)
    with pytest.raises(DataError, match="target_language"):
        load_parallel(str(bad), source_language="en")


def test_line_aligned_and_tatoeba_folders(tmp_path):
    pairs = _pairs()
    moses = tmp_path / "moses"
    moses.mkdir()
    (moses / "ted.en").write_text("\n".join(pairs["en"]) + "\n")
    (moses / "ted.it").write_text("\n".join(pairs["it"]) + "\n")
    corpus = load_parallel(str(moses), source_language="en")
    assert corpus.kind == "line-aligned files" and corpus.languages() == ["en", "it"]
    tatoeba = tmp_path / "tatoeba"
    tatoeba.mkdir()
    for lang, col in (("ita", "it"), ("deu", "it")):
        (tatoeba / f"tatoeba.{lang}-eng.{lang}").write_text("\n".join(pairs[col]) + "\n")
        (tatoeba / f"tatoeba.{lang}-eng.eng").write_text("\n".join(pairs["en"]) + "\n")
    corpus = load_parallel(str(tatoeba), source_language="eng")
    assert corpus.languages() == ["deu", "eng", "ita"]
    assert corpus.pairs("deu", "train") + corpus.pairs("deu", "test") == len(pairs)
    (tatoeba / "tatoeba.ita-eng.ita").write_text("one line\n")
    with pytest.raises(DataError, match=r"different line counts.*tatoeba\.ita-eng"):
        load_parallel(str(tatoeba), source_language="eng")


def test_refusals_name_the_problem(tmp_path):
    path = tmp_path / "pairs.tsv"
    _pairs().to_csv(path, sep="\t", index=False)
    with pytest.raises(DataError, match="no 'de' side"):
        load_parallel(str(path), source_language="de")
    with pytest.raises(DataError, match="no such file"):
        load_parallel(str(tmp_path / "missing"), source_language="en")


def test_max_pairs_per_language_bounds_training_pairs(tmp_path):
    path = tmp_path / "pairs.tsv"
    _pairs().to_csv(path, sep="\t", index=False)
    full = load_parallel(str(path), source_language="en")
    capped = load_parallel(str(path), source_language="en", max_pairs_per_language=5)
    assert capped.pairs("it", "train") == 5 and capped.pairs("it", "test") == full.pairs(
        "it", "test"
    )
    kept = set(capped.frame[capped.frame["split"] == "train"]["pair_id"])
    again = load_parallel(str(path), source_language="en", max_pairs_per_language=5)
    assert kept == set(again.frame[again.frame["split"] == "train"]["pair_id"])


def test_hub_parallel_dataset_through_load_dataset(monkeypatch):
    import datasets

    pairs = _pairs()
    records = [{"en": e, "it": i} for e, i in zip(pairs["en"], pairs["it"], strict=True)]
    ds = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"translation": records})})
    seen = {}

    def fake(*args, **kwargs):
        seen["args"] = args
        return ds

    monkeypatch.setattr(datasets, "load_dataset", fake)
    corpus = load_parallel("hf:someone/opus:en-it", source_language="en")
    assert seen["args"] == ("someone/opus", "en-it")
    assert corpus.languages() == ["en", "it"] and corpus.kind == "Hugging Face dataset"


def test_data_check_reports_pairs_and_problems(tmp_path, tiny_csv, capsys):
    from xkd.cli import main

    frame = make_parallel_frame()
    pairs = _pairs(frame)
    test_text = frame[(frame["split"] == "test") & (frame["language"] == "it")]["text"].iloc[0]
    extra = pd.DataFrame(
        {
            "en": [pairs["en"][0], "a short sentence here", "", "hello there friend"],
            "it": [pairs["it"][0], "x" * 200, "vuoto", test_text],
        }
    )
    path = tmp_path / "pairs.tsv"
    pd.concat([pairs, extra], ignore_index=True).to_csv(path, sep="\t", index=False)
    rc = main(["data", "check", str(tiny_csv), "--parallel-corpus", str(path)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "Parallel corpus:" in out and "2 languages" in out
    assert "empty lines" not in out  # an empty cell: no text in that language, not a problem
    assert f"{path}, line" in out
    assert "length ratio over 4:1" in out and "duplicate pairs" in out
    # the leak is found when the leaking pair is a training pair (hash split): either way the
    # report is honest about it
    corpus = load_parallel(str(path), source_language="en")
    leak_split = corpus.frame[corpus.frame["text"] == test_text]["split"].iloc[0]
    assert ("test text of the task data" in out) == (leak_split == "train")


def test_run_distils_on_the_corpus(tmp_path, tiny_teacher_dir, capsys):
    from xkd.cli import main
    from xkd.runs import RunFolder

    frame = make_parallel_frame()
    task = tmp_path / "task.csv"
    frame.assign(pair_id=None).to_csv(task, index=False)  # the task data has no pairs at all
    corpus = tmp_path / "pairs.tsv"
    _pairs(make_parallel_frame(n_per_label=40, seed=1)).to_csv(corpus, sep="\t", index=False)
    runs = tmp_path / "runs"
    sets = tiny_overrides(
        tiny_teacher_dir,
        task,
        **{"train.epochs": 1, "data.parallel_corpus": str(corpus), "data.target_languages": "it"},
    )
    args = ["train", "--runs-dir", str(runs), "--quiet"]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 0, capsys.readouterr().err
    (run,) = [p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")]
    eval_ = RunFolder(run).read_eval()
    loaded = load_parallel(str(corpus), source_language="en")
    assert loaded.pairs("it", "test") > 0
    n_src = int(((frame["language"] == "en") & (frame["split"] == "train")).sum())
    assert eval_["train_examples"]["kd"] == n_src + loaded.pairs("it", "train")
    assert eval_["retrieval"]["it"]["n_pairs"] == loaded.pairs("it", "test")  # held-out pairs
    assert eval_["languages"]["it"]["student"]["accuracy"] is not None  # zero-shot on the task
    # without the corpus the same task data has no pairs: refused, naming the way out
    capsys.readouterr()
    sets = tiny_overrides(tiny_teacher_dir, task, **{"data.target_languages": "it"})
    args = ["train", "--runs-dir", str(runs), "--quiet"]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 2
    assert "data.parallel_corpus" in capsys.readouterr().err


def _tatoeba(folder, pairs):
    folder.mkdir()
    for lang in ("ita", "deu"):
        (folder / f"tatoeba.{lang}-eng.{lang}").write_text("\n".join(pairs["it"]) + "\n")
        (folder / f"tatoeba.{lang}-eng.eng").write_text("\n".join(pairs["en"]) + "\n")
    return folder


def _alignment_args(tmp_path, teacher, runs) -> list[str]:
    corpus = _tatoeba(tmp_path / "tatoeba", _pairs())
    sets = {
        "teacher": str(teacher),
        "student": "from-teacher:1",
        "data.path": "",
        "data.parallel_corpus": str(corpus),
        "data.source_language": "eng",
        "data.max_length": 16,
        "distill.losses": "[{name: parallel_mse, weight: 1}]",
        "distill.alpha": 0,
        "train.epochs": 1,
        "train.batch_size": 8,
        "train.device": "cpu",
    }
    args = ["train", "--runs-dir", str(runs), "--quiet"]
    for k, v in sets.items():
        args += ["--set", f"{k}={v}"]
    return args


def test_alignment_only_run_opens_on_every_app_page(tmp_path, tiny_teacher_dir, monkeypatch):
    from tests.test_app import PAGES, goto, new_app
    from xkd.cli import main

    runs = tmp_path / "runs"
    monkeypatch.setenv("XKD_RUNS_DIR", str(runs))
    monkeypatch.delenv("XKD_APP_DEMO", raising=False)
    assert main(_alignment_args(tmp_path, tiny_teacher_dir, runs)) == 0
    at = new_app(align_pca=True)
    for page in PAGES:
        goto(at, page)  # no exception on any page


def test_alignment_only_run_on_a_tatoeba_folder(tmp_path, tiny_teacher_dir, capsys):
    """No task data: the student learns the teacher's embeddings from the pairs; eval reports
    retrieval@1 and pair cosine per language; nothing predicts a label."""
    from xkd.cli import main
    from xkd.runs import RunFolder

    runs = tmp_path / "runs"
    args = _alignment_args(tmp_path, tiny_teacher_dir, runs)
    corpus = tmp_path / "tatoeba"
    assert main(args) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "no no-KD baseline" in err and "R@1 student" in err
    (run,) = [p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")]
    eval_ = RunFolder(run).read_eval()
    assert set(eval_["retrieval"]) == {"deu", "ita"}
    loaded = load_parallel(str(corpus), source_language="eng")
    for lang in ("deu", "ita"):
        assert eval_["retrieval"][lang]["n_pairs"] == loaded.pairs(lang, "test")
        assert 0.0 <= eval_["retrieval"][lang]["student"]["src_to_tgt"] <= 1.0
        assert set(eval_["pair_cosine"][lang]) == {"teacher", "student"}
    assert eval_["languages"] == {} and eval_["teacher_info"]["head"].startswith("none")
    assert not (run / "baseline").exists()
    # logits losses are refused up front, naming the setting
    args[args.index("distill.losses=[{name: parallel_mse, weight: 1}]")] = (
        "distill.losses=[{name: parallel_mse, weight: 1}, {name: kl, weight: 1}]"
    )
    assert main(args) == 2
    assert "remove kl from distill.losses" in capsys.readouterr().err


@pytest.mark.parametrize("form", ["tsv", "parquet", "jsonl", "aligned"])
def test_batches_of_any_size_keep_the_same_rows(tmp_path, monkeypatch, form):
    """Reading in batches (as for corpora larger than memory) keeps exactly the rows a single
    read keeps, with and without max_pairs_per_language."""
    from xkd.data import parallel

    pairs = _pairs(make_parallel_frame(n_per_label=40, seed=2))
    if form == "aligned":
        path = tmp_path / "moses"
        path.mkdir()
        (path / "c.en").write_text("\n".join(pairs["en"]) + "\n")
        (path / "c.it").write_text("\n".join(pairs["it"]) + "\n")
    elif form == "jsonl":
        path = tmp_path / "c.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in pairs.to_dict("records")))
    else:
        path = tmp_path / f"c.{form}"
        pairs.to_csv(path, sep="\t", index=False) if form == "tsv" else pairs.to_parquet(path)

    def rows(corpus):
        return set(map(tuple, corpus.frame[["pair_id", "language", "text", "split"]].values))

    for cap in (None, 7):
        whole = load_parallel(str(path), source_language="en", max_pairs_per_language=cap)
        monkeypatch.setattr(parallel, "BATCH_ROWS", 9)
        batched = load_parallel(str(path), source_language="en", max_pairs_per_language=cap)
        monkeypatch.setattr(parallel, "BATCH_ROWS", 50_000)
        assert rows(batched) == rows(whole) and len(rows(whole)) > 0
        if cap:
            assert whole.pairs("it", "train") == cap


def test_empty_lines_of_aligned_files_are_reported(tmp_path):
    from xkd.data.parallel_check import check_parallel

    folder = tmp_path / "moses"
    folder.mkdir()
    (folder / "c.en").write_text("one\n\nthree\n")
    (folder / "c.de").write_text("eins\nzwei\ndrei\n")
    text = check_parallel(str(folder), source_language="en").format()
    assert "1 empty lines" in text and "c.en, line 2" in text
