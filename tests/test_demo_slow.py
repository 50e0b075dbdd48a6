"""The real offline demo path (MiniLM from PyPI, chatterbot data, vocabulary extension), shortened.

The full demo's quality and wall time are measured by ``python -m benchmarks`` (demo_wall_s),
not here: this test proves the real models and data run end to end through the CLI.
"""

from __future__ import annotations

import json

import pytest

from xkd.cli import main


@pytest.mark.slow
def test_demo_preset_runs_end_to_end_on_real_models(tmp_path):
    args = ["train", "--preset", "demo", "--runs-dir", str(tmp_path), "--quiet"]
    args += ["--set", "train.max_steps=8", "--set", "data.max_train_per_language=64"]
    assert main(args) == 0
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    ev = json.loads((run / "eval.json").read_text())
    assert set(ev["languages"]) == {"en", "it", "ja", "ko", "uk", "zh", "de"}
    assert ev["student_info"]["vocab_added"] > 500  # CJK/Hangul characters MiniLM lacks
    assert ev["teacher_info"]["teacher_dev_accuracy"] > 0.4  # a real head on real embeddings
    assert (run / "student" / "tokenizer.json").exists()


@pytest.mark.slow
def test_the_full_demo_meets_its_quality_bar(tmp_path):
    """The demo as a newcomer runs it (``xkd train --preset demo``, nothing shortened): KD gain
    of at least 25 points over the no-KD baseline (mean over targets), every target above its
    majority prior, and the student keeping at least 90 % of the teacher's English accuracy.
    The preset's epochs, learning rate and alignment points were cut for speed
    (docs/speed.md): this is the test that says the cut kept the quality."""
    args = ["train", "--preset", "demo", "--runs-dir", str(tmp_path), "--quiet"]
    assert main(args) == 0
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith(".")]
    ev = json.loads((run / "eval.json").read_text())
    headline = ev["headline"]
    assert headline["kd_gain"] >= 0.25, headline
    assert headline["targets_above_prior"] == headline["n_targets"] == 6, headline
    assert headline["source_kept"] >= 0.90, headline
    assert ev["timings"]["map"] >= 0 and (run / "cache" / "map-default.json").is_file()
