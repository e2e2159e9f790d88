"""Every sentence under a chart agrees with the chart, over many configs and seeds.

For results of every demo (scenario edges, the bundled tables and a user's CSV; the CNN and RNN
few and cheap) and for sweep tables, each sentence is read back: every number it quotes must be
the chart's number as the page formats it, and every comparative word ("beats", "loses to",
"ties", "keeps the most", "caught up", "falls below", ...) must agree with the signs the chart
shows. Hypothesis draws the cases, derandomized so that CI runs the same ones every time.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tl_core import narrate, plots
from tl_core.demos import cnn, linear, logistic, rnn
from tl_core.result import RunResult, StrategyResult
from tl_core.strategies import BASELINE, STRATEGIES, label
from tl_core.tables import sweep_table
from tl_core.userdata.tables import BUNDLED_TABLES, bundled_table_data, table_data

CASES = settings(max_examples=40, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
FEW_CASES = settings(CASES, max_examples=3)  # the torch demos: each case trains networks
SIGNED = r"(?:[+−]?\d+ points?|[+−]?\d+\.\d\d)"  # narrate.signed's words: "+25 points", "−0.30"
NAME_OF = {s.label: s.name for s in STRATEGIES.values()}  # a chart's label -> the strategy


# ------------------------------------------------------------------------------ reading charts
def chart_points(result: RunResult) -> dict[str, tuple[float, float]]:
    """(source, target) of each strategy (by name) as the source-vs-target chart holds it: the
    point, or for a point drawn at the axis floor the true values its hover text gives (to its
    3 decimals: the result's own values are returned, so that a sentence's 2 decimals are not
    compared with a rounded number rounded again, 0.2647 -> 0.265 -> 0.27)."""
    points = {}
    for trace in plots.source_vs_target(result).data:
        if trace.mode != "markers" or not trace.hovertemplate:
            continue
        x, y = trace.x[0], trace.y[0]
        if trace.marker.symbol != "circle":  # off the chart: the hover says the true values
            strategy = result.strategy(NAME_OF[trace.name])
            x, y = strategy.source_metric, strategy.target_metric
            hover = [float(v) for v in re.findall(r"(-?\d+\.\d+)", trace.hovertemplate)[:2]]
            assert hover == pytest.approx([x, y], abs=5e-4), (trace.hovertemplate, x, y)
        points[NAME_OF[trace.name]] = (x, y)
    return points


def curves(fig) -> dict[str, dict[float, float]]:
    """Each strategy's line of a sweep chart (by name): {x: y}."""
    return {NAME_OF[t.name]: dict(zip(t.x, t.y)) for t in fig.data if t.mode == "lines+markers"}


def names_in(text: str) -> list[str]:
    """The strategies a sentence names, in its order ("partial fine-tune" is not "fine-tune");
    scratch is left out: every sentence compares with it."""
    taken, found = set(), {}
    for words in sorted(NAME_OF, key=len, reverse=True):
        for m in re.finditer(rf"(?<![\w-]){re.escape(words)}(?![\w-])", text, flags=re.IGNORECASE):
            if not taken & set(range(*m.span())) and NAME_OF[words] != BASELINE:
                taken |= set(range(*m.span()))
                found[m.start()] = NAME_OF[words]
    return [found[i] for i in sorted(found)]


# --------------------------------------------------------------------- sentences of one result
def check_headline(result: RunResult) -> None:
    text, metric = narrate.describe_result(result), result.metric_name
    points = chart_points(result)
    transfer = {name: xy for name, xy in points.items() if name != BASELINE}
    if not transfer:
        return
    best = max(transfer, key=lambda n: transfer[n][1])
    best_y, scratch_y = points[best][1], points[BASELINE][1]
    assert names_in(text)[0] == best or transfer[names_in(text)[0]][1] == best_y, (text, best)
    difference = best_y - scratch_y
    if metric == "R²" and min(best_y, scratch_y) < 0:
        assert not re.search(r"beats|loses|ties", text), text
        assert text.count("worse than its mean would") == (best_y < 0) + (scratch_y < 0), text
        for value in (best_y, scratch_y):
            assert f"R² {narrate.fmt(value, metric)}" in text, (text, value)
        return
    assert f"({narrate.fmt(best_y, metric)} against {narrate.fmt(scratch_y, metric)})" in text, text
    if narrate.rounds_to_zero(difference, metric):
        assert "ties with scratch" in text, text
    else:
        verb = "beats" if difference > 0 else "loses to"
        assert f"{verb} scratch on the target by {narrate.fmt_diff(difference, metric)} " in text, text


