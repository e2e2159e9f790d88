"""What every demo promises the app and the command line, checked on each registered demo."""

import pytest

import tl_core
from tl_core.strategies import STRATEGIES, applicable

DEMOS = tl_core.available_demos()
CHEAP = [d for d in DEMOS if d in ("linear", "logistic")]  # numpy demos: run them freely


@pytest.mark.parametrize("demo", DEMOS)
def test_module_has_the_interface_the_app_reads(demo):
    module = tl_core.get_demo(demo)
    config = module.Config()  # valid with no arguments
    assert module.Config.demo == demo
    assert set(module.STRATEGIES) <= set(STRATEGIES) and module.STRATEGIES[0] == "scratch"
    assert list(module.STRATEGIES) == [s for s in STRATEGIES if s in module.STRATEGIES], "display order"
    for name in ("scenario", "gap", "n_target", "lam", "epochs", "lr", "seed", "strategies"):
        assert name in module.Config.field_names(), f"{demo} lacks the common field {name}"
    for spec in module.Config.fields():
        assert spec.help, f"{demo}.{spec.name} has no help text"
        assert spec.check(spec.default) == getattr(config, spec.name)
    for scenario, ignored in module.Config.ignored_by_scenario.items():
        assert scenario in module.Config.field("scenario").choices
        assert set(ignored) <= set(module.Config.field_names())
    assert callable(module.run) and callable(module.samples_figure) and callable(module.model_figure)


@pytest.mark.parametrize("demo", CHEAP)
def test_settings_a_scenario_ignores_change_nothing(demo):
    Config = tl_core.get_demo(demo).Config
    for scenario, ignored in Config.ignored_by_scenario.items():
        base = tl_core.run(demo, scenario=scenario)
        for name in ignored:
            spec = Config.field(name)
            other = (
                (not spec.default)
                if spec.kind is bool
                else (spec.high if spec.default != spec.high else spec.low)
            )
            changed = tl_core.run(demo, scenario=scenario, **{name: other})
            assert [s.target_metric for s in changed.strategies] == [
                s.target_metric for s in base.strategies
            ], f"{demo}/{scenario}: {name} is greyed out but changes the result"


@pytest.mark.parametrize("demo", CHEAP)
def test_result_carries_the_source_models_own_source_metric(demo):
    result = tl_core.run(demo)
    assert result.extras["source_model_metric"] == result.strategy("source_only").source_metric


def test_source_only_applies_only_where_the_classes_are_the_same():
    names = ("scratch", "source_only", "fine_tune")
    assert applicable(names, same_classes=True) == list(names)
    assert applicable(names, same_classes=False) == ["scratch", "fine_tune"]
