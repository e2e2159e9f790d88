"""Config fields check themselves: one message form for every bad value, from any entry point."""

from dataclasses import FrozenInstanceError, dataclass

import pytest

from tl_core.config import DemoConfig, device_field, param, seed_field


@dataclass(frozen=True)
class ToyConfig(DemoConfig):
    demo = "toy"
    scenario: str = param("a", "which scenario", choices=("a", "b"))
    gap: float = param(0.3, "how far apart", low=0.0, high=1.0)
    n_target: int = param(5, "labelled target samples", low=1, high=500)
    shuffle: bool = param(False, "shuffle first")
    strategies: tuple = param(("scratch", "fine_tune"), "strategies", choices=("scratch", "fine_tune"))
    seed: int = seed_field()
    device: str = device_field()


def test_defaults_are_valid_and_frozen():
    config = ToyConfig()
    assert config.gap == 0.3 and config.strategies == ("scratch", "fine_tune")
    with pytest.raises(FrozenInstanceError):
        config.gap = 0.5


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("gap", 1.7, "gap must be a number in [0, 1], got 1.7"),
        ("gap", float("nan"), "gap must be a number in [0, 1], got nan"),
        ("n_target", 2.5, "n_target must be an integer in [1, 500], got 2.5"),
        ("n_target", 0, "n_target must be an integer in [1, 500], got 0"),
        ("scenario", "c", "scenario must be one of a, b, got 'c'"),
        ("shuffle", "maybe", "shuffle must be true or false, got 'maybe'"),
        (
            "strategies",
            ("scratch", "magic"),
            "strategies must be a comma-separated subset of scratch, fine_tune",
        ),
        ("device", "tpu", "device must be one of auto, cpu, cuda, mps, got 'tpu'"),
    ],
)
def test_bad_value_names_field_value_and_what_is_allowed(field, value, expected):
    with pytest.raises(ValueError) as err:
        ToyConfig(**{field: value})
    assert expected in str(err.value)


def test_text_from_a_link_or_command_line_is_parsed_to_the_field_type():
    config = ToyConfig.from_dict(
        {"gap": "0.8", "n_target": "12", "shuffle": "true", "strategies": "fine_tune,scratch"}
    )
    assert (config.gap, config.n_target, config.shuffle) == (0.8, 12, True)
    assert config.strategies == ("fine_tune", "scratch")


def test_unknown_setting_is_an_error_listing_the_known_ones():
    with pytest.raises(ValueError, match="toy has no setting 'gapp'; it has scenario, gap"):
        ToyConfig.from_dict({"gapp": 1})


def test_specs_carry_range_and_help_for_widgets_and_help_text():
    spec = ToyConfig.field("gap")
    assert (spec.kind, spec.low, spec.high, spec.default) == (float, 0.0, 1.0, 0.3)
    assert spec.help == "how far apart"
    assert ToyConfig.field("scenario").choices == ("a", "b")


def test_to_dict_is_plain_and_round_trips():
    config = ToyConfig(gap=0.5)
    values = config.to_dict()
    assert values["strategies"] == ["scratch", "fine_tune"]
    assert ToyConfig.from_dict(values) == config


def test_a_hosts_cap_narrows_the_range_and_lowers_a_default_above_it(monkeypatch):
    from tl_core import config as config_module
    from tl_core.limits import Limits

    monkeypatch.setattr(config_module, "LIMITS", Limits(max_n_target=3))
    assert ToyConfig.field("n_target").high == 3
    assert ToyConfig().n_target == 3  # the default 5 is above the cap
    assert ToyConfig(n_target=2).n_target == 2
    with pytest.raises(ValueError, match=r"n_target must be an integer in \[1, 3\], got 4"):
        ToyConfig(n_target=4)


def test_caps_are_read_from_the_environment_with_clear_errors():
    from tl_core.limits import Limits

    assert Limits.from_environment({"TL_MAX_EPOCHS": "40"}).max_epochs == 40
    assert Limits.from_environment({}).max_epochs == Limits().max_epochs
    with pytest.raises(ValueError, match="TL_MAX_SEEDS must be a whole number >= 1, got 'lots'"):
        Limits.from_environment({"TL_MAX_SEEDS": "lots"})
    assert Limits.from_environment({"TL_TRAIN_IN_PROCESSES": "1"}).train_in_processes == 1
    assert Limits.from_environment({"TL_TRAIN_IN_PROCESSES": "0"}).train_in_processes == 0
    assert Limits.from_environment({}).train_in_processes is None  # unset: the memory decides
    for text in ("2", "yes", "-1"):
        with pytest.raises(ValueError, match=f"TL_TRAIN_IN_PROCESSES must be 0 or 1, got '{text}'"):
            Limits.from_environment({"TL_TRAIN_IN_PROCESSES": text})


def test_a_strategy_listed_twice_is_refused_naming_it():
    from tl_core.demos.linear import Config

    with pytest.raises(ValueError, match="lists fine_tune twice"):
        Config(strategies=("fine_tune", "regularized", "fine_tune"))
