"""The trained target model as a download: `target_weights(config, strategy)` of the torch demos.

The bytes are a safetensors state_dict; loaded into a fresh model of the demo they must score
what the page's run reported for that strategy, on the run's own target test set: to rounding,
since the download trains its one model alone where the run trains like models stacked, and
measures the target test set alone where the run measures it beside the source's (conftest.py).
"""

from __future__ import annotations

import pytest
import torch
from conftest import one_example
from safetensors.torch import load

from tl_core import engine
from tl_core.demos import cnn, rnn

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


def cnn_case():
    config = cnn.Config(n_target=2, epochs=5, source_epochs=3, seed=3)
    return config, lambda n_classes: cnn.SmallCNN(n_classes), cnn.target_domain(config)


def rnn_case():
    config = rnn.Config(scenario="shift", n_target=3, epochs=5, seed=2)
    return config, rnn.model_factory(config), rnn.domains(config, "cpu")[1]


CASES = {"cnn": (cnn, cnn_case), "rnn": (rnn, rnn_case)}


@pytest.mark.parametrize("demo", CASES)
def test_weights_load_into_a_fresh_model_that_scores_what_the_run_reported(demo):
    module, case = CASES[demo]
    config, make_model, target = case()
    result = module.run(config)
    for strategy in ("scratch", "source_only", "feature_extraction", "fine_tune", "joint"):
        blob = module.target_weights(config, strategy)
        state = load(blob)
        assert all(t.device.type == "cpu" and t.is_contiguous() for t in state.values())
        model = make_model(target.n_classes)
        model.load_state_dict(state)  # strict: every parameter present, nothing extra
        scores = engine.evaluate(model, target)
        reported = result.strategy(strategy).target_metric
        assert scores["accuracy"] == pytest.approx(reported, abs=one_example(len(target.y_test))), strategy


@pytest.mark.parametrize("demo", CASES)
def test_strategies_give_different_models_and_a_dict_config_works(demo):
    module, case = CASES[demo]
    config, _, _ = case()
    scratch = load(module.target_weights(config.to_dict(), "scratch"))
    fine_tune = load(module.target_weights(config, "fine_tune"))
    assert scratch.keys() == fine_tune.keys()
    assert any(not torch.equal(scratch[k], fine_tune[k]) for k in scratch)
    assert module.target_weights(config.to_dict(), "scratch") == module.target_weights(config, "scratch")


@pytest.mark.parametrize("demo", CASES)
def test_unknown_or_inapplicable_strategy_is_a_value_error_naming_the_allowed(demo):
    module, case = CASES[demo]
    config, _, _ = case()
    with pytest.raises(ValueError, match="scratch, .*fine_tune.*got 'bogus'"):
        module.target_weights(config, "bogus")
    new_classes = config.replace(scenario="new_classes")
    with pytest.raises(ValueError, match="got 'source_only'") as error:
        module.target_weights(new_classes, "source_only")
    assert "source_only" not in str(error.value).split(", got")[0]
