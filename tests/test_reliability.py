"""Reliability: bad data, bad configs, bad models, crashes, stops, out of memory, concurrency.

Everything goes through the CLI (``xkd.cli.main`` in-process, or ``python -m xkd.cli`` in a
subprocess for kill -9 / SIGTERM / locks). Each user-fixable problem must end in exactly one
``error: ...`` line naming the file / row / field, exit status 2, and no traceback on the
terminal (tracebacks go to ``$XKD_LOG_DIR/xkd.log``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from tests.conftest import make_parallel_frame, tiny_overrides
from xkd.cli import main
from xkd.runs import DeviceLock, RunFolder, create_run_folder, launch_run, stop_run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def log_dir(tmp_path, monkeypatch):
    """Tracebacks of every CLI call in these tests go to a temporary log folder."""
    path = tmp_path / "xkd-logs"
    monkeypatch.setenv("XKD_LOG_DIR", str(path))
    return path


def cli(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_user_error(rc: int, err: str, *needles: str, log_dir: Path | None = None) -> None:
    """Exit 2, one ``error:`` line holding every needle, no traceback on the terminal."""
    assert rc == 2, err
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    if log_dir is not None:
        assert "Traceback" in (log_dir / "xkd.log").read_text(encoding="utf-8")


def train_args(runs: Path, teacher: Path, data: str | Path, *extra: str, **sets) -> list[str]:
    args = ["train", "--runs-dir", str(runs), "--quiet"]
    for s in tiny_overrides(teacher, data, **sets):
        args += ["--set", s]
    for s in extra:
        args += ["--set", s]
    return args


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding)
    return path


def subprocess_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["XKD_LOG_DIR"] = str(tmp_path / "xkd-logs")
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    return env


def wait_for(predicate, timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


# =============================================================================================
# 1. Bad data: `xkd data check PATH` and `xkd train --set data.path=PATH`


CSV_HEAD = "text,label,language,split,pair_id\n"


def _empty(d: Path) -> Path:
    return write(d / "empty.csv", "")


def _binary(d: Path) -> Path:
    path = d / "binary.csv"
    path.write_bytes(bytes(range(256)) * 4)
    return path


def _latin1(d: Path) -> Path:
    return write(
        d / "latin1.csv", CSV_HEAD + "ok,a,fr,train,1\ncafé crème,a,fr,train,2\n", "latin-1"
    )


def _missing_column(d: Path) -> Path:
    return write(d / "nolanguage.csv", "text,label\nhello,a\n")


def _empty_text(d: Path) -> Path:
    return write(d / "holes.csv", CSV_HEAD + "hello,a,en,train,1\n  ,a,en,train,2\n")


def _duplicate_pairs(d: Path) -> Path:
    return write(
        d / "dups.csv", CSV_HEAD + "one,a,en,train,7\nuno,a,it,train,7\ntwo,b,en,train,7\n"
    )


def _broken_jsonl(d: Path) -> Path:
    good = json.dumps({"text": "fine", "label": "a", "language": "en"})
    return write(
        d / "broken.jsonl", good + '\n{"text": "half a line", "language": \n' + good + "\n"
    )


def _bad_quotes_csv(d: Path) -> Path:
    return write(d / "quotes.csv", 'text,language\nfine,en\n"never closed, en\n')


BAD_DATA = {
    # name: (maker, substrings the one error line must contain besides the file name)
    "empty": (_empty, ["is empty"]),
    "binary": (_binary, ["binary"]),
    "latin-1": (_latin1, ["row 3", "UTF-8"]),
    "missing column": (_missing_column, ["field 'language'", "missing required column"]),
    "empty text on a row": (_empty_text, ["row 3", "field 'text'"]),
    "duplicate pair id": (_duplicate_pairs, ["row 4", "field 'pair_id'", "duplicate"]),
    "broken jsonl line": (_broken_jsonl, ["row 2", "not valid JSON"]),
    "unclosed csv quote": (_bad_quotes_csv, ["row 3", "quote"]),
}


@pytest.mark.parametrize("case", list(BAD_DATA))
def test_bad_data_check_exits_2_with_one_located_message(case, tmp_path, capsys, log_dir):
    maker, needles = BAD_DATA[case]
    path = maker(tmp_path)
    rc, out, err = cli(capsys, "data", "check", path)
    assert rc == 2, out + err
    assert "Traceback" not in out + err
    assert path.name in out and all(n in out for n in needles), out
    assert "refuse" in out  # says that training would refuse this data


@pytest.mark.parametrize("case", list(BAD_DATA))
def test_bad_data_train_exits_2_with_one_located_message(
    case, tmp_path, capsys, log_dir, tiny_teacher_dir
):
    maker, needles = BAD_DATA[case]
    path = maker(tmp_path)
    rc, _, err = cli(capsys, *train_args(tmp_path / "runs", tiny_teacher_dir, path))
    assert_user_error(rc, err, path.name, *needles, log_dir=log_dir)
    (run,) = (tmp_path / "runs").glob("2*")
    status = RunFolder(run).read_status()
    assert status["state"] == "failed" and path.name in status["error"]


def test_huge_binary_file_is_refused_from_its_head(tmp_path, capsys, tiny_teacher_dir, log_dir):
    """A 1 GB (sparse, NUL-filled) file is streamed, so it is refused from its first 8 KB: no
    more of it is read into RAM."""
    path = tmp_path / "huge.csv"
    with open(path, "wb") as fh:
        fh.write(CSV_HEAD.encode())
        fh.truncate(1 << 30)
    tracemalloc.start()
    try:
        rc, out, err = cli(capsys, "data", "check", path)
        rc2, _, err2 = cli(capsys, *train_args(tmp_path / "runs", tiny_teacher_dir, path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MB allocated: the file was read"
    assert rc == 2 and "huge.csv" in out and "binary" in out
    assert_user_error(rc2, err2, "huge.csv", "binary", "NUL", log_dir=log_dir)


def test_a_bad_row_of_a_streamed_file_is_named(tmp_path, capsys, monkeypatch):
    from xkd.data import stream

    monkeypatch.setattr(stream, "WHOLE_FILE_BYTES", 8)
    monkeypatch.setattr(stream, "BATCH_ROWS", 3)
    rows = "".join(f"t{i},a,en,train,{i}\n" for i in range(7)) + ",a,en,train,7\n"
    path = write(tmp_path / "big.csv", CSV_HEAD + rows)
    rc, out, _ = cli(capsys, "data", "check", path)
    assert rc == 2 and "big.csv" in out and "row 9" in out and "empty text" in out, out


def test_extra_columns_are_ignored_and_reported(tmp_path, capsys):
    """Decision: columns outside the schema are ignored; `data check` lists them."""
    from xkd.data import check_data, load_data

    path = write(
        tmp_path / "extra.csv",
        "id,text,label,language,notes\n1,hello,a,en,x\n2,ciao,a,it,y\n",
    )
    ds = load_data(path)
    assert list(ds.frame.columns) == ["text", "label", "language", "split", "pair_id"]
    report = check_data(path)
    assert report.ignored_columns == ["id", "notes"]
    rc, out, _ = cli(capsys, "data", "check", path)
    assert rc == 0 and "Ignored columns" in out and "'id', 'notes'" in out


def test_mixed_label_types_are_one_label(tmp_path, capsys):
    """1 (number) and "1" (string) are the same label, in JSONL and in Parquet."""
    from xkd.data import load_data

    rows = [
        {"text": "one", "label": 1, "language": "en", "pair_id": 1},
        {"text": "uno", "label": "1", "language": "it", "pair_id": "1"},
        {"text": "two", "label": 2.0, "language": "en", "pair_id": 2},
        {"text": "due", "label": "2", "language": "it", "pair_id": "2"},
    ]
    path = write(tmp_path / "mixed.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    ds = load_data(path)
    assert ds.labels == ["1", "2"] and ds.n_parallel_groups() == 2
    rc, out, _ = cli(capsys, "data", "check", path)
    assert rc == 0 and "Labels (2): 1, 2" in out


def test_sib200_tsv_with_stray_quotes_parses_right(tmp_path, capsys):
    """SIB-200 texts contain unbalanced quotes; they are kept as written, not swallowed."""
    from xkd.data import load_data

    head = "index_id\tcategory\ttext\n"
    en = (
        head + '1\tscience\tHe said "hello\n2\ttravel\tThe "best" city\n'
        '3\tscience\t"Quoted start only\n4\ttravel\ttrailing quote"\n'
    )
    it = head + '1\tscience\tHa detto "ciao\n2\ttravel\tLa città "migliore"\n'
    write(tmp_path / "sib" / "en" / "train.tsv", en)
    write(tmp_path / "sib" / "it" / "train.tsv", it)
    ds = load_data(tmp_path / "sib")
    texts = {(r.language, r.pair_id): r.text for r in ds.frame.itertuples()}
    assert texts[("en", "1")] == 'He said "hello'
    assert texts[("en", "3")] == '"Quoted start only'
    assert texts[("en", "4")] == 'trailing quote"'
    assert texts[("it", "2")] == 'La città "migliore"'
    assert len(ds) == 6 and ds.labels == ["science", "travel"]
    rc, out, _ = cli(capsys, "data", "check", tmp_path / "sib")
    assert rc == 0 and "6 rows" in out and "2 translation groups" in out


def _frame_csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def test_labels_in_only_some_languages_is_a_warning(tmp_path, capsys):
    frame = make_parallel_frame()
    frame = frame[~((frame.language == "it") & (frame.label == "food"))]
    path = _frame_csv(tmp_path / "partial.csv", frame)
    rc, out, _ = cli(capsys, "data", "check", path)
    assert rc == 0 and "language 'it' has no rows for 1 of 3 labels: food" in out
    rc, out, _ = cli(capsys, "data", "check", path, "--strict")
    assert rc == 2


def test_language_without_training_rows(tmp_path, capsys, tiny_teacher_dir, log_dir):
    frame = make_parallel_frame()
    frame.loc[frame.language == "en", "split"] = "test"
    path = _frame_csv(tmp_path / "notrain.csv", frame)
    rc, out, _ = cli(capsys, "data", "check", path)
    assert rc == 0 and "language 'en' has no train rows" in out
    assert cli(capsys, "data", "check", path, "--strict")[0] == 2
    rc, _, err = cli(capsys, *train_args(tmp_path / "runs", tiny_teacher_dir, path))
    assert_user_error(
        rc, err, "notrain.csv", "field 'data.source_language'", "no labelled training rows"
    )


def test_pair_ids_that_never_match_across_languages(tmp_path, capsys, tiny_teacher_dir):
    frame = make_parallel_frame()
    frame.loc[frame.language == "it", "pair_id"] = (
        "it-" + frame.loc[frame.language == "it", "pair_id"]
    )
    path = _frame_csv(tmp_path / "unpaired.csv", frame)
    rc, out, _ = cli(capsys, "data", "check", path)
    assert rc == 0 and "no pair_id occurs in more than one language" in out
    rc, _, err = cli(capsys, *train_args(tmp_path / "runs", tiny_teacher_dir, path))
    assert_user_error(rc, err, "unpaired.csv", "field 'pair_id'", "data.parallel=false")


def test_uploaded_file_path_used_by_the_app(tmp_path):
    """The app saves an upload and calls load_data/check_data on it: DataError, never a crash."""
    from xkd.data import check_data, load_data
    from xkd.errors import DataError

    upload = tmp_path / "uploads" / "my data.csv"
    write(upload, "text,language\n\x00\x01binary junk\n")
    with pytest.raises(DataError) as e:
        load_data(upload)
    assert e.value.file == str(upload) and "binary" in str(e.value)
    report = check_data(upload)
    assert not report.readable and report.errors and str(upload) in report.errors[0]


# =============================================================================================
# 2. Bad configs


@pytest.mark.parametrize(
    "setting, needles",
    [
        ("trian.epochs=2", ["unknown config key", "trian", "valid keys"]),
        ("train.epoch=2", ["unknown config key", "train.epoch", "train.epochs"]),
        ("train.epochs=two", ["'train.epochs'", "two"]),
        ("train.batch_size=8.5", ["'train.batch_size'", "int"]),
        ("data.parallel=maybe", ["'data.parallel'", "true or false"]),
        ("distill.temperature=0", ["distill.temperature", "> 0"]),
        ("distill.temperature=-2", ["distill.temperature", "> 0"]),
        ("distill.temperature=.nan", ["distill.temperature", "finite"]),
        ("distill.alpha=1.5", ["distill.alpha", "[0, 1]"]),
        ("distill.alpha=-0.1", ["distill.alpha", "[0, 1]"]),
        ("train.lr=.inf", ["train.lr", "finite"]),
        ("train.epochs=.nan", ["train.epochs", "finite"]),
        ("train.grad_clip=-1", ["train.grad_clip", ">= 0"]),
        ("train.max_steps=-1", ["train.max_steps", ">= 0"]),
        ("train.seed=-5", ["train.seed", ">= 0"]),
        ("train.checkpoint_every=-3", ["train.checkpoint_every", ">= 0"]),
        ("distill.losses=kl:heavy", ["distill.losses", "heavy"]),
        ("distill.losses=5", ["distill.losses", "list"]),
        ("distill.losses=[{name: kl, wieght: 2}]", ["unknown config key", "wieght"]),
    ],
)
def test_bad_config_values_exit_2_naming_the_key(
    setting, needles, tmp_path, capsys, tiny_teacher_dir
):
    # if the value were wrongly accepted, the run stops at once on the missing data file
    args = train_args(tmp_path / "runs", tiny_teacher_dir, tmp_path / "no-data.csv", setting)
    rc, _, err = cli(capsys, *args)
    assert_user_error(rc, err, *needles)
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("2*"))


def test_loss_comma_list_on_the_command_line(tmp_path):
    from xkd.cli import build_config

    cfg = build_config(None, None, ["distill.losses=kl,parallel_mse:10"])
    assert [(x.name, x.weight) for x in cfg.distill.losses] == [("kl", 1.0), ("parallel_mse", 10.0)]


def test_bad_config_file(tmp_path, capsys):
    path = write(tmp_path / "run.yaml", "train:\n  epochs: 2\n  bogus: [1\n")
    rc, _, err = cli(capsys, "train", str(path), "--runs-dir", tmp_path / "runs")
    assert_user_error(rc, err, "run.yaml", "not valid YAML")
    path = write(tmp_path / "run2.yaml", "train:\n  epochs: 2\n  bogus: 1\n")
    rc, _, err = cli(capsys, "train", str(path), "--runs-dir", tmp_path / "runs")
    assert_user_error(rc, err, "train.bogus")


def test_unknown_loss_parameter(tmp_path, capsys, tiny_teacher_dir, tiny_csv):
    args = train_args(
        tmp_path / "runs",
        tiny_teacher_dir,
        tiny_csv,
        "distill.losses=[{name: kl, params: {temp: 2}}]",
    )
    rc, _, err = cli(capsys, *args)
    assert_user_error(rc, err, "unknown parameter 'temp'", "temperature")


def test_wider_student_without_projection_is_refused(tmp_path, capsys, tiny_teacher_dir, tiny_csv):
    args = train_args(
        tmp_path / "runs",
        tiny_teacher_dir,
        tiny_csv,
        "student=scratch",
        "model.scratch_hidden=64",
        "model.scratch_layers=1",
        "model.vocab_size=200",
        "distill.losses=[{name: hidden_mse, params: {projection: false}}]",
    )
    rc, _, err = cli(capsys, *args)
    assert_user_error(rc, err, "hidden_mse", "student width 64", "teacher width 32", "projection")


def test_layer_map_out_of_range_is_refused(tmp_path, capsys, tiny_teacher_dir, tiny_csv):
    args = train_args(
        tmp_path / "runs",
        tiny_teacher_dir,
        tiny_csv,
        "distill.losses=[{name: hidden_mse, params: {layer_map: [[1, 9]]}}]",
    )
    rc, _, err = cli(capsys, *args)
    assert_user_error(rc, err, "layer_map pair [1, 9] is out of range", "teacher layers 0..2")


def test_token_level_loss_needs_the_same_tokenizer(tmp_path, capsys, tiny_teacher_dir, tiny_csv):
    args = train_args(
        tmp_path / "runs",
        tiny_teacher_dir,
        tiny_csv,
        "student=scratch",
        "model.scratch_hidden=128",
        "model.scratch_layers=1",
        "model.vocab_size=200",
        "distill.losses=[{name: attention_kl}]",
    )
    rc, _, err = cli(capsys, *args)
    assert_user_error(rc, err, "attention_kl", "tokenizers differ", "from-teacher:K")


def test_teacher_head_for_other_labels_is_refused(tmp_path, capsys, tiny_csv):
    from xkd.testing.models import tiny_model

    texts = make_parallel_frame()["text"].tolist()
    teacher = tiny_model(labels=["pos", "neg"], texts=texts, layers=1, hidden=32, heads=2)
    teacher.save_pretrained(tmp_path / "sentiment-teacher")
    rc, _, err = cli(
        capsys, *train_args(tmp_path / "runs", tmp_path / "sentiment-teacher", tiny_csv)
    )
    assert_user_error(rc, err, "has a head for labels ['pos', 'neg']", "food", "without a head")


# =============================================================================================
# 3. Bad models


def test_unknown_hub_id_offline(tmp_path, capsys, tiny_csv, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    args = train_args(tmp_path / "runs", "no-such-org/no-such-model-xkd", tiny_csv)
    rc, _, err = cli(capsys, *args)
    assert_user_error(rc, err, "no-such-org/no-such-model-xkd", "no network", "minilm")


def test_local_model_folder_without_weights(tmp_path, capsys, tiny_csv, tiny_teacher_dir):
    import shutil

    broken = tmp_path / "broken-model"
    shutil.copytree(tiny_teacher_dir, broken)
    for f in broken.glob("*.safetensors"):
        f.unlink()
    (broken / "xkd_config.json").unlink(missing_ok=True)
    write(broken / "config.json", json.dumps({"model_type": "bert", "hidden_size": 32}))
    rc, _, err = cli(capsys, *train_args(tmp_path / "runs", broken, tiny_csv))
    assert_user_error(rc, err, "broken-model", "missing weights", "model.safetensors")


def test_student_folder_that_does_not_exist(tmp_path, capsys, tiny_csv, tiny_teacher_dir):
    args = train_args(
        tmp_path / "runs", tiny_teacher_dir, tiny_csv, f"student={tmp_path / 'nowhere'}"
    )
    rc, _, err = cli(capsys, *args)
    assert_user_error(rc, err, "nowhere", "does not exist")


def make_remote_code_model(folder: Path, marker: Path) -> Path:
    """A BERT folder whose config asks for custom code; the code writes ``marker`` when run."""
    from transformers import BertConfig, BertModel

    from xkd.models import train_tokenizer

    folder.mkdir(parents=True)
    tok = train_tokenizer(make_parallel_frame()["text"].tolist(), vocab_size=100)
    tok.save_pretrained(folder)
    config = BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config, add_pooling_layer=False).save_pretrained(folder)
    data = json.loads((folder / "config.json").read_text())
    data["model_type"] = "xkd-remote-test"
    data["architectures"] = ["RemoteModel"]
    data["auto_map"] = {
        "AutoConfig": "configuration_remote.RemoteConfig",
        "AutoModel": "modeling_remote.RemoteModel",
    }
    (folder / "config.json").write_text(json.dumps(data))
    (folder / "configuration_remote.py").write_text(
        textwrap.dedent(
            f"""
            from pathlib import Path
            from transformers import BertConfig

            Path({str(marker)!r}).write_text("remote code ran")


            class RemoteConfig(BertConfig):
                model_type = "xkd-remote-test"
            """
        )
    )
    (folder / "modeling_remote.py").write_text(
        textwrap.dedent(
            """
            from transformers import BertModel

            from .configuration_remote import RemoteConfig


            class RemoteModel(BertModel):
                config_class = RemoteConfig
            """
        )
    )
    return folder


def test_remote_code_model_refused_unless_opted_in(tmp_path, capsys, tiny_csv, monkeypatch):
    import transformers.dynamic_module_utils as dyn

    from xkd.models import load_model

    monkeypatch.setattr(dyn, "HF_MODULES_CACHE", str(tmp_path / "hf-modules"))
    marker = tmp_path / "remote-code-ran"
    model_dir = make_remote_code_model(tmp_path / "remote-model", marker)
    rc, _, err = cli(capsys, *train_args(tmp_path / "runs", model_dir, tiny_csv))
    assert_user_error(rc, err, "remote-model", "custom Python code", "trust_remote_code: true")
    assert not marker.exists(), "remote code ran although trust_remote_code is off"
    # opting in loads it (the folder's code runs)
    model = load_model(model_dir, trust_remote_code=True)
    assert marker.exists() and type(model.encoder).__name__ == "RemoteModel"


# =============================================================================================
# 4. Crashes, stops, out of memory


def _kill_config(tmp_path: Path, teacher: Path, data: Path, epochs: int) -> Path:
    from xkd.cli import build_config

    sets = tiny_overrides(
        teacher,
        data,
        **{
            "train.epochs": epochs,
            "train.checkpoint_every": 10,
            "train.log_every": 1,
            "model.teacher_epochs": 2,
            "baseline": "false",
            "name": "crash",
        },
    )
    sets.append("distill.losses=[{name: parallel_mse, weight: 5}, {name: kl}]")
    cfg = build_config(None, None, sets)
    path = tmp_path / "crash.yaml"
    path.write_text(cfg.to_yaml())
    return path


def _metrics_lines(run: Path) -> list[str]:
    return (run / "metrics.jsonl").read_text(encoding="utf-8").split("\n")


@pytest.mark.slow
def test_kill_9_then_resume_matches_an_uninterrupted_run(
    tmp_path, capsys, tiny_teacher_dir, tiny_csv
):
    config = _kill_config(tmp_path, tiny_teacher_dir, tiny_csv, epochs=40)
    runs = tmp_path / "runs"
    env = subprocess_env(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "xkd.cli", "train", str(config), "--runs-dir", str(runs), "--quiet"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:

        def run_dir() -> Path | None:
            found = [p for p in runs.glob("2*-crash-*") if p.is_dir()] if runs.is_dir() else []
            return found[0] if found else None

        def far_enough() -> bool:
            run = run_dir()
            if run is None or not (run / "checkpoints" / "student" / "state.json").exists():
                return False
            steps = [r["step"] for r in RunFolder(run).read_metrics() if r["phase"] == "student"]
            return bool(steps) and max(steps) >= 25

        assert wait_for(far_enough, timeout=180), (
            proc.stdout.read1().decode() if proc.poll() else ""
        )
        assert proc.poll() is None, "the run finished before it could be killed: raise epochs"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    run = run_dir()
    assert run is not None
    # the folder stays readable: every complete metrics line parses, status still says running
    lines = _metrics_lines(run)
    for line in lines[:-1]:
        json.loads(line)
    raw = json.loads((run / "status.json").read_text())
    assert raw["state"] == "running" and raw["pid"] == proc.pid
    ckpt = json.loads((run / "checkpoints" / "student" / "state.json").read_text())
    assert ckpt["step"] % 10 == 0 and ckpt["step"] >= 10
    n_before = len(RunFolder(run).read_metrics())
    # the next CLI start tells the truth
    rc, out, _ = cli(capsys, "runs", "--runs-dir", runs, "--json")
    (listed,) = json.loads(out)
    assert rc == 0 and listed["state"] == "interrupted" and str(proc.pid) in listed["error"]
    assert json.loads((run / "status.json").read_text())["state"] == "interrupted"
    # resume continues from the checkpoint
    rc, _, err = cli(capsys, "train", "--resume", run.name, "--runs-dir", runs, "--quiet")
    assert rc == 0, err
    assert RunFolder(run).read_status()["state"] == "finished"
    records = RunFolder(run).read_metrics()
    resumed = [r for r in records[n_before:] if r["phase"] == "student" and r["kind"] == "train"]
    steps = [r["step"] for r in resumed]
    assert steps == list(range(ckpt["step"] + 1, ckpt["total_steps"] + 1)), (
        "the resumed run did not continue from its checkpoint to the end"
    )
    # ... and ends where an uninterrupted run with the same config ends
    ref_runs = tmp_path / "ref-runs"
    rc, _, err = cli(capsys, "train", str(config), "--runs-dir", ref_runs, "--quiet")
    assert rc == 0, err
    (ref,) = ref_runs.glob("2*-crash-*")
    ref_metrics = [
        r for r in RunFolder(ref).read_metrics() if r["phase"] == "student" and r["kind"] == "train"
    ]
    assert resumed[-1]["step"] == ref_metrics[-1]["step"]
    assert resumed[-1]["loss"] == pytest.approx(ref_metrics[-1]["loss"], rel=1e-3, abs=1e-5)
    for key in ("kl", "parallel_mse"):
        assert resumed[-1]["terms"][key] == pytest.approx(
            ref_metrics[-1]["terms"][key], rel=1e-3, abs=1e-5
        )
    ev, ev_ref = RunFolder(run).read_eval(), RunFolder(ref).read_eval()
    for lang in ("en", "it"):
        for who in ("teacher", "student"):
            assert ev["languages"][lang][who]["accuracy"] == pytest.approx(
                ev_ref["languages"][lang][who]["accuracy"], abs=1e-6
            )
    assert ev["pair_cosine"]["it"]["student"] == pytest.approx(
        ev_ref["pair_cosine"]["it"]["student"], rel=1e-3, abs=1e-4
    )


@pytest.mark.slow
def test_sigterm_stop_leaves_stopped_with_a_checkpoint(
    tmp_path, monkeypatch, tiny_teacher_dir, tiny_csv
):
    """`stop_run` (SIGTERM) on a run started by `launch_run` with its default command."""
    for key, value in subprocess_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    config = _kill_config(tmp_path, tiny_teacher_dir, tiny_csv, epochs=200)
    runs = tmp_path / "runs"
    _, run = create_run_folder(runs, "stopme")
    launch_run(config, run, runs_dir=runs)
    folder = RunFolder(run)

    def training() -> bool:
        status = folder.read_status()
        return status.get("phase") == "student" and (status.get("step") or 0) >= 3

    assert wait_for(training, timeout=180), folder.process_log_path.read_text()
    final = stop_run(run, timeout=60)
    assert final["state"] == "stopped", final
    assert "killed" not in (final.get("note") or ""), "the trainer did not stop on SIGTERM"
    state = json.loads((run / "checkpoints" / "student" / "state.json").read_text())
    assert 3 <= state["step"] < state["total_steps"]
    assert "xkd train --resume" in folder.process_log_path.read_text()
    assert "Traceback" not in folder.process_log_path.read_text()


def _oom_run(tmp_path, capsys, teacher, data, exc: BaseException, monkeypatch):
    from xkd.train import loop

    def boom(self, batch):
        raise exc

    monkeypatch.setattr(loop.KDObjective, "forward", boom)
    rc, _, err = cli(capsys, *train_args(tmp_path / "runs", teacher, data))
    (run,) = (tmp_path / "runs").glob("2*")
    return rc, err, RunFolder(run).read_status()


@pytest.mark.parametrize(
    "exc",
    [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"),
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate "
            "memory: you tried to allocate 21474836480 bytes. Error code 12 (Cannot allocate memory)"
        ),
        MemoryError(),
    ],
    ids=["cuda", "cpu-allocator", "python"],
)
def test_out_of_memory_fails_with_advice(
    exc, tmp_path, capsys, tiny_teacher_dir, tiny_csv, monkeypatch, log_dir
):
    rc, err, status = _oom_run(tmp_path, capsys, tiny_teacher_dir, tiny_csv, exc, monkeypatch)
    assert_user_error(
        rc, err, "out of memory", "train.batch_size", "data.max_length", log_dir=log_dir
    )
    assert status["state"] == "failed"
    assert "train.batch_size" in status["error"] and "data.max_length" in status["error"]


@pytest.mark.slow
def test_ram_cap_in_a_subprocess_fails_with_advice(tmp_path, tiny_teacher_dir, tiny_csv):
    """A real allocation failure under ``RLIMIT_AS`` (a student far too big for the cap)."""
    pytest.importorskip("resource")
    runs = tmp_path / "runs"
    sets = tiny_overrides(
        tiny_teacher_dir,
        tiny_csv,
        **{
            "student": "scratch",
            "model.scratch_hidden": 4096,
            "model.scratch_layers": 8,
            "model.vocab_size": 200,
            "baseline": "false",
        },
    )
    code = textwrap.dedent(
        f"""
        import resource, sys
        import torch, transformers, tokenizers, pandas, accelerate, safetensors
        import xkd.cli, xkd.experiment, xkd.models, xkd.data.files, xkd.evaluate.evaluator
        from transformers import BertModel, BertConfig, PreTrainedTokenizerFast

        def vm():
            for line in open("/proc/self/status"):
                if line.startswith("VmSize"):
                    return int(line.split()[1]) * 1024

        cap = vm() + 1536 * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        args = ["train", "--runs-dir", {str(runs)!r}, "--quiet"]
        for s in {sets!r}:
            args += ["--set", s]
        sys.exit(xkd.cli.main(args))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=subprocess_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "out of memory" in proc.stderr and "train.batch_size" in proc.stderr
    assert "Traceback" not in proc.stderr
    (run,) = runs.glob("2*")
    status = RunFolder(run).read_status()
    assert status["state"] == "failed" and "out of memory" in status["error"]


