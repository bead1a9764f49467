import pytest

from core import DataConfig, RunConfig
from core.config import ConfigError, OptimConfig


def test_round_trip_and_partial_dicts():
    config = RunConfig()
    assert RunConfig.from_dict(config.to_dict()) == config
    partial = RunConfig.from_dict({"optim": {"epochs": 3}, "device": "cpu"})
    assert partial.optim.epochs == 3 and partial.device == "cpu" and partial.frame == config.frame


@pytest.mark.parametrize("raw, message", [
    ({"optim": {"epochs": 0}}, "optim.epochs"),
    ({"frame": {"head": "softmax"}}, "frame.head"),
    ({"data": {"name": "imagenet"}}, "data.name"),
    ({"optim": {"learning_rate": 1}}, "unknown key(s) in 'optim'"),
    ({"colour": "red"}, "unknown config key"),
    ({"frame": {"mapping": "cubic"}}, "frame.mapping"),
    ({"frame": {"min_similarity": "lots"}}, "frame.min_similarity"),
    ({"optim": {"alpha": -0.1}}, "optim.alpha/beta"),
    ({"model": {"width": 0}}, "model.width"),
])
def test_bad_values_name_the_field(raw, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RunConfig.from_dict(raw)


def test_frozen():
    with pytest.raises(AttributeError):
        OptimConfig().epochs = 3


def test_min_similarity_is_typed_and_old_files_still_read():
    from core.config import FrameConfig

    assert FrameConfig(min_similarity=0.25).min_similarity == 0.25
    assert RunConfig.from_dict({"frame": {"min_similarity": "0.25"}}).frame.min_similarity == 0.25  # old config.json
    assert RunConfig.from_dict({"frame": {"min_similarity": "grid"}}).frame.min_similarity == "grid"
    raw = RunConfig(frame=FrameConfig(min_similarity=-0.1)).to_dict()
    assert raw["frame"]["min_similarity"] == -0.1 and RunConfig.from_dict(raw).frame.min_similarity == -0.1
    for bad in ("lots", 1.5, float("nan"), True):
        with pytest.raises(ConfigError, match="frame.min_similarity"):
            FrameConfig(min_similarity=bad)


def test_build_config_applies_the_rules_in_one_place():
    from core.build import build_config

    plain = build_config({})
    assert plain == RunConfig() and plain.recipe == "cpu"
    config = build_config({"dataset": "fashion_mnist", "alpha": 0.7, "seed": 3, "epochs": 2.0,
                           "min_similarity": "0.25", "lr": None})
    assert config.data.hierarchy == "fashion_mnist" and config.data.limit_train == 0  # no silent cap
    assert config.optim.beta == pytest.approx(0.3) and config.optim.epochs == 2 and config.optim.lr == 0.05
    assert config.seed == config.data.seed == config.frame.seed == 3
    assert config.frame.min_similarity == 0.25
    assert build_config({"alpha": 2}).optim.beta == 1.0  # METHOD.md §6: α > 1 keeps β = 1
    assert build_config({"alpha": 0.2, "beta": 0.5}).optim.beta == 0.5
    assert build_config({"hierarchy": "cifar100", "data_seed": 9, "seed": 1}).data.seed == 9
    assert build_config({"eval_batch_size": 64, "batch_size": 8}).evaluation.batch_size == 64


def test_recipes_are_presets_every_field_overridable():
    from core.build import build_config
    from core.recipes import RECIPES

    assert {"cpu", "cifar100", "fgvc", "inat19", "tiered"} <= set(RECIPES.names())
    fgvc = dict(RECIPES.get("fgvc").settings)
    assert fgvc["gamma"] == 1.0 and fgvc["alpha"] == 0.5 and fgvc["lr"] == 0.01 and fgvc["head_lr"] == 0.1
    try:  # the paper recipes name datasets that core.data may not register yet
        config = build_config({"recipe": "cifar100", "epochs": 3, "gamma": 1.5})
    except ConfigError as err:
        assert "data.name" in str(err)
    else:
        assert config.recipe == "cifar100" and config.model.backbone == "wrn28_8"
        assert config.optim.epochs == 3 and config.frame.gamma == 1.5 and config.optim.beta == pytest.approx(0.6)
        assert RunConfig.from_dict(config.to_dict()).recipe == "cifar100"


@pytest.mark.parametrize("choices, message", [
    ({"recipe": "imagenet"}, "unknown recipe 'imagenet'"),
    ({"colour": "red"}, "unknown setting 'colour'"),
    ({"epochs": 2.5}, "epochs must be a whole number"),
    ({"epochs": 0}, "optim.epochs"),
    ({"min_similarity": "lots"}, "frame.min_similarity"),
])
def test_build_config_names_the_bad_setting(choices, message):
    from core.build import build_config

    with pytest.raises(ConfigError, match=message):
        build_config(choices)


def test_cpu_recipe_sizes_fashion_mnist_for_a_cpu_and_choices_still_win():
    from core.build import build_config

    default = build_config({"dataset": "fashion_mnist"})
    assert (default.optim.epochs, default.optim.batch_size, default.data.limit_train) == (2, 128, 0)
    assert build_config({"dataset": "fashion_mnist", "epochs": 5}).optim.epochs == 5
    assert build_config({}).optim.epochs == 8  # the synthetic default is unchanged


def test_snapshot_cap_fields_are_stored_and_old_runs_read():
    config = RunConfig(data=DataConfig(snapshot_size=300, snapshot_dtype="float32"))
    assert config.to_dict()["data"]["snapshot_dtype"] == "float32"
    assert RunConfig.from_dict(config.to_dict()) == config
    old = RunConfig().to_dict()
    del old["data"]["snapshot_dtype"]  # config.json written before the field existed
    assert RunConfig.from_dict(old).data.snapshot_dtype == "float16"
    with pytest.raises(ConfigError, match="data.snapshot_dtype"):
        DataConfig(snapshot_dtype="int8")
