"""Several teachers (``teachers`` + ``distill.teacher_mix``): the mixture of soft labels by hand,
the per-language choice, a teacher of another width through a projection, each teacher cached
once (and reused on resume, and shared in a sweep), the single-teacher run unchanged, and the
configs that are refused."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from tests.conftest import make_parallel_frame, tiny_overrides
from xkd import config as C
from xkd.errors import ConfigError
from xkd.experiment import Experiment
from xkd.losses import KDInputs, KLLoss, PooledTarget
from xkd.losses._common import PooledEmbeddingLoss
from xkd.train.cache import TeacherCache
from xkd.train.examples import Examples
from xkd.train.teachers import TeacherMix, mix_logits

FP32 = {"train.mixed_precision": "no", "train.alignment_points": 0}


def _config(teacher_dir, data_path, teachers=(), **extra) -> dict:
    from xkd.presets import preset

    data = preset("demo")
    for assignment in tiny_overrides(teacher_dir, data_path, **FP32, **extra):
        C.set_key(data, assignment)
    if teachers:
        data["teachers"] = [dict(t) for t in teachers]
    return data


@pytest.fixture(scope="module")
def wide_teacher_dir(tmp_path_factory):
    """A second tiny teacher, 48 wide (the first is 32), without a head."""
    from xkd.testing.models import tiny_model

    texts = make_parallel_frame()["text"].tolist()
    model = tiny_model(labels=None, texts=texts, layers=2, hidden=48, heads=2, seed=1)
    path = tmp_path_factory.mktemp("models") / "wide"
    model.save_pretrained(path)
    return path


# ------------------------------------------------------------------------------ the mixture


def _softmax(row, t):
    e = [math.exp(x / t) for x in row]
    return [x / sum(e) for x in e]


def test_averaged_soft_labels_are_the_mixture_of_softened_probabilities_by_hand():
    a = [[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]]
    b = [[0.0, 1.0, 3.0], [1.0, -1.0, 0.0]]
    s = [[0.3, -0.2, 0.1], [0.0, 1.0, -1.0]]
    t, wa, wb = 2.0, 1.0, 3.0
    p = [  # 1/4 softmax(a/T) + 3/4 softmax(b/T), computed without torch
        [(wa * x + wb * y) / (wa + wb) for x, y in zip(_softmax(ra, t), _softmax(rb, t))]
        for ra, rb in zip(a, b)
    ]
    z = mix_logits([torch.tensor(a), torch.tensor(b)], [wa, wb], t)
    assert torch.allclose(torch.softmax(z / t, -1), torch.tensor(p), atol=1e-6)
    # the KL term the student gets: T^2 * mean_rows KL(p || softmax(s/T)), the T^2 of one teacher
    q = [_softmax(row, t) for row in s]
    by_hand = (
        t
        * t
        * sum(sum(pc * math.log(pc / qc) for pc, qc in zip(pr, qr)) for pr, qr in zip(p, q))
        / len(s)
    )
    kl = KLLoss(temperature=t)(KDInputs(student_logits=torch.tensor(s), teacher_logits=z))
    assert kl.item() == pytest.approx(by_hand, rel=1e-5)
    # not the average of the logits (a product of the distributions)
    mean = KLLoss(temperature=t)(
        KDInputs(
            student_logits=torch.tensor(s),
            teacher_logits=(torch.tensor(a) + 3 * torch.tensor(b)) / 4,
        )
    )
    assert abs(mean.item() - by_hand) > 1e-3
    # teachers that agree give their own logits back, whatever the weights
    assert torch.allclose(
        mix_logits([torch.tensor(a)] * 2, [1.0, 5.0], t), torch.tensor(a), atol=1e-6
    )


def test_the_mixture_docstring_example_runs():
    import doctest

    import xkd.train.teachers as T

    result = doctest.testmod(T, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted and not result.failed


class _Cache:
    """What a TeacherMix reads of a cache: texts -> rows, logits and pooled vectors."""

    def __init__(self, texts, logits, pooled) -> None:
        self.index = {text: i for i, text in enumerate(texts)}
        self.logits = torch.tensor(logits)
        self.pooled = torch.tensor(pooled)

    def batch(self, ids, device="cpu"):
        return {"pooled": self.pooled[list(ids)], "logits": self.logits[list(ids)]}


TEXTS = ["s0", "s1", "s2", "s3"]


def _examples(languages):
    return Examples(list(TEXTS), list(TEXTS), [-100] * len(TEXTS), list(languages))


def _caches(widths):
    gen = torch.Generator().manual_seed(0)
    return [
        _Cache(
            TEXTS,
            torch.randn(4, 3, generator=gen).tolist(),
            torch.randn(4, width, generator=gen).tolist(),
        )
        for width in widths
    ]


def test_an_average_batch_mixes_logits_and_averages_embeddings_of_one_width():
    one, two = _caches([4, 4])
    mix = TeacherMix([one, two], mode="average", weights=[1.0, 3.0], languages={}, temperature=2.0)
    ids = mix.rows(_examples(["en", "it", "it", "de"]))
    out = mix.batch(ids[::-1])
    rows = [3, 2, 1, 0]
    assert torch.equal(out["logits"], mix_logits([one.logits[rows], two.logits[rows]], [1, 3], 2))
    assert torch.allclose(out["pooled"], (one.pooled[rows] + 3 * two.pooled[rows]) / 4)
    assert out["targets"] is None


def test_an_average_of_teachers_of_two_widths_gives_one_weighted_target_per_width():
    one, two = _caches([4, 6])
    mix = TeacherMix([one, two], mode="average", weights=[1.0, 3.0], languages={}, temperature=2.0)
    out = mix.batch(mix.rows(_examples(["en"] * 4)))
    assert out["pooled"] is None
    assert [(t.width, t.weight, t.rows) for t in out["targets"]] == [
        (4, 0.25, None),
        (6, 0.75, None),
    ]
    assert torch.equal(out["targets"][1].pooled, two.pooled)


def test_per_language_takes_each_rows_soft_labels_and_embedding_from_its_languages_teacher():
    caches = _caches([4, 4, 6])
    mix = TeacherMix(
        caches, mode="per_language", weights=[1, 1, 1], languages={"it": 1, "de": 2}, temperature=2
    )
    languages = ["en", "it", "de", "it"]  # en: no teacher listed, the first (the default)
    out = mix.batch(mix.rows(_examples(languages)))
    chosen = [0, 1, 2, 1]
    for row, k in enumerate(chosen):
        assert torch.equal(out["logits"][row], caches[k].logits[row])
    narrow, wide = out["targets"]
    assert narrow.width == 4 and narrow.rows.tolist() == [0, 1, 3] and narrow.weight == 0.75
    assert torch.equal(
        narrow.pooled, torch.stack([caches[k].pooled[r] for r, k in ((0, 0), (1, 1), (3, 1))])
    )
    assert wide.width == 6 and wide.rows.tolist() == [2] and wide.weight == 0.25
    assert torch.equal(wide.pooled, caches[2].pooled[[2]])
    # the same text read for two languages is two rows of the mix
    assert len(set(mix.rows(Examples(["s1", "s1"], ["s1", "s1"], [-100] * 2, ["en", "it"])))) == 2


def test_an_embedding_loss_scores_each_width_through_its_own_projection():
    from xkd.losses import ParallelMSELoss
    from xkd.models.dims import ModelDims

    loss = ParallelMSELoss()
    loss.setup(ModelDims(4, 1, 1, 2), ModelDims(4, 1, 1, 2))
    loss.add_teacher_width(ModelDims(4, 1, 1, 2), 6)
    assert loss.proj is None and loss.extra_proj["6"].weight.shape == (6, 4)
    s = torch.randn(3, 4)
    narrow, wide = torch.randn(2, 4), torch.randn(1, 6)
    targets = [
        PooledTarget(4, narrow, 2 / 3, torch.tensor([0, 2])),
        PooledTarget(6, wide, 1 / 3, torch.tensor([1])),
    ]
    got = loss(KDInputs(student_pooled=s, teacher_targets=targets))
    w = loss.extra_proj["6"].weight
    expected = (
        2 / 3 * ((s[[0, 2]] - narrow) ** 2).mean() + 1 / 3 * ((s[[1]] @ w.T - wide) ** 2).mean()
    )
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)
    got.backward()
    assert w.grad is not None and w.grad.abs().sum() > 0


# ------------------------------------------------------------------------------- whole runs


def _languages(result) -> dict:
    return result.eval["languages"]


def test_a_teacher_of_another_width_trains_through_a_projection(
    tiny_teacher_dir, tiny_csv, wide_teacher_dir, tmp_path, monkeypatch
):
    made = []
    add = PooledEmbeddingLoss.add_teacher_width

    def spy(self, student, width):
        add(self, student, width)
        made.append((self.extra_proj[str(width)], self.extra_proj[str(width)].weight.clone()))

    monkeypatch.setattr(PooledEmbeddingLoss, "add_teacher_width", spy)
    cfg = _config(tiny_teacher_dir, tiny_csv, [{"model": str(wide_teacher_dir)}], baseline="false")
    exp = Experiment(cfg, run_dir=tmp_path / "run")
    result = exp.run()
    assert result.state == "finished"
    ((proj, before),) = made  # parallel_mse: student 32 -> teacher 48
    assert proj.weight.shape == (48, 32) and not torch.equal(proj.weight, before)
    info = result.eval["teacher_info"]
    (wide,) = info["teachers"]
    assert wide["model"] == str(wide_teacher_dir) and wide["head"] == "fitted"
    assert set(wide["test_accuracy"]) == {"en", "it"} and info["teacher_mix"]["mode"] == "average"
    assert exp.folder.extra_teacher_cache_path(1).is_file()


class _Encoded:
    """Count the texts each teacher's encoder runs on (``TeacherCache._encode``)."""

    def __init__(self, monkeypatch) -> None:
        self.texts: dict[int, Counter] = {}
        encode = TeacherCache._encode
        counts = self.texts

        def spy(cache, todo, progress):
            counts.setdefault(id(cache.teacher), Counter()).update(todo)
            return encode(cache, todo, progress)

        monkeypatch.setattr(TeacherCache, "_encode", spy)


