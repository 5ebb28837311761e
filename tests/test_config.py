"""Typed config: YAML onto dataclasses, strict keys, key=value overrides."""

import pytest
import yaml

from skelssl.config import build_config, load_config, parse_override, save_config, to_dict
from skelssl.errors import SkelsslError


def test_defaults_come_from_the_method_and_its_encoder_preset():
    config = load_config("simclr")
    assert config.method == "simclr"
    assert type(config.params).__name__ == "SimCLRConfig"
    assert config.encoder.name in ("gru", "stgcn")


def test_overrides_and_shortcuts_set_nested_fields():
    config = load_config(
        "simclr", None, ["epochs=3", "batch_size=16", "seed=7", "lr=0.5", "data.preprocess.frames=20",
                         "encoder.hidden_size=8", "params.temperature=0.2"]
    )  # fmt: skip
    assert (config.train.epochs, config.train.batch_size, config.train.seed) == (3, 16, 7)
    assert config.train.lr == 0.5
    assert config.data.preprocess.frames == 20
    assert config.encoder.hidden_size == 8
    assert config.params.temperature == pytest.approx(0.2)


def test_another_method_over_a_file_leaves_the_file_s_params_behind(tmp_path):
    """``method=random`` on an MS²L config reads its encoder and data, not its params."""
    path = tmp_path / "ms2l.yaml"
    path.write_text(yaml.safe_dump({"method": "ms2l", "params": {"motion_target": "whole"},
                                    "encoder": {"hidden_size": 7}}))  # fmt: skip
    random = load_config(None, path, ["method=random", "params.bn_statistics=batch"])
    assert random.method == "random" and random.encoder.hidden_size == 7
    assert random.params.bn_statistics == "batch"
    assert load_config(None, path, ["method=ms2l"]).params.motion_target == "whole"
    with pytest.raises(SkelsslError, match="params.motion_target"):
        load_config(None, path, ["method=random", "params.motion_target=whole"])


@pytest.mark.parametrize(
    "override, problem",
    [
        ("train.epoch=3", "unknown key config.train.epoch"),
        ("params.temprature=0.1", "unknown key params.temprature"),
        ("encoder.depth=3", "unknown key encoder.depth"),
        ("train.epochs=three", "must be int"),
        ("train.amp=1", "must be true or false"),
        ("nonsense", "key=value"),
    ],
)
def test_bad_keys_and_values_are_errors(override, problem):
    with pytest.raises(SkelsslError, match=problem):
        load_config("simclr", None, [override])


def test_unknown_method_is_an_error():
    with pytest.raises(SkelsslError, match="unknown method 'moco'"):
        load_config("moco")


def test_yaml_file_and_round_trip(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("method: simclr\ntrain:\n  epochs: 4\ndata:\n  preprocess:\n    frames: 16\n")
    config = load_config("simclr", path, ["epochs=5"])
    assert config.train.epochs == 5 and config.data.preprocess.frames == 16
    save_config(config, tmp_path / "resolved.yaml")
    again = build_config(yaml.safe_load((tmp_path / "resolved.yaml").read_text()))
    assert to_dict(again) == to_dict(config)


def test_config_for_another_method_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("method: supervised\n")
    with pytest.raises(SkelsslError, match="not 'simclr'"):
        load_config("simclr", path)


def test_invalid_yaml_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("train: [unclosed\n")
    with pytest.raises(SkelsslError, match="broken.yaml"):
        load_config("simclr", path)


def test_parse_override_reads_yaml_values():
    assert parse_override("train.milestones=[20, 50]") == (["train", "milestones"], [20, 50])
    assert parse_override("epochs=3") == (["train", "epochs"], 3)


def test_exponent_without_dot_is_a_float():
    assert load_config("simclr", None, ["train.weight_decay=1e-6"]).train.weight_decay == 1e-6
