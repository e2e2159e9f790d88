"""Link values: every control's value survives the trip through a link; bad values never pass."""

import pytest
from streamlit.testing.v1 import AppTest

import tl_core
from tl_app import controls
from tl_core.config import FieldSpec

GAP = FieldSpec("gap", float, 0.3, "gap", low=0.0, high=1.0)
N_TARGET = FieldSpec("n_target", int, 5, "labels", low=2, high=500)
STRATEGIES = FieldSpec(
    "strategies",
    tuple,
    ("scratch", "fine_tune"),
    "strategies",
    choices=("scratch", "source_only", "fine_tune"),
)
SCENARIO = FieldSpec("scenario", str, "synthetic", "scenario", choices=("synthetic", "diabetes"))
FLAG = FieldSpec("shift_inputs", bool, False, "flag")


@pytest.mark.parametrize("demo", tl_core.available_demos())
def test_every_field_of_every_demo_round_trips_through_link_text(demo):
    for spec in tl_core.get_demo(demo).Config.fields():
        for value in (spec.default, spec.low, spec.high):
            if value is None or (spec.kind in (int, float) and not isinstance(value, (int, float))):
                continue
            value = spec.check(value)
            assert controls.from_link(spec, controls.to_text(value)) == (value, None), spec.name


def test_out_of_range_numbers_are_clamped_with_a_reason_naming_the_range():
    value, why = controls.from_link(GAP, "1.7")
    assert value == 1.0
    assert "gap must be a number in [0, 1]" in why and "using 1 instead" in why
    assert controls.from_link(N_TARGET, "-4")[0] == 2
    assert controls.from_link(N_TARGET, "1e9")[0] == 500


@pytest.mark.parametrize("text", ["abc", "nan", "inf", "-inf", "", "0x1", "½", "3.5"])
def test_malformed_numbers_are_ignored_with_a_reason(text):
    value, why = controls.from_link(N_TARGET, text)
    if text == "3.5":  # a fraction of a sample is rounded, not refused
        assert value == 4 and why
    else:
        assert value is None and "ignored" in why


def test_strategy_lists_keep_their_known_members_only():
    value, why = controls.from_link(STRATEGIES, "fine_tune,bogus")
    assert value == ("fine_tune",) and "using fine_tune instead" in why
    value, why = controls.from_link(STRATEGIES, "bogus")
    assert value is None and "ignored" in why


def test_choices_and_flags_accept_only_their_values():
    assert controls.from_link(SCENARIO, "diabetes") == ("diabetes", None)
    assert controls.from_link(SCENARIO, "moon")[0] is None
    assert controls.from_link(FLAG, "true") == (True, None)
    assert controls.from_link(FLAG, "maybe")[0] is None


def test_a_very_long_link_value_is_not_parsed():
    value, why = controls.from_link(SCENARIO, "x" * 10_000)
    assert value is None and "10000 characters" in why


def test_visitor_text_cannot_become_markdown_links_latex_or_html():
    shown = controls.escape("[click](http://x) $x$ <b>")
    assert "](" not in shown and "$x$" not in shown and "<b>" not in shown


def test_the_log_ladder_steps_through_orders_of_magnitude_within_the_range():
    assert controls.ladder(0.0001, 1.0) == [
        0.0001,
        0.0002,
        0.0005,
        0.001,
        0.002,
        0.005,
        0.01,
        0.02,
        0.05,
        0.1,
        0.2,
        0.5,
        1.0,
    ]
    lam = controls.ladder(0.0, 10000.0, extra=(3.3, 20000.0))
    assert lam[:6] == [0.0, 0.1, 0.2, 0.5, 1.0, 2.0] and lam[-1] == 10000.0
    assert 3.3 in lam and 20000.0 not in lam  # extra values join only inside the range


def test_every_field_kind_gets_its_widget_and_a_range_capped_to_one_value_still_renders():
    def page():
        from tl_app import controls
        from tl_core.config import FieldSpec

        specs = [
            FieldSpec("noise", float, 0.3, "noise", low=0.0, high=1.0),
            FieldSpec("n_target", int, 7, "labelled samples", low=1, high=40),
            FieldSpec("lr", float, 0.01, "lr", low=0.0001, high=1.0, log=True),
            FieldSpec("seed", int, 0, "seed", low=0, high=2**31 - 1),
            FieldSpec("scenario", str, "a", "scenario", choices=("a", "b")),
            FieldSpec("strategies", tuple, ("fine_tune",), "s", choices=("scratch", "fine_tune")),
            FieldSpec("flag", bool, False, "flag"),
            FieldSpec("epochs", int, 1, "capped by the host", low=1, high=1),
        ]
        controls.enter_page("test", specs)
        for spec in specs:
            controls.widget(spec)

    at = AppTest.from_function(page, default_timeout=30).run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.slider(key="noise").value == 0.3 and at.select_slider(key="lr").value == 0.01
    samples = at.select_slider(key="n_target")  # a main control: its stops, and its own value
    assert samples.value == 7 and samples.options == ["1", "2", "3", "5", "7", "10", "20", "30", "40"]
    assert at.number_input(key="seed").value == 0 and at.selectbox(key="scenario").value == "a"
    assert at.multiselect(key="strategies").value == ["fine_tune"] and at.checkbox(key="flag").value is False
    assert at.number_input(key="epochs").value == 1 and at.number_input(key="epochs").disabled


def test_a_strategy_listed_twice_counts_once_with_a_reason():
    value, why = controls.from_link(STRATEGIES, "fine_tune,scratch,fine_tune")
    assert value == ("fine_tune", "scratch") and "twice" in why


def test_a_reason_quotes_a_visitor_value_short_and_a_negative_zero_reads_as_zero():
    value, why = controls.from_link(N_TARGET, "7" * 150)
    assert value == 500 and "7" * controls.QUOTE_CHARS + "…" in why and "7" * 60 not in why
    assert controls.from_link(GAP, "-0") == (0.0, None) and str(controls.from_link(GAP, "-0")[0]) == "0.0"


def test_unknown_link_keys_are_named_a_few_at_a_time_and_counted():
    query = {f"key{i}": ["1"] for i in range(300)}
    values, problems, others = controls.parse_link(query, [GAP])
    assert not values and not problems and len(others) == 1
    assert "key0" in others[0] and f"key{controls.MAX_OTHER_KEYS}" not in others[0]
    assert f"and {300 - controls.MAX_OTHER_KEYS} more" in others[0] and len(others[0]) < 400


def test_settings_the_scenario_ignores_are_greyed_out():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_string(
        "from tl_app import demo_page\ndemo_page.show('linear')", default_timeout=120
    ).run()
    assert not at.slider(key="noise").disabled
    at.selectbox(key="scenario").set_value("diabetes").run()
    assert not at.exception
    assert at.slider(key="noise").disabled and at.checkbox(key="shift_inputs").disabled
    assert "does not apply here" in at.slider(key="noise").help
    assert not at.select_slider(key="gap").disabled
