"""The teacher cache's token features in shards on disk, read through memory maps."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import make_parallel_frame
from xkd.train.cache import TeacherCache

TEXTS = make_parallel_frame()["text"].tolist()[:40]


@pytest.fixture()
def tiny():
    from xkd.testing.models import tiny_model

    return tiny_model(labels=["a", "b", "c"], texts=TEXTS, layers=2, hidden=32, heads=2, seed=0)


def _cache(model, shard_dir=None, **kw):
    return TeacherCache(
        model,
        max_length=16,
        batch_size=4,
        hidden_layers=[1, 2],
        attention_layers=kw.pop("attention_layers", [1]),
        shard_dir=shard_dir,
        shard_rows=7,
        **kw,
    )


def _same_batches(a: TeacherCache, b: TeacherCache, texts: list[str]) -> None:
    for start in range(0, len(texts), 9):
        part = texts[start : start + 9]
        x, y = a.batch(a.ids(part)), b.batch(b.ids(part))
        torch.testing.assert_close(x["pooled"], y["pooled"])
        torch.testing.assert_close(x["mask"], y["mask"])
        for kind in ("hidden", "attentions"):
            assert x[kind].keys() == y[kind].keys()
            for layer in x[kind]:
                torch.testing.assert_close(x[kind][layer], y[kind][layer])


def test_sharded_cache_reads_what_the_in_memory_cache_holds(tiny, tmp_path):
    memory, sharded = _cache(tiny), _cache(tiny, tmp_path / "tokens")
    memory.ensure(TEXTS)
    sharded.ensure(TEXTS)
    distinct = len(set(TEXTS))
    shards = sorted((tmp_path / "tokens").glob("tokens-*.safetensors"))
    assert len(shards) == -(-distinct // 7)  # one shard per chunk of 7 texts
    assert sharded.tokens.in_memory == 0  # no token features kept in memory
    assert memory.tokens.in_memory == distinct
    _same_batches(memory, sharded, TEXTS)


def test_sharded_cache_saves_an_index_and_reloads_from_its_shards(tiny, tmp_path):
    folder = tmp_path / "cache"
    cache = _cache(tiny, folder / "teacher-tokens", attention_layers=[])
    cache.ensure(TEXTS[:20])
    cache.save(folder / "teacher.safetensors")
    from safetensors import safe_open

    with safe_open(str(folder / "teacher.safetensors"), framework="pt") as f:
        assert not any(k.startswith("hidden.") for k in f.keys())  # features stay in shards
    again = _cache(tiny, folder / "teacher-tokens", attention_layers=[])
    assert again.load(folder / "teacher.safetensors", TEXTS) == len(set(TEXTS[:20]))
    assert again.tokens.in_memory == 0
    before = sorted(p.name for p in (folder / "teacher-tokens").iterdir())
    again.ensure(TEXTS)  # a resumed run: the new texts go to new shards after the old ones
    after = sorted(p.name for p in (folder / "teacher-tokens").iterdir())
    assert after[: len(before)] == before and len(after) > len(before)
    assert again.encoded_texts == len(set(TEXTS) - set(TEXTS[:20]))
    reference = _cache(tiny, attention_layers=[])
    reference.ensure(TEXTS)
    _same_batches(reference, again, TEXTS)
    # saved again, a third cache reads every row from the (old and new) shards
    again.save(folder / "teacher.safetensors")
    third = _cache(tiny, folder / "teacher-tokens", attention_layers=[])
    assert third.load(folder / "teacher.safetensors", TEXTS) == len(set(TEXTS))
    _same_batches(reference, third, TEXTS)


def test_a_missing_shard_reloads_nothing(tiny, tmp_path):
    cache = _cache(tiny, tmp_path / "teacher-tokens", attention_layers=[])
    cache.ensure(TEXTS[:10])
    cache.save(tmp_path / "teacher.safetensors")
    next((tmp_path / "teacher-tokens").glob("*.safetensors")).unlink()
    again = _cache(tiny, tmp_path / "teacher-tokens", attention_layers=[])
    assert again.load(tmp_path / "teacher.safetensors", TEXTS) == 0  # encoded again, not wrong


def test_in_memory_cache_rows_move_to_another_cache(tiny, tmp_path):
    """What several processes do: each encodes a share, and hands its rows to the others."""
    a, b = _cache(tiny), _cache(tiny, tmp_path / "tokens")
    a.ensure(TEXTS[:15])
    b.ensure(TEXTS[15:])
    b.add(a.export(list(a.index)))
    reference = _cache(tiny)
    reference.ensure(TEXTS)
    _same_batches(reference, b, TEXTS)


def test_a_run_with_token_features_keeps_them_in_shards_and_resume_reuses_them(
    tmp_path, tiny_csv, tiny_teacher_dir
):
    import json

    from safetensors import safe_open

    from tests.conftest import tiny_overrides
    from xkd.cli import main
    from xkd.runs import RunFolder

    losses = json.dumps([{"name": "hidden_mse", "weight": 1.0}, {"name": "kl", "weight": 1.0}])
    sets = tiny_overrides(tiny_teacher_dir, tiny_csv, **{"distill.losses": losses})
    run = tmp_path / "run"
    args = ["train", "--preset", "demo", "--run-dir", str(run), "--quiet"]
    assert main([*args, *[a for s in sets for a in ("--set", s)]]) == 0
    folder = RunFolder(run)
    shards = list(folder.teacher_tokens_dir.glob("tokens-*.safetensors"))
    assert shards
    with safe_open(str(folder.teacher_cache_path), framework="pt") as f:
        assert "token_shards" in f.metadata()
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    info = json.loads(folder.eval_path.read_text())["teacher_info"]
    assert info["cache_reused"] > 0 and info["teacher_texts_encoded"] == 0