def check_source_sentence(result: RunResult) -> None:
    text, metric = narrate.describe_source_vs_target(result), result.metric_name
    points = chart_points(result)
    trained = {n: xy[0] for n, xy in points.items() if n not in (BASELINE, "source_only")}
    if not trained:
        assert text == ""
        return
    most, least = max(trained.values()), min(trained.values())
    kept = [n for n, x in trained.items() if narrate.fmt(x, metric) == narrate.fmt(most, metric)]
    match = re.match(
        r"Of the strategies trained on the target, (.+?) keeps? the most of the source task", text
    )
    assert match and sorted(names_in(match.group(1))) == sorted(kept), (text, kept)
    assert f"(source {metric} {narrate.fmt(most, metric)}" in text, text
    # the source model's own score is source only's point where the chart has one
    if "source_only" in points:
        own = points["source_only"][0]
        assert f"the source model's own: {narrate.fmt(own, metric)})" in text, text
    lost = [n for n, x in trained.items() if narrate.fmt(x, metric) == narrate.fmt(least, metric)]
    if set(lost) <= set(kept):
        assert "the least" not in text, text
        return
    match = re.search(r"; (.+?) keeps? the least \(([^)]+)\)", text)
    assert match and sorted(names_in(match.group(1))) == sorted(lost), (text, lost)
    assert match.group(2) == narrate.fmt(least, metric), text
    assert ("overwrote" in text) == (most - least >= narrate.FORGOT), text


def check_history_sentence(result: RunResult) -> None:
    text, metric = narrate.describe_history(result), result.metric_name
    fig = plots.training_curves(result)
    lines = {(t.name, t.xaxis): t.y for t in fig.data}
    for s in result.strategies:
        if not s.history.get("step") or len(s.history["step"]) < 2:
            assert f"{label(s.strategy)}:" not in text
            continue
        target, source = lines[(label(s.strategy), "x")], lines[(label(s.strategy), "x2")]
        ends = [narrate.fmt(line[i], metric) for line in (target, source) for i in (0, -1)]
        expected = f"{label(s.strategy)}: target {ends[0]} → {ends[1]}, source {ends[2]} → {ends[3]}"
        assert expected in text, (text, expected)


def check_best_and_worst(result: RunResult) -> None:
    text, metric = narrate.describe_best_and_worst(result), result.metric_name
    points = chart_points(result)
    if len(points) < 2:
        return
    top, bottom = max(p[1] for p in points.values()), min(p[1] for p in points.values())
    match = re.match(r"Best on the target: (.+?) \(\S+ (\S+)\); worst: (.+?) \((\S+)\)\.$", text)
    assert match, text
    assert match.group(2) == narrate.fmt(top, metric) and match.group(4) == narrate.fmt(bottom, metric), text
    assert points[NAME_OF[label_of(match.group(1))]][1] == top
    assert points[NAME_OF[label_of(match.group(3))]][1] == bottom


def check_negative_r2(result: RunResult) -> None:
    text = narrate.describe_negative_r2(result)
    if result.metric_name != "R²":
        assert text == ""
        return
    points = chart_points(result)
    below = [n for n, (_, y) in points.items() if y < 0]
    assert ("scratch has too few" in text) == (BASELINE in below), text
    transfer = [n for n in below if n != BASELINE]
    if transfer:
        match = re.search(r"; (.+?) (?:is|are) led astray|: (.+?) (?:is|are) led astray", text)
        named = names_in((match.group(1) or match.group(2)) if match else "")
        assert sorted(named) == sorted(transfer), (text, transfer)
    else:
        assert "led astray" not in text


def check_cnn_model_sentence(result: RunResult) -> None:
    text = cnn.describe_model(result)
    fig = cnn.model_figure(result)
    change = np.array([t.z for t in fig.data if t.name == "change"])
    source = np.array([t.z for t in fig.data if t.name == "source filter"])
    if match := re.search(r"filters by (\d+)% on average", text):
        assert int(match.group(1)) == round(100 * np.abs(change).mean() / np.abs(source).mean()), text
    if "kept the source model's first-layer filters exactly" in text:
        assert not change.any()


def label_of(words: str) -> str:
    """The chart label of a strategy named in a sentence ("fine-tune" -> "Fine-tune")."""
    return next(name for name in NAME_OF if name.lower() == words.lower())


