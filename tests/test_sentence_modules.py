"""A sentence-transformers model whose own pipeline xkd does not apply is said so, never silent."""

from __future__ import annotations

import json
import shutil

from tests.conftest import tiny_overrides
from xkd.cli import main
from xkd.models.sentence_modules import sentence_modules_note


def _st_layout(folder, *, mode: str, dense: bool = False, normalize: bool = True):
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {
            "idx": 1,
            "name": "1",
            "path": "1_Pooling",
            "type": "sentence_transformers.models.Pooling",
        },
    ]
    if dense:
        modules.append(
            {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"}
        )
    if normalize:
        modules.append(
            {
                "idx": 3,
                "name": "3",
                "path": "3_Normalize",
                "type": "sentence_transformers.models.Normalize",
            }
        )
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir(exist_ok=True)
    flags = {f"pooling_mode_{m}": m == mode for m in ("cls_token", "mean_tokens", "max_tokens")}
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": 32, **flags})
    )
    return folder


def test_minilm_with_mean_pooling_needs_no_note():
    # its Pooling is mean, like xkd's; Normalize changes only the length of the vectors
    assert sentence_modules_note("minilm", "mean") is None


def test_another_pooling_or_dense_layers_are_said(tmp_path):
    (tmp_path / "labse-like").mkdir()
    cls_dense = _st_layout(tmp_path / "labse-like", mode="cls_token", dense=True)
    note = sentence_modules_note(str(cls_dense), "mean")
    assert "cls_token pooling + Dense + Normalize" in note
    assert (
        "set model.pooling=cls" in note and "Dense and Normalize module(s) are not applied" in note
    )
    (tmp_path / "mean").mkdir()
    assert (
        sentence_modules_note(str(_st_layout(tmp_path / "mean", mode="mean_tokens")), "mean")
        is None
    )
    note = sentence_modules_note(str(tmp_path / "mean"), "cls")
    assert "set model.pooling=mean" in note
    assert sentence_modules_note(str(tmp_path), "mean") is None  # no modules.json: a plain encoder
    assert sentence_modules_note("org/not-in-the-cache", "mean") is None  # no network lookup


def test_a_run_with_such_a_teacher_says_so_in_its_log(tiny_teacher_dir, tiny_csv, tmp_path, capsys):
    teacher = tmp_path / "teacher"
    shutil.copytree(tiny_teacher_dir, teacher)
    _st_layout(teacher, mode="cls_token", dense=True)
    runs = tmp_path / "runs"
    sets = tiny_overrides(teacher, tiny_csv, **{"train.epochs": 1, "baseline": "false"})
    args = ["train", "--runs-dir", str(runs), "--quiet"] + [x for s in sets for x in ("--set", s)]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "is a sentence-transformers model (cls_token pooling + Dense + Normalize)" in err
    (run,) = runs.glob("2*")
    assert "set model.pooling=cls" in (run / "logs" / "run.log").read_text()
