"""Config: strict building from dicts/YAML/--set, validation, presets."""

from __future__ import annotations

import pytest

from xkd import config as C
from xkd.cli import build_config
from xkd.errors import ConfigError
from xkd.presets import PRESETS


def test_defaults_build_and_roundtrip_yaml(tmp_path):
    cfg = build_config(None, "demo", [])
    path = tmp_path / "c.yaml"
    path.write_text(cfg.to_yaml())
    again = C.from_dict(C.load_yaml(path))
    assert again == cfg


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_valid(name):
    cfg = C.from_dict(PRESETS[name])
    assert cfg.distill.losses


def test_unknown_key_names_the_key_and_lists_valid_ones():
    with pytest.raises(ConfigError, match=r"train\.epoks.*train\.epochs"):
        C.from_dict({"train": {"epoks": 2}, "distill": {"losses": ["kl"]}})


def test_wrong_type_names_the_key():
    with pytest.raises(ConfigError, match=r"train\.batch_size"):
        C.from_dict({"train": {"batch_size": "many"}, "distill": {"losses": ["kl"]}})


@pytest.mark.parametrize(
    "override, match",
    [
        ("distill.temperature=0", "temperature"),
        ("distill.temperature=-1", "temperature"),
        ("distill.alpha=1.5", "alpha"),
        ("distill.alpha=-0.1", "alpha"),
        ("train.freeze=top:x", "freeze"),
        ("model.pooling=max", "pooling"),
        ("data.target_languages=en,it", "source language"),
    ],
)
def test_validation_errors(override, match):
    with pytest.raises(ConfigError, match=match):
        build_config(None, "demo", [override])


def test_set_overrides_and_comma_lists():
    cfg = build_config(
        None,
        "demo",
        [
            "data.target_languages=it,de",
            "train.epochs=2",
            "train.seed=7",
            "baseline=false",
            "teacher=./t",
        ],
    )
    assert cfg.data.target_languages == ["it", "de"]
    assert cfg.train.epochs == 2 and cfg.train.seed == 7
    assert cfg.baseline is False and cfg.teacher == "./t"


def test_set_requires_key_value():
    with pytest.raises(ConfigError, match="key=value"):
        build_config(None, "demo", ["train.epochs"])


def test_loss_shorthand_and_params():
    cfg = C.from_dict(
        {"distill": {"losses": ["kl:2", {"name": "focal_kd", "params": {"gamma": 1}}]}}
    )
    assert cfg.distill.losses[0].name == "kl" and cfg.distill.losses[0].weight == 2
    assert cfg.distill.losses[1].params == {"gamma": 1}


def test_yaml_file_merges_over_preset(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: 1\n")
    cfg = build_config(str(path), "demo", [])
    assert cfg.train.epochs == 1 and cfg.student == PRESETS["demo"]["student"]


def test_bad_yaml_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        build_config(str(path), None, [])
    with pytest.raises(ConfigError, match="does not exist"):
        build_config(str(tmp_path / "missing.yaml"), None, [])


def test_field_help_covers_every_key():
    helps = C.field_help()
    assert "distill.temperature" in helps and all(helps.values())


def test_hidden_mse_lambda_is_refused_with_what_to_write():
    data = {
        "distill": {
            "losses": [
                {"name": "hidden_mse", "weight": 0.5, "params": {"lambda": 3, "align": "mean"}}
            ]
        }
    }
    with pytest.raises(ConfigError) as err:
        C.from_dict(data)
    msg = str(err.value)
    assert "distill.losses[hidden_mse]: 'lambda' was removed" in msg
    assert "put the factor in the term's weight: {name: hidden_mse, weight: 1.5}" in msg
    data["distill"]["losses"][0]["params"]["lambda"] = "big"  # not a number: a placeholder
    with pytest.raises(ConfigError, match=r"weight: <weight\*lambda>"):
        C.from_dict(data)


def test_hard_label_ce_is_configured_once():
    with pytest.raises(ConfigError, match="'alpha' is no longer a loss parameter; set distill"):
        C.from_dict({"distill": {"losses": [{"name": "kl", "params": {"alpha": 0.5}}]}})
    with pytest.raises(ConfigError, match=r"distill.alpha=0.5 already adds the hard-label CE"):
        C.from_dict({"distill": {"alpha": 0.5, "losses": ["ce", "kl"]}})
    cfg = C.from_dict({"distill": {"alpha": 0.0, "losses": ["ce:0.5", "kl"]}})
    assert [(x.name, x.weight) for x in cfg.distill.losses] == [("ce", 0.5), ("kl", 1.0)]


def test_presets_keep_their_objective_with_alpha_applied_once():
    # compress: alpha used to scale only kl; hidden_mse now sits inside (1 - alpha) * sum, so
    # its weight doubles to keep 0.5*CE + 0.5*KL + 1*hidden_mse
    compress = C.from_dict(PRESETS["compress"]).distill
    assert compress.alpha == 0.5
    assert [(x.name, x.weight) for x in compress.losses] == [("kl", 1.0), ("hidden_mse", 2.0)]
    demo = C.from_dict(PRESETS["demo"]).distill
    assert demo.alpha == 0.0 and demo.temperature == 3.0


def test_an_unquoted_no_is_the_word_for_a_text_setting():
    """YAML reads ``no`` as false: ``--set train.mixed_precision=no`` (and the same in a YAML
    file) means the word, not an error about 'False'."""
    from xkd.config_parse import set_key

    base = PRESETS["demo"]
    data = set_key(dict(base), "train.mixed_precision=no")
    assert C.from_dict(data).train.mixed_precision == "no"
    data = {**base, "train": {**base["train"], "mixed_precision": False}}
    assert C.from_dict(data).train.mixed_precision == "no"