def check_every_sentence(result: RunResult) -> None:
    check_headline(result)
    check_source_sentence(result)
    check_history_sentence(result)
    check_best_and_worst(result)
    check_negative_r2(result)


# ------------------------------------------------------------------------- drawing the cases
def fields_of(Config, draw, **fixed):
    """A config of `Config` with the main fields drawn across their ranges, edges included."""
    values = {}
    for name in ("gap", "lam", "epochs", "lr", "n_target"):
        spec = Config.field(name)
        if name in fixed:
            continue
        if spec.kind is int:
            values[name] = draw(st.sampled_from([int(spec.low), int(spec.low) + 1, 5, 20, int(spec.high)]))
        else:
            values[name] = draw(
                st.sampled_from([spec.low, spec.high, (spec.low + spec.high) / 2, spec.default])
            )
    return {**values, **fixed, "seed": draw(st.integers(0, 3000))}


@st.composite
def linear_configs(draw):
    scenario = draw(st.sampled_from(linear.SCENARIOS))
    fields = fields_of(linear.Config, draw, epochs=draw(st.sampled_from([1, 20, 200])))
    if scenario == "diabetes":
        fields["n_target"] = min(fields["n_target"], linear.DIABETES_MAX_TARGET)
    else:
        fields["n_features"] = draw(st.sampled_from([1, 3]))
        fields["shift_inputs"] = draw(st.booleans())
    return linear.Config(scenario=scenario, baseline=draw(st.sampled_from(linear.BASELINES)), **fields)


@st.composite
def logistic_configs(draw):
    scenario = draw(st.sampled_from(logistic.SCENARIOS))
    fields = fields_of(logistic.Config, draw, epochs=draw(st.sampled_from([1, 15, 200])))
    fields["n_target"] = min(fields["n_target"], 50)  # the synthetic pool and breast cancer allow it
    if scenario == "synthetic":
        fields["shift"] = draw(st.sampled_from([0.0, 1.5]))
    return logistic.Config(scenario=scenario, **fields)


@given(linear_configs())
@CASES
def test_every_linear_sentence_agrees_with_its_chart(config):
    check_every_sentence(linear.run(config))


@given(logistic_configs())
@CASES
def test_every_logistic_sentence_agrees_with_its_chart(config):
    check_every_sentence(logistic.run(config))


def house_prices() -> pd.DataFrame:
    """A user's CSV as a small house-price table: a few rows per region, several features."""
    rng = np.random.default_rng(7)
    n = 120
    frame = pd.DataFrame(
        {
            "sqm": rng.uniform(40, 200, n),
            "rooms": rng.integers(1, 7, n),
            "age": rng.uniform(0, 80, n),
            "region": rng.choice(["north", "south"], n, p=[0.2, 0.8]),
        }
    )
    north = frame.region == "north"
    frame["price"] = 3000 * frame.sqm * np.where(north, 1.4, 1.0) - 500 * frame.age + rng.normal(0, 4e4, n)
    return frame


@st.composite
def own_tables(draw):
    """A bundled table or a user's CSV, with a config that fits it."""
    name = draw(st.sampled_from([*BUNDLED_TABLES, "house prices"]))
    if name == "house prices":
        data = table_data(
            house_prices(), "houses.csv", task="regression", label="price", split_column="region",
            split_value="north",
        )  # fmt: skip
    else:
        data = bundled_table_data(name)
    module = linear if data.task == "regression" else logistic
    n_target = draw(st.integers(module.Config.field("n_target").low, min(20, module.max_n_target(data))))
    config = module.Config(
        n_target=n_target, lam=draw(st.sampled_from([0.0, 1.0, 100.0])), seed=draw(st.integers(0, 50))
    )
    return module, config, data


@given(own_tables())
@settings(CASES, max_examples=25)
def test_every_sentence_on_own_tables_agrees_with_its_chart(case):
    module, config, data = case
    check_every_sentence(module.run(config, data=data))


@given(st.sampled_from(cnn.SCENARIOS), st.sampled_from([1, 3]), st.sampled_from([0.0, 0.5, 1.0]))
@FEW_CASES
def test_every_cnn_sentence_agrees_with_its_chart(scenario, n_target, gap):
    result = cnn.run(cnn.Config(scenario=scenario, n_target=n_target, gap=gap, epochs=3, seed=0))
    check_every_sentence(result)
    check_cnn_model_sentence(result)