class _StopInStudent:
    def __init__(self, step: int) -> None:
        self.step, self.now = step, (None, 0)

    def on_step(self, phase, step, total_steps, logs):
        self.now = (phase, step)

    def should_stop(self):
        return self.now[0] == "student" and self.now[1] >= self.step

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def test_each_teacher_encodes_each_text_once_and_a_resume_reuses_every_cache(
    tiny_teacher_dir, tiny_csv, wide_teacher_dir, tmp_path, monkeypatch
):
    cfg = _config(
        tiny_teacher_dir,
        tiny_csv,
        [{"model": str(wide_teacher_dir), "languages": ["it"]}],
        baseline="false",
        **{"distill.teacher_mix": "per_language"},
    )
    run_dir = tmp_path / "run"
    encoded = _Encoded(monkeypatch)
    exp = Experiment(cfg, run_dir=run_dir, callbacks=[_StopInStudent(2)])
    assert exp.run().state == "stopped"
    assert len(encoded.texts) == 2  # two teachers, each encoder ran
    for counts in encoded.texts.values():
        assert max(counts.values()) == 1  # never a text twice
    extra = exp.state.extra_teachers[0]
    assert set(encoded.texts[id(extra.model)]) == set(extra.cache.index)
    assert exp.folder.teacher_cache_path.is_file()
    assert exp.folder.extra_teacher_cache_path(1).is_file()

    encoded.texts.clear()
    done = Experiment(cfg, run_dir=run_dir, resume=True)
    result = done.run()
    assert result.state == "finished" and encoded.texts == {}  # no encoder ran again
    info = result.eval["teacher_info"]
    (wide,) = info["teachers"]
    assert info["teacher_texts_encoded"] == 0 and info["cache_reused"] > 0
    assert wide["teacher_texts_encoded"] == 0 and wide["cache_reused"] == len(extra.cache)


