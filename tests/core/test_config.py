import pytest

from core import RunConfig
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