@given(st.sampled_from(rnn.SCENARIOS), st.sampled_from([1, 3]), st.sampled_from([0.0, 1.0]))
@FEW_CASES
def test_every_rnn_sentence_agrees_with_its_chart(scenario, n_target, gap):
    check_every_sentence(rnn.run(rnn.Config(scenario=scenario, n_target=n_target, gap=gap, epochs=2, seed=0)))


# ------------------------------------------------------------------------- sweeps' sentences
@st.composite
def sweep_tables(draw, over: str):
    """A sweep table of made-up runs: any shape of curve (rising, falling, rising then falling,
    crossing zero, ties), for accuracy or R²."""
    metric = draw(st.sampled_from(["accuracy", "R²"]))
    if over == "n_target":
        values = sorted(draw(st.sets(st.sampled_from([1, 2, 5, 10, 20, 50, 100]), min_size=1, max_size=6)))
    else:
        values = [round(v, 1) for v in np.linspace(0, 1, draw(st.integers(2, 6)))]
    names = draw(
        st.sampled_from([["fine_tune"], ["fine_tune", "source_only"], ["regularized", "joint", "coral"]])
    )
    score = st.floats(-1.5 if metric == "R²" else 0.0, 1.0, allow_nan=False).map(lambda v: round(v, 3))
    results = []
    for value in values:
        for seed in (0, 1):
            strategies = [
                StrategyResult(n, source_metric=0.5, target_metric=draw(score)) for n in [BASELINE, *names]
            ]
            config = {"n_target": 5, "gap": 0.5, "seed": seed, over: value}
            results.append(RunResult("toy", config, metric, "loss", strategies))
    return sweep_table(results, over)


def gains_on_chart(table: pd.DataFrame) -> dict[str, dict[float, float]]:
    """Each strategy's gain over scratch at each swept value, from the data-efficiency chart's
    lines (the strategy's target metric minus scratch's)."""
    lines = curves(plots.data_efficiency(table))
    scratch = lines[BASELINE]
    return {
        name: {x: y - scratch[x] for x, y in line.items()} for name, line in lines.items() if name != BASELINE
    }


def check_efficiency_sentence(table: pd.DataFrame) -> None:
    text, metric = narrate.describe_data_efficiency(table), table.attrs["metric"]
    gains = gains_on_chart(table)
    shown = {n: {x: narrate.round_for(g, metric) for x, g in line.items()} for n, line in gains.items()}
    best_peak = max(max(line.values()) for line in shown.values())
    named = names_in(text)[0]
    assert max(shown[named].values()) == best_peak, (text, shown)  # the best transfer is named
    line, xs = gains[named], sorted(gains[named])
    for quoted, n in re.findall(rf"({SIGNED}) with (\d+) label", text):  # each gain quoted is the chart's
        assert quoted == narrate.signed(line[int(n)], metric), (text, quoted, n)
    values = [shown[named][x] for x in xs]
    first, last, peak = values[0], values[-1], max(values)
    if best_peak < 0:  # every strategy below scratch everywhere
        assert text.startswith("Even the best transfer") and "beats" not in text and "caught up" not in text
        return
    opening = text.split(";")[0]
    assert ("beats scratch" in opening) == (first > 0) and ("loses to scratch" in opening) == (first < 0)
    assert ("ties with scratch" in opening) == (first == 0), (text, first)
    if first:
        assert f"by {narrate.fmt_diff(line[xs[0]], metric)} on average" in opening, text
    assert ("caught up" in text) == (last == 0 < peak), (text, values)
    assert ("overtaken" in text) == (last < 0), (text, values)
    assert ("does not catch up" in text) == (last == peak > first), (text, values)
    assert ("only then shrinks" in text) == (first < peak > last), (text, values)
    assert ("the gain shrinks as labels grow" in text) == (first == peak > last), (text, values)