# =============================================================================================
# 5. Concurrency


def test_second_run_on_a_busy_device_is_refused(tmp_path, capsys, tiny_teacher_dir, tiny_csv):
    runs = tmp_path / "runs"
    lock = DeviceLock("cpu")
    assert lock.acquire(run_id="20250101-000000-other-abcd")
    try:
        rc, _, err = cli(capsys, *train_args(runs, tiny_teacher_dir, tiny_csv))
    finally:
        lock.release()
    assert_user_error(rc, err, "device 'cpu' is busy", "20250101-000000-other-abcd", "--wait")


@pytest.mark.slow
def test_two_launches_at_once_one_refused_then_wait_queues(tmp_path, tiny_teacher_dir, tiny_csv):
    runs = tmp_path / "runs"
    config = _kill_config(tmp_path, tiny_teacher_dir, tiny_csv, epochs=10)
    env = subprocess_env(tmp_path)
    cmd = [
        sys.executable,
        "-m",
        "xkd.cli",
        "train",
        str(config),
        "--runs-dir",
        str(runs),
        "--quiet",
    ]
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], results
    refused = next(err for p, (_, err) in zip(procs, results) if p.returncode == 2)
    assert "is busy" in refused and "--wait" in refused and "Traceback" not in refused
    states = sorted(RunFolder(r).read_status()["state"] for r in runs.glob("2*"))
    assert states == ["failed", "finished"]

    # --wait queues behind a holder and starts when the device is free
    lock = DeviceLock("cpu")
    assert lock.acquire(run_id="holder")
    waiting = subprocess.Popen(
        cmd + ["--wait"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:

        def queued() -> bool:
            return any(RunFolder(r).read_status().get("state") == "queued" for r in runs.glob("2*"))

        assert wait_for(queued, timeout=120)
        time.sleep(0.5)
        assert waiting.poll() is None
    finally:
        lock.release()
    out, err = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, err
    assert sorted(RunFolder(r).read_status()["state"] for r in runs.glob("2*")) == [
        "failed",
        "finished",
        "finished",
    ]


READER = """
import json, sys, time
from xkd.runs import RunFolder
folder = RunFolder(sys.argv[1])
seen = []
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    status = folder.read_status()
    if status:
        assert "state" in status, status
        seen.append(status.get("step"))
        if status["state"] == "finished":
            break
print(json.dumps({"steps": seen, "final": folder.read_status(),
                  "metrics": len(folder.read_metrics())}))
"""

WRITER = """
import os, sys
from xkd.runs import RunFolder
folder = RunFolder(sys.argv[1])
for step in range(1, 201):
    folder.write_status("running", pid=os.getpid(), step=step, total_steps=200)
    folder.append_metrics({"phase": "student", "step": step, "loss": 1.0 / step})
folder.write_status("finished", step=200)
"""


def test_two_readers_see_the_same_progress(tmp_path):
    env = subprocess_env(tmp_path)
    run = tmp_path / "runs" / "20250101-000000-shared-abcd"
    RunFolder(run).ensure()
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", READER, str(run)], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    writer = subprocess.run([sys.executable, "-c", WRITER, str(run)], env=env, timeout=120)
    assert writer.returncode == 0
    results = [json.loads(r.communicate(timeout=120)[0]) for r in readers]
    for res in results:
        steps = [s for s in res["steps"] if s is not None]
        assert steps == sorted(steps), "a reader saw progress go backwards"
        assert res["final"]["state"] == "finished" and res["final"]["step"] == 200
        assert res["metrics"] == 200
    assert results[0]["final"] == results[1]["final"]


INTERRUPT_READER = """
import json, sys
from xkd.runs import RunFolder
print(json.dumps(RunFolder(sys.argv[1]).read_status()))
"""


def test_two_readers_agree_a_dead_run_is_interrupted(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True
    )
    pid = int(dead.stdout)
    run = tmp_path / "20250101-000000-dead-abcd"
    RunFolder(run).write_status("running", pid=pid, pid_create_time=1.0, step=5)
    env = subprocess_env(tmp_path)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", INTERRUPT_READER, str(run)],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    seen = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert {s["state"] for s in seen} == {"interrupted"}
    assert len({s["error"] for s in seen}) == 1 and seen[0]["step"] == 5


CREATOR = """
import json, secrets, sys
import xkd.runs.ids as ids
# a tiny suffix space forces collisions between the processes (and within one)
ids._random_suffix = lambda: "%04x" % secrets.randbelow(256)
out = [ids.create_run_folder(sys.argv[1], "same name")[0] for _ in range(int(sys.argv[2]))]
print(json.dumps(out))
"""


def test_run_ids_never_collide_across_processes(tmp_path):
    runs = tmp_path / "runs"
    env = subprocess_env(tmp_path)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CREATOR, str(runs), "40"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    ids = [i for p in procs for i in json.loads(p.communicate(timeout=120)[0])]
    assert all(p.returncode == 0 for p in procs)
    assert len(ids) == 160 == len(set(ids))
    assert sorted(p.name for p in runs.iterdir() if p.is_dir()) == sorted(ids)


# =============================================================================================
# Bad resumes


def test_resume_of_unknown_or_unsafe_run(tmp_path, capsys):
    rc, _, err = cli(
        capsys, "train", "--resume", "20250101-000000-nope-abcd", "--runs-dir", tmp_path
    )
    assert_user_error(rc, err, "not found", "xkd runs")
    rc, _, err = cli(capsys, "train", "--resume", "../../etc", "--runs-dir", tmp_path)
    assert_user_error(rc, err, "invalid run id")


def test_config_of_a_run_is_yaml_that_round_trips(tmp_path, capsys, tiny_teacher_dir, tiny_csv):
    """A failed run still leaves a readable folder (config, status, env) for the app."""
    path = _frame_csv(tmp_path / "bad.csv", pd.DataFrame({"text": ["x"], "label": ["a"]}))
    rc, _, _ = cli(capsys, *train_args(tmp_path / "runs", tiny_teacher_dir, path))
    assert rc == 2
    (run,) = (tmp_path / "runs").glob("2*")
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["data"]["path"] == str(path)
    assert RunFolder(run).read_status()["state"] == "failed"
    assert "Traceback" in (run / "logs" / "run.log").read_text()


def test_in_process_train_gives_the_sigterm_handler_back(tmp_path, capsys, tiny_teacher_dir):
    """`main(["train", ...])` called from Python (tests, notebooks) must not leave its SIGTERM
    handler behind: the caller would otherwise ignore SIGTERM from then on."""
    before = signal.getsignal(signal.SIGTERM)
    path = write(tmp_path / "bad.csv", "text\nno language column\n")
    rc, _, _ = cli(capsys, *train_args(tmp_path / "runs", tiny_teacher_dir, path))
    assert rc == 2 and signal.getsignal(signal.SIGTERM) is before


def test_data_check_columns_option_needs_pairs(tmp_path, capsys):
    path = write(tmp_path / "d.csv", "sentence,language\nhi,en\n")
    rc, _, err = cli(capsys, "data", "check", path, "--columns", "text")
    assert_user_error(rc, err, "--columns", "SCHEMA=FILE", "'text'")
    rc, out, _ = cli(capsys, "data", "check", path, "--columns", "text=sentence")
    assert rc == 0 and "1 rows" in out
