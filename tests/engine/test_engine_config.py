import pytest

from mmbss.engine.config import (
    Config,
    ConfigError,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    diff_configs,
    load_config,
)


def test_yaml_then_overrides(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train: {epochs: 7}\nmethod: {name: bss-cl, lambda0: 1}\n")
    cfg = load_config(f, ["train.epochs=3", "data.options={views: [pix, fac]}"])
    assert cfg.train.epochs == 3 and cfg.method.name == "bss-cl"
    assert cfg.method.lambda0 == 1.0 and isinstance(cfg.method.lambda0, float)
    assert cfg.data.options == {"views": ["pix", "fac"]}


def test_unknown_keys_listed_with_close_match():
    with pytest.raises(ConfigError, match=r"unknown config key 'train.epoch'; valid keys here: .*train.epochs.* Did you mean 'train.epochs'\?"):
        apply_overrides(Config(), ["train.epoch=3"])
    with pytest.raises(ConfigError, match=r"unknown config key 'trian'.*Did you mean 'train'\?"):
        config_from_dict({"trian": {"epochs": 1}})


def test_wrong_type_names_key():
    with pytest.raises(ConfigError, match=r"config key 'train.epochs' must be of type int; got 'ten' \(str\)"):
        apply_overrides(Config(), ["train.epochs=ten"])
    with pytest.raises(ConfigError, match=r"config key 'train.batch_size' must be of type int; got 2.5"):
        config_from_dict({"train": {"batch_size": 2.5}})
    with pytest.raises(ConfigError, match=r"--set expects key=value"):
        apply_overrides(Config(), ["train.epochs"])


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_config(bad)


def test_round_trip_and_diff():
    cfg = apply_overrides(Config(), ["method.name=anti", "train.seed=4"])
    again = config_from_dict(config_to_dict(cfg))
    assert config_to_dict(again) == config_to_dict(cfg)
    assert diff_configs(config_to_dict(Config()), config_to_dict(cfg)) == [
        "method.name: 'bss-lb' -> 'anti'", "train.seed: 0 -> 4"]


def test_optional_types_checked_by_key():
    cfg = apply_overrides(Config(), ["method.rescore_every=3", "method.temperature=1",
                                     "method.correlation=null"])
    assert cfg.method.rescore_every == 3 and cfg.method.temperature == 1.0
    assert cfg.method.correlation is None
    with pytest.raises(ConfigError, match=r"config key 'method.rescore_every' must be of type int or null; got 'x'"):
        apply_overrides(Config(), ["method.rescore_every=x"])
    with pytest.raises(ConfigError, match=r"config key 'model.encoder' must be of type str or dict; got 3"):
        apply_overrides(Config(), ["model.encoder=3"])