def check_gap_sentence(table: pd.DataFrame) -> None:
    text, metric = narrate.describe_gap_curve(table), table.attrs["metric"]
    scale = 100 if metric == "accuracy" else 1  # the chart draws an accuracy gain in points
    lines = {n: {x: y / scale for x, y in line.items()} for n, line in curves(plots.gap_curve(table)).items()}
    clauses = text.removeprefix("As the domains drift apart, ").removesuffix(".").split("; ")
    assert len(clauses) == len(lines)
    stretch_words = r"(below|above|level with or above) scratch at gap ([\d.]+)(?: to ([\d.]+))?"
    for clause in clauses:
        line = lines[names_in(clause)[0]]
        shown = {x: narrate.round_for(g, metric) for x, g in line.items()}
        for quoted, x in re.findall(rf"({SIGNED}) at gap ([\d.]+)", clause):
            assert quoted == narrate.signed(line[float(x)], metric), (clause, quoted, x)
        below = [x for x in sorted(shown) if shown[x] < 0]
        if "stays above" in clause:
            assert all(v > 0 for v in shown.values()), (clause, shown)
        elif "stays level with or above" in clause:
            assert not below and 0 in shown.values(), (clause, shown)
        elif "at every gap" in clause:
            assert len(below) == len(shown), (clause, shown)
        elif match := re.search(r"falls below scratch from gap ([\d.]+)", clause):
            assert below == [x for x in sorted(shown) if x >= float(match.group(1))], (clause, shown)
        else:  # below, then not, then below...: each stretch named as it is
            stretches = re.findall(stretch_words, clause)
            assert len(stretches) > 1, clause
            for words, low, high in stretches:
                stretch = [v for x, v in shown.items() if float(low) <= x <= float(high or low)]
                expected = {"below": all(v < 0 for v in stretch), "above": all(v > 0 for v in stretch)}
                assert expected.get(words, all(v >= 0 for v in stretch)), (clause, shown)


def check_compare_sentence(table: pd.DataFrame, over: str) -> None:
    titles = {"toy": "Toy"}
    strategy = table.strategy[table.strategy != BASELINE].iloc[0]
    text = narrate.describe_compare_gains({"toy": table}, titles, strategy, over)
    fig = plots.compare_gains({"toy": table}, titles, strategy, over)
    [line] = [t for t in fig.data if t.mode == "lines+markers"]
    on_chart, metric = dict(zip(line.x, line.y)), table.attrs["metric"]
    where = r"with (\d+) label" if over == "n_target" else r"at gap ([\d.]+)"
    quoted = re.findall(rf"({SIGNED}) {where}", text)
    assert quoted, text
    for words, x in quoted:
        assert words == narrate.signed(on_chart[float(x)], metric), (text, words, x)
    if ", up to " in text:  # a peak between the ends, above both
        middle = float(re.search(rf", up to ({SIGNED}) {where}", text).group(2))
        assert on_chart[middle] > max(on_chart[line.x[0]], on_chart[line.x[-1]]), text
    # the hover says each gain in the sentence's words
    assert list(line.text) == [narrate.signed(y, metric) for y in line.y]


@given(sweep_tables("n_target"))
@settings(CASES, max_examples=60)
def test_the_data_efficiency_sentence_agrees_with_its_chart(table):
    check_efficiency_sentence(table)


@given(sweep_tables("gap"))
@settings(CASES, max_examples=60)
def test_the_gap_sentence_agrees_with_its_chart(table):
    check_gap_sentence(table)


@given(sweep_tables("n_target"), sweep_tables("gap"))
@settings(CASES, max_examples=30)
def test_the_compare_pages_sentence_agrees_with_its_chart(efficiency, gap):
    check_compare_sentence(efficiency, "n_target")
    check_compare_sentence(gap, "gap")


@pytest.mark.parametrize("demo", ["linear", "logistic"])
def test_real_sweeps_sentences_agree_with_their_charts(demo):
    """Real sweeps of each numpy demo, through the same checks as the made-up ones."""
    import tl_core

    efficiency = tl_core.sweep(demo, "n_target", [2, 5, 20, 100], seeds=[1000, 1001])
    gap = tl_core.sweep(demo, "gap", [0.0, 0.4, 0.8, 1.0], seeds=[1000, 1001])
    check_efficiency_sentence(efficiency)
    check_gap_sentence(gap)
    check_compare_sentence(efficiency, "n_target")
    check_compare_sentence(gap, "gap")


def test_a_table_number_that_rounds_to_zero_carries_no_minus_sign():
    """The results tables write a tiny loss of accuracy or a tiny negative loss as 0, not
    "-0.0" or "-0.000": a sign must agree with the number it stands beside."""
    from tl_app.results_section import styled

    table = pd.DataFrame(
        {"gain (points)": [-0.04, -3.26, 0.04, np.nan], "target cross-entropy": [-0.0004, 0.51234, 0.0, 1.0]},
        index=["a", "b", "c", "d"],
    )
    rows = [line.split() for line in styled(table).to_string().splitlines()[1:]]
    assert rows == [
        ["a", "+0.0", "0.000"],
        ["b", "-3.3", "0.512"],
        ["c", "+0.0", "0.000"],
        ["d", "—", "1.000"],
    ]
