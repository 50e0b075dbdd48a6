"""The layer-mapping assistant: CKA heatmap, monotone suggestion, `xkd layers`."""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest

from tests.conftest import tiny_overrides
from xkd.cli import main
from xkd.evaluate.layers import suggest_layer_map


def _with_layer0(scores) -> np.ndarray:
    """Pad a teacher x student block matrix with the embeddings' row and column."""
    scores = np.asarray(scores, dtype=float)
    out = np.zeros((scores.shape[0] + 1, scores.shape[1] + 1))
    out[1:, 1:] = scores
    return out


def test_suggestion_is_the_best_monotone_matching_by_hand():
    # teacher blocks 1..4 (rows) x student blocks 1..2 (columns)
    cka = _with_layer0([[0.9, 0.1], [0.8, 0.2], [0.1, 0.3], [0.2, 0.95]])
    assert suggest_layer_map(cka) == [[1, 1], [2, 4]]
    # the best of each column alone would cross (student 1 -> teacher 3, student 2 -> teacher
    # 1); the best monotone map is 1:1, 2:2 (0.5 + 0.3 = 0.8 beats 1:1, 2:3 = 0.6, 1:2, 2:3 = 0.2)
    crossing = _with_layer0([[0.5, 0.9], [0.1, 0.3], [0.9, 0.1]])
    assert suggest_layer_map(crossing) == [[1, 1], [2, 2]]


def test_a_student_deeper_than_its_teacher_gets_a_non_decreasing_map():
    cka = _with_layer0([[0.9, 0.8, 0.1], [0.1, 0.2, 0.9]])
    layer_map = suggest_layer_map(cka)
    assert [s for s, _ in layer_map] == [1, 2, 3]
    teachers = [t for _, t in layer_map]
    assert teachers == sorted(teachers) and teachers == [1, 1, 2]


def test_xkd_layers_on_tiny_models(tiny_teacher_dir, tiny_csv, capsys):
    args = ["layers", str(tiny_teacher_dir), "from-teacher:1", "--data", str(tiny_csv)]
    args += ["--set", "model.extend_vocab=false", "--set", "data.max_length=16"]
    args += ["--texts", "40", "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    cka = np.array(report["cka"])
    assert cka.shape == (3, 2)  # a 2-layer teacher (0..2) x a 1-layer student (0..1)
    # a from-teacher:1 student is the teacher's first block: it matches teacher block 1
    assert report["suggested"] == [[1, 1]] and cka[1, 1] == pytest.approx(1.0, abs=1e-3)
    assert report["projection_needed"] is False and report["n_texts"] == 40
    assert main([*args[:-1]]) == 0
    out = capsys.readouterr().out
    assert "suggested layer_map: 1:1" in out and "hidden_mse" in out


def test_xkd_layers_after_training_reads_the_run(tiny_teacher_dir, tiny_csv, tmp_path, capsys):
    sets = tiny_overrides(tiny_teacher_dir, tiny_csv, baseline="false")
    old = signal.getsignal(signal.SIGTERM)
    try:
        args = ["train", "--runs-dir", str(tmp_path / "runs"), "--quiet"]
        assert main([*args, *[a for s in sets for a in ("--set", s)]]) == 0
    finally:
        signal.signal(signal.SIGTERM, old)
    capsys.readouterr()
    (run,) = (tmp_path / "runs").glob("2*")
    assert main(["layers", "--run", str(run), "--texts", "30", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["suggested"]) >= 1 and report["n_texts"] == 30
    assert main(["layers", "a", "b", "--run", str(run)]) == 2
    assert "not both" in capsys.readouterr().err
