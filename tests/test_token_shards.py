"""The teacher cache's token features in shards on disk, read back row by row with file reads."""

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
            for layer in x[kind]:  # fp16 features of two encodes: a value may round apart
                torch.testing.assert_close(x[kind][layer], y[kind][layer], rtol=2e-3, atol=1e-6)


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


def test_a_batch_of_rows_from_several_shards_in_any_order_reads_the_right_rows(tiny, tmp_path):
    memory, sharded = _cache(tiny), _cache(tiny, tmp_path / "tokens")
    memory.ensure(TEXTS)
    texts = list(memory.index)
    for start in range(0, len(texts), 7):  # the same rows, one shard per 7 texts
        sharded.add(memory.export(texts[start : start + 7]))
    assert len(sharded.tokens._shards) == -(-len(texts) // 7)
    # out of order, across shards, a run inside a shard, a row twice
    picks = [texts[i] for i in (20, 3, 4, 5, 6, 7, 30, 0, 3, len(texts) - 1, 13, 14)]
    x, y = memory.batch(memory.ids(picks)), sharded.batch(sharded.ids(picks))
    torch.testing.assert_close(x["mask"], y["mask"], rtol=0, atol=0)
    for kind in ("hidden", "attentions"):
        assert x[kind].keys() == y[kind].keys()
        for layer in x[kind]:
            torch.testing.assert_close(x[kind][layer], y[kind][layer], rtol=0, atol=0)
    for i, j in zip(memory.ids(picks), sharded.ids(picks)):  # one row: the tensor in memory
        for name in memory.tokens.names:
            assert torch.equal(sharded.tokens.row(name, j), memory.tokens.row(name, i))


def test_a_store_reads_rows_in_memory_and_in_shards_together_and_reports_a_cut_shard(tmp_path):
    from xkd.train.token_store import TokenStore

    rows = [torch.randn(n, 3).half() for n in (2, 5, 1, 4)]
    store = TokenStore(["h"], tmp_path)
    store.append({"h": rows[:2]})  # a shard
    store.append({"h": []})  # nothing: no shard
    store._where += [(-1, 0), (-1, 1)]  # rows another process sent, not flushed yet
    store._memory["h"] += rows[2:]
    order = [3, 0, 2, 1, 0]
    for row, want in zip(store.rows("h", order), [rows[i] for i in order], strict=True):
        assert torch.equal(row, want)
    padded = store.padded("h", order, 6)
    assert padded.shape == (5, 6, 3) and padded.dtype == torch.float16
    for k, i in enumerate(order):
        n = rows[i].shape[0]
        assert torch.equal(padded[k, :n], rows[i]) and not padded[k, n:].any()
    assert len(list(tmp_path.glob("*.safetensors"))) == 1
    shard = next(tmp_path.glob("*.safetensors"))
    from safetensors.torch import load_file

    saved = load_file(str(shard))  # a shard is a plain safetensors file
    torch.testing.assert_close(saved["h"], torch.cat([r.reshape(-1) for r in rows[:2]]))
    assert saved["h.shapes"].tolist() == [[2, 3], [5, 3]]
    data = shard.read_bytes()
    shard.write_bytes(data[: 8 + int.from_bytes(data[:8], "little")])  # the header, no values
    with pytest.raises(OSError, match="truncated"):
        store.row("h", 1)


def test_a_store_keeps_a_few_shard_files_open_and_reads_without_preadv(tmp_path, monkeypatch):
    from xkd.train import token_store

    monkeypatch.setattr(token_store, "_OPEN_FILES", 2)
    rows = [torch.full((k + 1, 2), float(k)).half() for k in range(5)]
    store = token_store.TokenStore(["h"], tmp_path)
    for row in rows:
        store.append({"h": [row]})  # one shard each
    store.append({"h": rows})  # and all in one shard (5)
    order = [4, 0, 3, 1, 2, 4]
    monkeypatch.setattr(token_store, "_IOV_MAX", 2)  # a run of 5 rows: 3 vectored reads
    for preadv in (True, False):  # positional reads, and seek + read (Windows)
        monkeypatch.setattr(token_store, "_PREADV", preadv)
        got = store.rows("h", order)
        assert all(torch.equal(g, rows[i]) for g, i in zip(got, order, strict=True))
        assert sorted(store._files) == [2, 4]  # the last two shards read
        padded = store.padded("h", [5, 6, 7, 8, 9], 5)  # one run
        for k, row in enumerate(rows):
            assert torch.equal(padded[k, : k + 1], row) and not padded[k, k + 1 :].any()


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