def test_a_sweep_shares_each_teachers_cache_and_head(
    tiny_teacher_dir, tiny_csv, wide_teacher_dir, tmp_path, monkeypatch
):
    from xkd.experiment.shared import SharedStore

    store = SharedStore(tmp_path / "shared")
    infos = []
    for weight in (10.0, 5.0):  # two members differing only in the recipe
        cfg = _config(tiny_teacher_dir, tiny_csv, [{"model": str(wide_teacher_dir)}])
        cfg["distill"]["losses"][0]["weight"] = weight
        cfg["train"]["epochs"] = 1
        result = Experiment(cfg, run_dir=tmp_path / f"w{weight:g}", shared=store).run()
        infos.append(result.eval["teacher_info"])
    first, second = infos
    assert first["teachers"][0]["teacher_texts_encoded"] > 0
    assert second["teacher_texts_encoded"] == 0 and second["cache_shared"] > 0
    (wide,) = second["teachers"]
    assert wide["teacher_texts_encoded"] == 0 and wide["cache_shared"] > 0
    assert wide["head_shared"] is True
    assert wide["test_accuracy"] == first["teachers"][0]["test_accuracy"]


def test_one_teacher_runs_as_before_and_copies_of_it_change_nothing(
    tiny_teacher_dir, tiny_csv, tmp_path
):
    single = Experiment(_config(tiny_teacher_dir, tiny_csv), run_dir=tmp_path / "one")
    one = single.run()
    assert single.state.mix is None and single.state.extra_teachers == []
    assert "teachers" not in one.eval["teacher_info"]
    assert not single.folder.extra_teacher_cache_path(1).exists()
    # per language, a copy of the teacher for `it`: the same soft labels and embeddings, so
    # the very same run
    copy = [{"model": str(tiny_teacher_dir), "languages": ["it"]}]
    cfg = _config(tiny_teacher_dir, tiny_csv, copy, **{"distill.teacher_mix": "per_language"})
    per_language = Experiment(cfg, run_dir=tmp_path / "per-language")
    same = per_language.run()
    assert _languages(same) == _languages(one)
    assert any(": en learns from the first teacher" in n for n in per_language.state.notes)
    # averaged with a copy (weight 3): the mixture of equal distributions is that distribution
    cfg = _config(tiny_teacher_dir, tiny_csv, [{"model": str(tiny_teacher_dir), "weight": 3}])
    averaged = Experiment(cfg, run_dir=tmp_path / "average").run()
    for lang, entry in _languages(one).items():
        again = _languages(averaged)[lang]
        for model in ("teacher", "student", "baseline"):
            assert again[model]["accuracy"] == entry[model]["accuracy"]
        assert again["kl"] == pytest.approx(entry["kl"], rel=1e-3, abs=1e-7)


