"""Language balancing of the KD student's examples (xkd/train/balance.py and the loop)."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.conftest import make_parallel_frame, tiny_overrides
from xkd.config import TrainConfig
from xkd.errors import ConfigError
from xkd.train import balance, loop
from xkd.train.balance import balance_facts, epoch_counts, epoch_order, epoch_size
from xkd.train.loop import TokenizedExamples, balance_order, epoch_batches, epoch_examples


def _langs(**sizes: int) -> list[str]:
    return [lang for lang, n in sizes.items() for _ in range(n)]


def _per_language(order: list[int], languages: list[str]) -> Counter:
    return Counter(languages[i] for i in order)


def _data(languages: list[str]) -> TokenizedExamples:
    n = len(languages)
    return TokenizedExamples([[1, 2]] * n, [0] * n, [-1] * n, [True] * n, 0, list(languages))


def test_the_exponent_gives_the_hand_computed_shares():
    # 90/10 at s = 0.5: sqrt(90) : sqrt(10) = 3 : 1, so 75 % / 25 % of the 100 examples
    assert epoch_counts({"en": 90, "sw": 10}, 0.5) == {"en": 75, "sw": 25}
    assert epoch_counts({"en": 90, "sw": 10}, 0.0) == {"en": 50, "sw": 50}
    assert epoch_counts({"en": 90, "sw": 10}, 1.0) == {"en": 90, "sw": 10}
    # quotas 57.14 / 28.57 / 14.29 (sqrt 16:4:1 -> 4:2:1 of 100): the largest remainder rounds up
    assert epoch_counts({"a": 64, "b": 16, "c": 4}, 0.5) == {"a": 48, "b": 24, "c": 12}
    langs = _langs(en=90, sw=10)
    order = epoch_order(langs, exponent=0.5, seed=1, epoch=0)
    assert len(order) == 100 == epoch_size({"en": 90, "sw": 10})  # the epoch length stays
    assert _per_language(order, langs) == {"en": 75, "sw": 25}
    # the large language gets 75 distinct examples, the small one each of its 10 examples 2-3x
    assert len({i for i in order if langs[i] == "en"}) == 75
    assert set(Counter(i for i in order if langs[i] == "sw").values()) == {2, 3}


def test_natural_settings_keep_the_loops_permutation():
    assert epoch_order(_langs(en=90, sw=10), exponent=1.0, oversample_min=0) is None
    assert epoch_order(_langs(en=40), exponent=0.0, oversample_min=100) is None  # one language
    assert epoch_order(_langs(en=30, sw=30), exponent=0.3) is None  # equal sizes
    assert epoch_order(_langs(en=30, sw=10), oversample_min=10) is None  # nobody below N
    data = _data(_langs(en=9, sw=1))
    assert balance_order(data, TrainConfig(), "student", 0) is None
    assert epoch_examples(data, TrainConfig(), "student") == 10
    # the order before balancing existed (seed 7, epoch 1), kept byte for byte
    assert epoch_batches([4] * 10, 3, seed=7, epoch=1) == [[5, 0, 3], [2], [6, 9, 4], [1, 7, 8]]


def test_only_the_kd_student_phase_is_balanced():
    data = _data(_langs(en=9, sw=1))
    cfg = TrainConfig(sampling_exponent=0.0, oversample_min=20)
    for phase in ("teacher", "baseline"):
        assert balance_order(data, cfg, phase, 0) is None
        assert epoch_examples(data, cfg, phase) == 10
    order = balance_order(data, cfg, "student", 0)
    assert _per_language(order, data.languages) == {"en": 20, "sw": 20}
    assert epoch_examples(data, cfg, "student") == 40


def test_oversampling_reaches_the_minimum_for_each_small_language():
    langs = _langs(en=50, it=7, de=3)
    order = epoch_order(langs, oversample_min=20, seed=0, epoch=0)
    assert _per_language(order, langs) == {"en": 50, "it": 20, "de": 20}
    assert len(order) == epoch_size({"en": 50, "it": 7, "de": 3}, 20) == 90
    seen = Counter(order)
    assert all(seen[i] == 1 for i, lang in enumerate(langs) if lang == "en")
    # whole copies first, then a subset: it 2 copies + 6, de 6 copies + 2
    assert sorted(seen[i] for i, lang in enumerate(langs) if lang == "it") == [2] + [3] * 6
    assert sorted(seen[i] for i, lang in enumerate(langs) if lang == "de") == [6, 7, 7]
    # with smoothing on top, the weights are the oversampled sizes: 90 shared equally at s = 0
    both = epoch_order(langs, exponent=0.0, oversample_min=20, seed=0, epoch=0)
    assert _per_language(both, langs) == {"en": 30, "it": 30, "de": 30}


def test_the_order_is_deterministic_per_seed_and_epoch():
    langs = _langs(en=60, it=15, de=5)
    kw = {"exponent": 0.3, "oversample_min": 10}
    a = epoch_order(langs, **kw, seed=3, epoch=2)
    assert a == epoch_order(langs, **kw, seed=3, epoch=2)
    assert a != epoch_order(langs, **kw, seed=3, epoch=3)
    assert a != epoch_order(langs, **kw, seed=4, epoch=2)
    lengths = [len(langs)] * len(langs)
    assert epoch_batches(lengths, 8, 3, 2, a) == epoch_batches(lengths, 8, 3, 2, list(a))
    assert sorted(i for b in epoch_batches(lengths, 8, 3, 2, a) for i in b) == sorted(a)


def test_facts_show_the_shares_before_and_after():
    facts = balance_facts(_langs(en=90, sw=10), 0.5)
    assert facts["epoch_examples"] == 100
    assert facts["languages"]["sw"] == {
        "examples": 10,
        "share": 0.1,
        "epoch_examples": 25,
        "epoch_share": 0.25,
    }


@pytest.mark.parametrize(
    "field,value", [("sampling_exponent", 1.5), ("sampling_exponent", -0.1), ("oversample_min", -1)]
)
def test_out_of_range_settings_are_refused(field, value):
    with pytest.raises(ConfigError, match=f"train.{field}"):
        TrainConfig(**{field: value}).validate()


def test_the_estimate_counts_the_oversampled_epoch(tiny_teacher_dir):
    from xkd.app.estimate import estimate
    from xkd.config import RunConfig
    from xkd.data.dataset import TextDataset

    frame = make_parallel_frame()
    ds = TextDataset(frame, sorted(frame["label"].unique()), "tiny")
    cfg = RunConfig(teacher=str(tiny_teacher_dir), student="from-teacher:1")
    cfg.data.source_language, cfg.train.batch_size, cfg.train.epochs = "en", 8, 1
    plain = estimate(cfg, ds, flops_per_second=1e10)
    assert plain.data.kd_per_language == {"en": 24, "it": 24}
    assert plain.steps["student"] == 6
    cfg.train.sampling_exponent = 0.0  # same epoch length
    assert estimate(cfg, ds, flops_per_second=1e10).steps["student"] == 6
    cfg.train.oversample_min = 40  # 40 + 40 examples
    assert estimate(cfg, ds, flops_per_second=1e10).steps["student"] == 10


def test_a_tiny_run_trains_with_smoothed_sampling(tiny_teacher_dir, tmp_path, monkeypatch):
    from xkd import config as C
    from xkd.experiment import Experiment
    from xkd.presets import preset
    from xkd.train.callbacks import Callback

    frame = make_parallel_frame()
    few_it = frame[(frame.language == "it") & (frame.split == "train")].index[6:]
    path = tmp_path / "imbalanced.csv"
    frame.drop(few_it).to_csv(path, index=False)  # 24 English rows, 6 Italian pairs

    orders: dict[str, list] = {}

    def spy(languages, **kw):
        out = epoch_order(languages, **kw)
        orders.setdefault("seen", []).append((list(languages), out))
        return out

    monkeypatch.setattr(loop, "epoch_order", spy)

    class Totals(Callback):
        def on_phase(self, phase, total_steps):
            orders.setdefault(phase, []).append(total_steps)

    config = preset("demo")
    sets = tiny_overrides(
        tiny_teacher_dir, path, **{"train.sampling_exponent": 0.3, "train.mixed_precision": "no"}
    )
    for assignment in sets:
        C.set_key(config, assignment)
    result = Experiment(config, runs_dir=tmp_path / "runs", callbacks=[Totals()]).run()
    assert result.state == "finished" and result.headline is not None
    # only the student phase asks for an order: once per epoch, over its 30 KD examples
    assert [Counter(langs) for langs, _ in orders["seen"]] == [Counter(en=24, it=6)] * 2
    quota = epoch_counts({"en": 24, "it": 6}, 0.3)
    assert quota["it"] > 6 and sum(quota.values()) == 30
    for langs, order in orders["seen"]:
        assert _per_language(order, langs) == quota
    assert orders["seen"][0][1] != orders["seen"][1][1]  # a new order each epoch
    assert orders["student"][-1] == 2 * 4  # 30 examples per epoch, batches of 8, 2 epochs
    assert balance.epoch_size({"en": 24, "it": 6}) == 30
