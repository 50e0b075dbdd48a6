"""The Lab's form model (xkd.app.form): defaults from the config classes, round trips, errors."""

from __future__ import annotations

import dataclasses

import pytest

from xkd.app import form as F
from xkd.app.form import LabForm, LossRow
from xkd.config import DataConfig, DistillConfig, RunConfig, TrainConfig, from_dict, merge
from xkd.errors import ConfigError
from xkd.presets import PRESETS, preset


def test_form_defaults_are_the_config_defaults():
    form = LabForm()
    assert form == LabForm.from_config(RunConfig())
    assert form.epochs == TrainConfig().epochs and form.lr == TrainConfig().lr
    assert form.temperature == DistillConfig().temperature
    assert form.max_length == DataConfig().max_length
    assert form.data_kind == "demo" and form.losses == []


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_round_trips_through_the_form(name):
    cfg = from_dict(preset(name))
    form = LabForm.from_config(cfg)
    assert form == LabForm.from_config(preset(name))  # a partial dict is read over the defaults
    assert form.to_config() == cfg
    assert LabForm.from_config(form.to_config()) == form
    # and through the widget state, as the page reads it back
    state = form.to_state()
    again = LabForm.from_state(
        state,
        data_path=form.data_path,
        source_language=state[F.KEY_SOURCE_LANGUAGE],
        target_languages=state[F.KEY_TARGET_LANGUAGES],
        losses=state[F.KEY_LOSS_ROWS],
    )
    assert again == form and again.to_config() == cfg


def test_two_hidden_mse_terms_on_different_layers_round_trip():
    cfg = from_dict(
        merge(
            preset("compress"),
            {
                "distill": {
                    "losses": [
                        {"name": "kl", "weight": 1.0},
                        {
                            "name": "hidden_mse",
                            "weight": 0.5,
                            "params": {"layer_map": [[1, 2], [2, 4]], "features": "both"},
                        },
                        {"name": "hidden_mse", "weight": 2.0, "params": {"layer_map": [[2, 6]]}},
                    ]
                }
            },
        )
    )
    form = LabForm.from_config(cfg)
    assert [r.layer_map for r in form.losses] == ["", "1:2, 2:4", "2:6"]
    assert form.losses[1].params == "{features: both}"
    assert form.to_config() == cfg
    assert LabForm.from_config(form.to_config()) == form


def test_a_cloned_config_keeps_the_keys_the_form_does_not_show():
    config = merge(preset("demo"), {"run_id": "old", "train": {"seed": 7, "max_steps": 3}})
    form = LabForm.from_config(config)  # a run's config.yaml may carry its run_id
    form.epochs = 1.0
    cfg = form.to_config()
    assert cfg.train.seed == 7 and cfg.train.max_steps == 3 and cfg.train.epochs == 1.0
    base = {**from_dict(preset("demo")).to_dict(), "run_id": "r1"}
    assert form.to_config(base=base).train.seed == 0  # another base, its keys


def test_an_invalid_config_still_fills_the_form():
    form = LabForm.from_config({"train": {"freeze": "sideways"}, "distill": {"losses": ["kl:2"]}})
    assert form.freeze == "sideways"
    assert form.losses == [LossRow(name="kl", weight=2.0)]
    with pytest.raises(ConfigError, match="train.freeze"):
        form.to_config()


def test_form_errors_are_config_errors():
    form = LabForm.from_config(preset("demo"))
    change = dataclasses.replace
    with pytest.raises(ConfigError, match="train.freeze"):
        change(form, freeze="sideways").to_config()
    with pytest.raises(ConfigError, match="epochs"):
        change(form, epochs="abc").to_config()
    with pytest.raises(ConfigError, match="unknown loss"):
        change(form, losses=[LossRow("nope")]).to_config()
    with pytest.raises(ConfigError, match="at least one loss"):
        change(form, losses=[]).to_config()
    with pytest.raises(ConfigError, match="params"):
        change(form, losses=[LossRow("kl", params="[1")]).to_config()
    with pytest.raises(ConfigError, match="gamma"):
        change(form, losses=[LossRow("focal_kd", params="{gamma: -1}")]).to_config()
    with pytest.raises(ConfigError, match="layer mapping"):
        change(form, losses=[LossRow("hidden_mse", layer_map="1->2")]).to_config()
    with pytest.raises(ConfigError, match="no layer mapping"):
        change(form, losses=[LossRow("kl", layer_map="last")]).to_config()


def test_layer_map_text_round_trips():
    assert F.parse_layer_map("1:2, 2:4") == [[1, 2], [2, 4]]
    assert F.parse_layer_map("last") == "last" and F.parse_layer_map("") == "auto"
    assert F.layer_map_text([[1, 2], [3, 4]]) == "1:2, 3:4"
    rows = F.losses_from_rows(
        [{"name": "attention_kl", "weight": 1, "layer_map": "3:6"}], temperature=2.0
    )
    assert rows == [{"name": "attention_kl", "weight": 1.0, "params": {"layer_map": [[3, 6]]}}]


def test_apply_to_state_keeps_typed_values_unless_forced():
    state = {F.KEY_EPOCHS: 9.0}
    demo = LabForm.from_config(preset("demo"))
    F.apply_to_state(demo, state, force=False)
    assert state[F.KEY_EPOCHS] == 9.0 and state[F.KEY_TEACHER] == "minilm"
    assert F.loss_editor_key(state) == "lab_losses_v1"
    F.apply_to_state(LabForm.from_config(preset("compress")), state, force=True)
    assert state[F.KEY_EPOCHS] == 3.0 and state[F.KEY_STUDENT] == "from-teacher:2"
    assert F.loss_editor_key(state) == "lab_losses_v2"  # replaced rows get a fresh editor
    assert state[F.KEY_SAVED].student == "from-teacher:2"
    assert [r["name"] for r in state[F.KEY_LOSS_ROWS]] == ["kl", "hidden_mse"]
    assert set(F.WIDGET_KEYS) | {"data_path", "source_language", "target_languages"} | {
        "losses",
        "base",
    } == {f.name for f in dataclasses.fields(LabForm)}