# ------------------------------------------------------------------------------ bad configs


@pytest.mark.parametrize(
    "extra, match",
    [
        ({"teachers": [{"model": "minilm", "langs": ["de"]}]}, r"teachers\[0\]\.langs.*languages"),
        ({"teachers": [{"weight": 2.0}]}, r"missing config key.*teachers\[0\]\.model"),
        ({"distill": {"teacher_mix": "per_language"}}, r"`teachers` is empty"),
        ({"distill": {"teacher_weight": 2.0}}, r"distill\.teacher_weight=2.*empty"),
        (
            {"teachers": ["minilm"], "distill": {"teacher_mix": "vote"}},
            r"use average or per_language",
        ),
        ({"teachers": [{"model": "minilm", "languages": ["de"]}]}, r"teacher_mix: per_language"),
        (
            {"teachers": [{"model": "minilm"}], "distill": {"teacher_mix": "per_language"}},
            r"teachers\[0\] has no languages",
        ),
        (
            {
                "teachers": [
                    {"model": "a", "languages": ["de"]},
                    {"model": "b", "languages": ["fr", "de"]},
                ],
                "distill": {"teacher_mix": "per_language"},
            },
            r"'de' is in teachers\[0\]\.languages and teachers\[1\]\.languages",
        ),
        ({"teachers": [{"model": "minilm", "weight": 0}]}, r"teachers\[0\]\.weight=0"),
        ({"teachers": [{"model": "minilm", "freeze": "top"}]}, r"teachers\[0\]\.freeze='top'"),
        (
            {
                "teachers": [{"model": "minilm", "languages": ["de"], "weight": 2}],
                "distill": {"teacher_mix": "per_language"},
            },
            r"teachers\[0\]\.weight=2 only weighs distill\.teacher_mix: average",
        ),
    ],
)
def test_bad_teacher_settings_name_the_key(extra, match):
    from xkd.presets import preset

    with pytest.raises(ConfigError, match=match):
        C.from_dict(C.merge(preset("demo"), extra))


def test_teachers_from_the_command_line():
    data = C.set_key(C.set_key({}, "teachers=minilm,runs/r1/teacher"), "distill.losses=kl")
    cfg = C.from_dict(data)
    assert [t.model for t in cfg.teachers] == ["minilm", "runs/r1/teacher"]
    data = C.set_key({"distill": {"losses": ["kl"]}}, 'teachers=[{model: minilm, freeze: "top:2"}]')
    assert C.from_dict(data).teachers[0].freeze == "top:2"


def _loaded(cfg, tmp_path):
    exp = Experiment(cfg, run_dir=tmp_path / "r")
    exp.load_data()
    exp.load_teacher()
    return exp


def test_a_teacher_whose_head_predicts_other_labels_is_refused(
    tiny_teacher_dir, tiny_csv, tmp_path
):
    from xkd.testing.models import tiny_model

    other = tmp_path / "other"
    tiny_model(labels=("x", "y"), texts=make_parallel_frame()["text"].tolist()).save_pretrained(
        other
    )
    cfg = _config(tiny_teacher_dir, tiny_csv, [{"model": str(other)}])
    with pytest.raises(ConfigError, match=r"teachers\[0\]\.model=.*labels \['x', 'y'\].*refit"):
        _loaded(cfg, tmp_path)


def test_a_language_the_run_does_not_have_is_refused(tiny_teacher_dir, tiny_csv, tmp_path):
    teachers = [{"model": str(tiny_teacher_dir), "languages": ["de"]}]
    cfg = _config(tiny_teacher_dir, tiny_csv, teachers, **{"distill.teacher_mix": "per_language"})
    with pytest.raises(
        ConfigError, match=r"teachers\[0\]\.languages: de is not a language of this run \(en, it\)"
    ):
        _loaded(cfg, tmp_path)


@pytest.mark.parametrize(
    "losses, match",
    [
        ("[{name: hidden_mse}]", r"hidden_mse\] reads one teacher's token features"),
        (
            "[{name: kl, params: {temperature: 1.5}}]",
            r"temperature 1\.5 is not distill\.temperature",
        ),
    ],
)
def test_losses_that_several_teachers_cannot_feed_are_refused(
    tiny_teacher_dir, tiny_csv, tmp_path, losses, match
):
    cfg = _config(tiny_teacher_dir, tiny_csv, [{"model": str(tiny_teacher_dir)}])
    C.set_key(cfg, f"distill.losses={losses}")
    exp = _loaded(cfg, tmp_path)
    exp.build_student()
    with pytest.raises(ConfigError, match=match):
        exp.build_losses()


# ------------------------------------------------------------------------- two processes


@pytest.mark.slow
def test_two_processes_cache_and_mix_every_teacher_like_one(tmp_path, tiny_csv, wide_teacher_dir):
    """torchrun, 2 CPU processes: each teacher's texts are split between the processes and
    gathered, its head broadcast; the run matches the one-process run (dropout-free models)."""
    import json

    from tests.test_processes import _argv, _commands, _only_run, _run, _same_metrics
    from xkd.testing.models import tiny_model

    frame = make_parallel_frame()
    teacher = tmp_path / "teacher"
    tiny_model(labels=None, texts=frame["text"].tolist(), layers=2, hidden=32).save_pretrained(
        teacher
    )
    config = json.loads((teacher / "config.json").read_text())
    config |= {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
    (teacher / "config.json").write_text(json.dumps(config))
    teachers = json.dumps([{"model": str(wide_teacher_dir), "weight": 2.0}])
    cmds = _commands(teacher, tiny_csv, teachers=teachers, **{"train.alignment_points": 0})
    assert any(s.startswith("teachers=") for s in cmds["set_arguments"])
    _run(_argv(cmds["xkd"], tmp_path / "one"))
    _run(_argv(cmds["torchrun"], tmp_path / "two"))
    one, two = _only_run(tmp_path / "one"), _only_run(tmp_path / "two")
    n_eval = int(frame.query("split == 'test' and language == 'en'").shape[0])
    _same_metrics(one, two, n_eval)  # up to fp32 reordering (CI: 1.4e-4 at step 6 of 2.08)
    infos = [json.loads((run / "eval.json").read_text())["teacher_info"] for run in (one, two)]
    assert infos[0]["teachers"][0]["test_accuracy"] == infos[1]["teachers"][0]["test_accuracy"]
    assert (two / "cache" / "teacher-1.safetensors").is_file()
