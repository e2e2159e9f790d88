"""Your own table in the linear and logistic demos: reading it, splitting it, and running on it."""

import codecs

import numpy as np
import pandas as pd
import pytest

import tl_core
from tl_core import limits
from tl_core.demos import linear, logistic
from tl_core.limits import Limits
from tl_core.result import RunResult
from tl_core.strategies import label
from tl_core.userdata import UserDataError, literal, tables
from tl_core.userdata.tables import bundled_table, bundled_table_data, read_csv, read_table_data, table_data

REGIONS = ("north", "south", "east", "west")


def shop_table(n=400, seed=0) -> pd.DataFrame:
    """Sales of shops in four regions: the north sells differently (the shift to carry over).

    sales = 3·temperature + 2·advertising + 10 (+ 2·temperature more in the north) + noise;
    bought is "yes" when a customer's spend beats a threshold that is lower in the north.
    """
    rng = np.random.default_rng(seed)
    region = rng.choice(REGIONS, n)
    north = region == "north"
    temperature = rng.uniform(0, 30, n).round(1)
    advertising = rng.uniform(0, 10, n).round(2)
    age = rng.integers(18, 80, n)
    sales = (3 + 2 * north) * temperature + 2 * advertising + 10 + rng.normal(0, 8, n)
    score = temperature + 3 * advertising - 40 + 15 * north + 0.3 * (age - 50) + rng.normal(0, 6, n)
    return pd.DataFrame(
        {
            "region": region,
            "temperature": temperature,
            "advertising": advertising,
            "age": age,
            "sales": sales.round(2),
            "bought": np.where(score > 0, "yes", "no"),
        }
    )


def csv_bytes(df: pd.DataFrame, **to_csv) -> bytes:
    return df.to_csv(index=False, **to_csv).encode("utf-8")


SALES = dict(task="regression", label="sales", split_column="region", split_op="==", split_value="north")
BOUGHT = dict(task="classification", label="bought", split_column="age", split_op=">", split_value=50)


# ----------------------------------------------------------------------------------------------
# Accepted files, end to end


def test_a_csv_split_by_a_text_column_runs_every_linear_strategy():
    df = shop_table()
    data = read_table_data(csv_bytes(df), "shops.csv", **SALES)
    assert data.feature_names == ("temperature", "advertising", "age")  # not region, not sales
    assert len(data.target_y) == (df.region == "north").sum()
    assert (data.source_words, data.target_words) == ("region ≠ north", "region = north")
    result = tl_core.run("linear", data=data, n_target=8)
    assert result.names() == list(linear.STRATEGIES)
    assert result.extras["n_target_test"] == len(data.target_y) - 8
    assert result.extras["n_source_train"] + result.extras["n_source_test"] == len(data.source_y)
    assert result.extras["user_data"]["name"] == "shops.csv"
    assert result.extras["user_data"]["n_target_rows"] == len(data.target_y)
    assert result.config == linear.Config(n_target=8).to_dict()
    assert RunResult.from_json(result.to_json()).extras == result.extras  # plain JSON
    for s in result.strategies:
        assert np.isfinite([s.source_metric, s.target_metric, s.source_loss, s.target_loss]).all()


def test_a_numeric_threshold_split_runs_every_logistic_strategy_including_coral():
    df = shop_table()
    data = read_table_data(csv_bytes(df), "shops.csv", **BOUGHT)
    assert data.class_names == ("no", "yes")  # the later one in sorted order is class 1
    assert len(data.target_y) == (df.age > 50).sum()
    assert data.target_words == "age > 50" and data.source_words == "age ≤ 50"
    assert "age" not in data.feature_names  # the split column is never a feature
    result = tl_core.run("logistic", data=data, n_target=4)
    assert result.names() == list(logistic.STRATEGIES)
    assert result.extras["n_target_train"] == 8
    assert result.extras["n_target_test"] == len(data.target_y) - 8
    assert result.extras["class_names"] == ["no", "yes"]
    assert all(0 <= s.target_metric <= 1 for s in result.strategies)


@pytest.mark.parametrize("name", list(tables.BUNDLED_TABLES))
def test_every_bundled_table_runs_in_the_demo_of_its_task(name):
    frame = bundled_table(name)
    suggested = tables.BUNDLED_TABLES[name]
    assert suggested.label in frame.columns and suggested.split_column in frame.columns
    data = bundled_table_data(name)
    assert data.bundled == name and data.name == f"sklearn {name}"
    assert bundled_table_data(data.bundled, **data.options).fingerprint == data.fingerprint
    module = linear if suggested.task == "regression" else logistic
    result = module.run(module.Config(), data=data)
    assert result.names() == list(module.STRATEGIES)
    assert result.extras["user_data"]["bundled"] == name


def test_bundled_tables_have_readable_columns_and_the_target_as_a_column():
    diabetes = bundled_table("diabetes")
    assert {"age", "sex", "bmi", "blood pressure", "disease progression"} <= set(diabetes.columns)
    assert set(diabetes["sex"]) == {1.0, 2.0}  # raw values, not sklearn's scaled ones
    assert set(bundled_table("breast_cancer")["diagnosis"]) == {"malignant", "benign"}
    assert set(bundled_table("iris")["species"]) == {"setosa", "versicolor", "virginica"}
    with pytest.raises(UserDataError, match="no bundled table 'titanic'.*diabetes"):
        bundled_table("titanic")


@pytest.mark.parametrize("variant", ["bom", "semicolon_decimal_comma", "tab"])
def test_excel_and_european_csv_variants_read_the_same_numbers(variant):
    df = shop_table(n=120)
    plain = read_csv(csv_bytes(df), "shops.csv")
    if variant == "bom":
        raw = codecs.BOM_UTF8 + csv_bytes(df)
    elif variant == "semicolon_decimal_comma":
        raw = csv_bytes(df, sep=";", decimal=",")
    else:
        raw = csv_bytes(df, sep="\t")
    table = read_csv(raw, "shops.csv")
    assert list(table.columns) == list(plain.columns)  # the BOM is not part of the first name
    pd.testing.assert_frame_equal(table, plain, check_dtype=False)
    if variant == "semicolon_decimal_comma":
        assert any("semicolons" in note for note in table.attrs["notes"])
        assert any("decimal commas" in note for note in table.attrs["notes"])


def test_reading_again_with_the_stored_options_gives_the_same_data():
    raw = csv_bytes(shop_table())
    data = read_table_data(raw, "shops.csv", **SALES, features=["temperature", "age"])
    again = read_table_data(raw, "shops.csv", **data.options)
    assert again.fingerprint == data.fingerprint
    np.testing.assert_array_equal(again.target_X, data.target_X)
    np.testing.assert_array_equal(again.source_y, data.source_y)
    other = read_table_data(raw, "shops.csv", **SALES)
    assert other.fingerprint != data.fingerprint  # other choices, other data


def test_same_bytes_options_and_seed_give_identical_metrics_and_the_seed_picks_the_rows():
    raw = csv_bytes(shop_table())
    config = logistic.Config(n_target=3, seed=4)
    first = logistic.run(config, data=read_table_data(raw, "a.csv", **BOUGHT)).to_dict()
    second = logistic.run(config, data=read_table_data(raw, "a.csv", **BOUGHT)).to_dict()
    for result in (first, second):
        result.pop("wall_time")
        for s in result["results"]:
            s.pop("wall_time")
    assert first == second
    data = read_table_data(raw, "a.csv", **BOUGHT)
    labelled = [logistic.make_data(logistic.Config(n_target=3, seed=s), data).target.X_train for s in (0, 1)]
    assert not np.array_equal(*labelled)


def test_fields_the_table_replaces_change_nothing():
    shops = read_table_data(csv_bytes(shop_table()), "shops.csv", **SALES)
    for module, data in ((linear, shops), (logistic, bundled_table_data("breast_cancer"))):
        base = [s.target_metric for s in module.run(module.Config(), data=data).strategies]
        for name in module.IGNORED_WITH_USER_DATA:
            spec = module.Config.field(name)
            if spec.kind is bool:
                other = not spec.default
            elif spec.choices:
                other = [c for c in spec.choices if c != spec.default][0]
            else:
                other = spec.high if spec.default != spec.high else spec.low
            changed = module.run(module.Config(**{name: other}), data=data)
            assert [s.target_metric for s in changed.strategies] == base, name


def test_a_shifted_table_shows_transfer_helping_with_few_labels_and_less_with_many():
    """Bundled breast_cancer (smooth to rough tumours) and diabetes (one sex to the other)."""

    def mean_gains(demo, table, few, many):
        sweep = tl_core.sweep(
            demo, over="n_target", values=[few, many], seeds=5, data=bundled_table_data(table)
        )
        gains = sweep[sweep.strategy == "regularized"].groupby("n_target")["gain"].mean()
        return gains[few], gains[many]

    few, many = mean_gains("logistic", "breast_cancer", 1, 30)
    assert few > 0.05 and many < few
    few, many = mean_gains("linear", "diabetes", 5, 100)
    assert few > 0.3 and many < few


# ----------------------------------------------------------------------------------------------
# Figures


@pytest.mark.parametrize("features", [["temperature"], ["temperature", "advertising"], None])
def test_both_demos_draw_their_figures_for_one_two_and_many_features(features):
    raw = csv_bytes(shop_table())
    for module, options, n_target in ((linear, SALES, 6), (logistic, BOUGHT, 3)):
        data = read_table_data(raw, "shops.csv", **options, features=features)
        config = module.Config(n_target=n_target)
        samples = module.samples_figure(config, data=data)
        titles = [a.text for a in samples.layout.annotations]
        assert titles[0] == f"Source: {literal(data.source_words)}, {len(data.source_y)} rows"
        assert titles[1].startswith(f"Target: {literal(data.target_words)}, {n_target} labelled")
        assert len(samples.data) >= 3
        result = module.run(config, data=data)
        model = module.model_figure(result, data=data)
        # each strategy is a trace (a line, a curve) or, with many features, a column of points
        shown = {trace.name for trace in model.data} | set(model.layout.xaxis.ticktext or ())
        assert {label(s.strategy) for s in result.strategies} <= shown


def test_a_figure_needs_the_data_its_result_ran_on():
    raw = csv_bytes(shop_table())
    data = read_table_data(raw, "shops.csv", **SALES)
    result = linear.run(linear.Config(), data=data)
    with pytest.raises(UserDataError, match="ran on shops.csv: pass the same data"):
        linear.model_figure(result)
    other = read_table_data(raw, "shops.csv", **{**SALES, "split_value": "south"})
    with pytest.raises(UserDataError, match="other choices"):
        linear.model_figure(result, data=other)
    with pytest.raises(UserDataError, match="built-in scenario"):
        logistic.model_figure(logistic.run(), data=bundled_table_data("iris"))


# ----------------------------------------------------------------------------------------------
# Malformed files and choices: a UserDataError that says what is wrong


@pytest.mark.parametrize(
    "raw, words",
    [
        (b"", "is empty"),
        (b"  \r\n \n", "is empty"),
        (b"temperature,sales\n", "no rows of data"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "not a text file"),
        (b"PK\x03\x04" + b"\x14\x00" * 40, "workbook"),
        (
            "region,sales\nnörth,1\nsüd,2\n".encode("latin-1"),
            "not UTF-8 text \\(byte 0xf6 on line 2.*CSV UTF-8",
        ),
        (codecs.BOM_UTF8 + "region,sales\nnorth,1\nsüd,2\n".encode("cp1252"), "byte 0xfc on line 3"),
        ("a,b\n1,2\n".encode("utf-16"), "UTF-16.*CSV UTF-8"),
        (b'{"temperature": [1, 2], "sales": [3, 4]}', "looks like JSON"),
        (b"<html><body>sales</body></html>", "looks like HTML"),
        (b"a,b,c\n1,2,3\n4,5,6,7\n", "line 3 has 4 values but the header has 3 columns"),
        (b'a,b\n1,"2\n3,4\n', "could not be read as a CSV table"),
        (b"region,shop\nnorth,a\nsouth,b\n", "no numeric columns.*region, shop"),
    ],
)
def test_a_file_that_is_not_a_usable_csv_says_why(raw, words):
    with pytest.raises(UserDataError, match=words):
        read_csv(raw, "shops.csv")


def test_caps_on_bytes_rows_and_columns_are_checked(monkeypatch):
    raw = csv_bytes(shop_table(n=50))
    monkeypatch.setattr(limits, "LIMITS", Limits(max_upload_mb=1))
    with pytest.raises(UserDataError, match="1.5 MB.*at most 1 MB"):
        read_csv(raw + b"\n" * int(1.5 * 1024 * 1024), "shops.csv")
    monkeypatch.setattr(limits, "LIMITS", Limits(max_upload_rows=49))
    with pytest.raises(UserDataError, match="more than 49 rows.*at most 49"):
        read_csv(raw, "shops.csv")
    monkeypatch.setattr(limits, "LIMITS", Limits(max_upload_rows=50, max_upload_columns=5))
    with pytest.raises(UserDataError, match="has 6 columns.*at most 5"):
        read_csv(raw, "shops.csv")
    monkeypatch.setattr(limits, "LIMITS", Limits(max_upload_rows=50, max_upload_columns=6))
    assert read_csv(raw, "shops.csv").shape == (50, 6)


def test_a_text_label_cannot_be_predicted_by_regression():
    raw = csv_bytes(shop_table())
    with pytest.raises(UserDataError, match="label bought is not numeric.*'(yes|no)'.*logistic"):
        read_table_data(raw, "shops.csv", **{**SALES, "label": "bought"})


def test_a_label_with_one_class_or_a_domain_with_one_class_is_refused():
    df = shop_table()
    with pytest.raises(UserDataError, match="label bought has only one class \\('yes'\\)"):
        table_data(df.assign(bought="yes"), "shops.csv", **BOUGHT)
    one_sided = df.assign(bought=np.where(df.age > 50, "yes", df.bought))
    with pytest.raises(UserDataError, match="target \\(age > 50\\) has only one class \\('yes'\\)"):
        table_data(one_sided, "shops.csv", **BOUGHT)


def test_more_than_two_classes_need_a_positive_class():
    iris = bundled_table("iris")
    options = dict(
        task="classification",
        label="species",
        split_column="sepal width (cm)",
        split_op=">=",
        split_value=3.0,
    )
    with pytest.raises(UserDataError, match="3 classes \\(setosa, versicolor, virginica\\).*positive"):
        table_data(iris, "iris", **options)
    with pytest.raises(UserDataError, match="'daisy' is not a class.*setosa, versicolor, virginica"):
        table_data(iris, "iris", **options, positive_class="daisy")
    data = table_data(iris, "iris", **options, positive_class="setosa")
    assert data.class_names == ("not setosa", "setosa")
    assert data.target_y.sum() + data.source_y.sum() == 50


def test_a_numeric_label_makes_classes_named_by_their_values():
    df = shop_table().assign(bought=lambda d: (d.bought == "yes").astype(int))
    data = table_data(df, "shops.csv", **BOUGHT)
    assert data.class_names == ("0", "1")
    assert table_data(df, "shops.csv", **BOUGHT, positive_class=0).class_names == ("1", "0")


def test_missing_values_are_dropped_or_filled_and_counted_in_the_notes():
    df = shop_table()
    df.loc[[0, 1, 2], "temperature"] = np.nan
    df.loc[[2, 3], "advertising"] = np.nan
    df.loc[4, "sales"] = np.nan  # no label: always dropped
    df.loc[5, "region"] = np.nan  # no domain: always dropped
    raw = csv_bytes(df)
    dropped = read_table_data(raw, "shops.csv", **SALES, missing="drop")
    assert "dropped 1 row with no value in the split column region" in " ".join(dropped.notes)
    assert "dropped 1 row with no label (sales)" in " ".join(dropped.notes)
    assert (
        "dropped 4 rows of 398 with a missing feature value (temperature: 3, advertising: 2)" in dropped.notes
    )
    assert len(dropped.source_y) + len(dropped.target_y) == 394
    filled = read_table_data(raw, "shops.csv", **SALES, missing="mean")
    assert (
        "filled 5 missing feature values with the source rows' column mean "
        "(temperature: 3, advertising: 2)" in filled.notes
    )
    assert len(filled.source_y) + len(filled.target_y) == 398
    known = df.drop(index=[4, 5]).reset_index(drop=True)
    features = known[["temperature", "advertising", "age"]]
    in_source = known.region != "north"
    expected = features.fillna(features[in_source].mean())  # the source rows' means, by pandas
    np.testing.assert_allclose(filled.source_X, expected[in_source].to_numpy())
    np.testing.assert_allclose(filled.target_X, expected[~in_source].to_numpy())
    with pytest.raises(UserDataError, match="missing must be one of drop, mean, got 'zero'"):
        read_table_data(raw, "shops.csv", **SALES, missing="zero")


def infinite_shops() -> bytes:
    """shop_table's CSV with infinities written as a spreadsheet or a program writes them."""
    lines = csv_bytes(shop_table()).decode().splitlines()
    header = lines[0].split(",")
    for row, column, text in ((1, "temperature", "inf"), (2, "temperature", "-inf"), (3, "age", "1e309")):
        cells = lines[row].split(",")
        cells[header.index(column)] = text
        lines[row] = ",".join(cells)
    cells = lines[4].split(",")
    cells[header.index("sales")] = "-Infinity"
    lines[4] = ",".join(cells)
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("missing", ["drop", "mean"])
def test_infinite_values_count_as_missing_and_the_notes_say_how_many_where(missing):
    data = read_table_data(infinite_shops(), "nan_inf.csv", **SALES, missing=missing)
    assert data.notes[0] == "read 4 infinite values as missing (sales: 1, temperature: 2, age: 1)"
    assert "dropped 1 row with no label (sales)" in data.notes
    if missing == "drop":
        assert "dropped 3 rows of 399 with a missing feature value (temperature: 2, age: 1)" in data.notes
    else:
        assert any(n.startswith("filled 3 missing feature values") for n in data.notes)
    for X in (data.source_X, data.target_X):
        assert np.isfinite(X).all()
    for demo, options in (("linear", SALES), ("logistic", BOUGHT)):
        table = read_table_data(infinite_shops(), "nan_inf.csv", **options, missing=missing)
        result = tl_core.run(demo, data=table, n_target=5)
        for s in result.strategies:
            assert np.isfinite([s.source_metric, s.target_metric, s.source_loss, s.target_loss]).all()


def test_an_infinity_in_a_bundled_table_is_missing_too():
    diabetes = bundled_table("diabetes")
    diabetes.loc[[0, 7], "bmi"] = np.inf
    data = table_data(diabetes, "sklearn diabetes", **tables.BUNDLED_TABLES["diabetes"].options())
    assert data.notes[0] == "read 2 infinite values as missing (bmi: 2)"
    assert len(data.source_y) + len(data.target_y) == len(diabetes) - 2


@pytest.mark.parametrize("value", ["1e200", "1e300", "-1e308"])
@pytest.mark.parametrize("column, role", [("sales", "label"), ("temperature", "feature")])
def test_values_too_large_to_compute_with_are_refused_naming_column_and_rows(value, column, role):
    df = shop_table().astype({column: object})
    df.loc[[4, 11], column] = value
    with pytest.raises(UserDataError) as refused:
        read_table_data(csv_bytes(df), "huge.csv", **SALES)
    assert str(refused.value).startswith(
        f"the {role} {column} has a value too large to compute with ({abs(float(value)):.3g}) in rows 5 "
        "and 12 (the first row below the header is row 1): values must be at most 1e+100 in size"
    )


def test_values_too_far_apart_to_standardize_are_refused_naming_column_and_rows():
    """1e99 is under the cap, but among values of about 1e-300 dividing by their spread (the
    demos standardize) overflows: a fit gave infinite predictions and failed in r2_score."""
    df = shop_table()
    df["temperature"] = df["temperature"] * 1e-300
    df.loc[7, "temperature"] = 9e99
    with pytest.raises(UserDataError) as refused:
        table_data(df, "tiny.csv", **SALES)
    message = str(refused.value)
    assert message.startswith(
        "the feature temperature has values too far apart to compute with: 9e+99 in row 8"
    )
    assert "more than 1e+120 times less" in message


def test_values_up_to_the_cap_give_finite_numbers_in_every_strategy():
    """The cap leaves room: a fit never overflows below it (its squares stay far from 1e308)."""
    for column in ("temperature", "sales"):
        df = shop_table()
        df.loc[[4, 11], column] = [tables.MAX_MAGNITUDE, -tables.MAX_MAGNITUDE]
        for demo, options in (("linear", SALES), ("logistic", BOUGHT)):
            if column == "sales" and demo == "logistic":
                continue
            result = tl_core.run(demo, data=table_data(df, "big.csv", **options), n_target=5)
            for s in result.strategies:
                assert np.isfinite([s.source_metric, s.target_metric, s.source_loss, s.target_loss]).all()


@pytest.mark.parametrize("domain", ["source", "target"])
def test_a_regression_label_that_does_not_vary_in_a_domain_is_refused(domain):
    df = shop_table()
    rows = (df.region == "north") if domain == "target" else (df.region != "north")
    df.loc[rows, "sales"] = 12.5
    words = "region = north" if domain == "target" else "region ≠ north"
    with pytest.raises(
        UserDataError,
        match=f"label sales is 12.5 in every row of the {domain} \\({words}\\): a regression needs a label "
        "that varies in each domain",
    ):
        table_data(df, "flat.csv", **SALES)


def test_too_few_rows_in_a_domain_says_how_many_it_has_and_needs():
    df = shop_table()
    few = pd.concat([df[df.region != "north"], df[df.region == "north"].head(3)])
    with pytest.raises(
        UserDataError,
        match="target \\(region = north\\) has 3 rows; it needs at least 4 \\(2 labelled \\+ 2 to test\\)",
    ):
        table_data(few, "shops.csv", **SALES)
    small_source = pd.concat([df[df.region != "north"].head(9), df[df.region == "north"]])
    with pytest.raises(UserDataError, match="source \\(region ≠ north\\) has 9 rows; it needs at least 10"):
        table_data(small_source, "shops.csv", **SALES)
    data = table_data(df, "shops.csv", **SALES)
    n_rows = len(data.target_y)
    with pytest.raises(
        UserDataError,
        match=f"n_target = {n_rows - 1} needs at least {n_rows + 1} "
        f"target rows .*region = north, has {n_rows}",
    ):
        linear.run(linear.Config(n_target=n_rows - 1), data=data)
    assert linear.max_n_target(data) == n_rows - 2
    assert linear.run(linear.Config(n_target=n_rows - 2), data=data).extras["n_target_test"] == 2


def test_n_target_per_class_larger_than_a_class_allows_names_the_numbers():
    data = read_table_data(csv_bytes(shop_table()), "shops.csv", **BOUGHT)
    rarest = int(np.bincount(data.target_y).min())
    name = data.class_names[int(np.argmin(np.bincount(data.target_y)))]
    with pytest.raises(
        UserDataError,
        match=f"n_target = {rarest} per class needs at least "
        f"{rarest + 1} rows of class '{name}' in the target "
        f".*has {rarest} \\(n_target can be at most "
        f"{rarest - 1} here\\)",
    ):
        logistic.run(logistic.Config(n_target=rarest), data=data)
    assert logistic.max_n_target(data) == rarest - 1
    assert logistic.run(logistic.Config(n_target=rarest - 1), data=data).extras["n_target_test"] > 0


def test_a_table_read_for_the_other_task_is_refused_by_each_demo():
    with pytest.raises(UserDataError, match="read for classification.*task='regression'"):
        linear.run(linear.Config(), data=bundled_table_data("iris"))
    with pytest.raises(UserDataError, match="read for regression.*task='classification'"):
        logistic.run(logistic.Config(), data=bundled_table_data("diabetes"))


@pytest.mark.parametrize(
    "change, words",
    [
        (dict(split_value="nowhere"), "target \\(region = nowhere\\) has no rows.*north, "),
        (dict(split_op="<"), "'<' compares numbers, but the split column region holds text"),
        (dict(split_op="~"), "split_op must be one of ==, !=, <, <=, >, >=, got '~'"),
        (dict(split_column="town"), "split column 'town' is not a column.*region, temperature"),
        (dict(label="profit"), "label 'profit' is not a column"),
        (dict(features=["temperature", "bought"]), "feature bought is not numeric \\(e.g. '(yes|no)'\\)"),
        (dict(features=["sales"]), "label sales cannot also be a feature"),
        (dict(features=["region"]), "split column region cannot be a feature"),
        (dict(features=[]), "at least one feature"),
        (dict(task="clustering"), "task must be one of regression, classification"),
        (dict(split_column="age", split_value="old"), "holds numbers, so split_value must be a number"),
    ],
)
def test_a_choice_that_does_not_fit_the_table_says_why(change, words):
    with pytest.raises(UserDataError, match=words):
        table_data(shop_table(), "shops.csv", **{**SALES, **change})


def test_a_feature_or_label_with_a_few_words_among_numbers_points_at_them():
    df = read_csv(
        b"temperature,advertising,sales,region\n1,2,3,n\nabout 4,5,6,s\n7,8,n/a,n\n9,1,unknown,s\n", "x.csv"
    )
    with pytest.raises(
        UserDataError, match="feature temperature holds text in 1 row \\(e.g. 'about 4'\\).*leave them empty"
    ):
        table_data(df, "x.csv", **{**SALES, "features": ["temperature"]})
    with pytest.raises(
        UserDataError,
        match="label sales holds text in 1 row \\(e.g. 'unknown'\\): the linear demo predicts a number",
    ):
        table_data(df, "x.csv", **{**SALES, "features": ["advertising"]})


def test_a_column_that_only_numbers_the_rows_is_no_default_feature():
    raw = shop_table().to_csv().encode()  # pandas writes the row numbers as a first column
    data = read_table_data(raw, "shops.csv", **SALES)
    assert data.feature_names == ("temperature", "advertising", "age")
    assert "left Unnamed: 0 out of the features: it only numbers the rows" in data.notes
    chosen = read_table_data(raw, "shops.csv", **SALES, features=["Unnamed: 0", "age"])
    assert chosen.feature_names == ("Unnamed: 0", "age")


def test_the_column_helpers_the_app_uses():
    df = shop_table()
    assert tables.numeric_columns(df) == ["temperature", "advertising", "age", "sales"]
    assert tables.text_columns(df) == ["region", "bought"]
    assert tables.column_kind(df, "age") == "number" and tables.column_kind(df, "region") == "text"
    values = tables.candidate_split_values(df, "region")
    counts = df.region.value_counts()
    assert set(values) == set(REGIONS) and values[0] == counts.idxmax()
    assert tables.candidate_split_values(df, "age", limit=5) == [18.0, 19.0, 20.0, 21.0, 22.0]
    assert tables.split_threshold(df, "age") == df.age.median()
    assert tables.split_counts(df, "region", "==", "north") == (
        (df.region != "north").sum(),
        (df.region == "north").sum(),
    )
    assert tables.split_counts(df, "age", ">", "50") == ((df.age <= 50).sum(), (df.age > 50).sum())
    assert tables.label_classes(df, "bought") == ["no", "yes"]
    assert tables.split_words("age", ">=", 50.0) == ("age < 50", "age ≥ 50")


# ----------------------------------------------------------------------------------------------
# Any bytes: a table or a UserDataError, nothing else


def test_random_truncated_and_mutated_bytes_never_raise_anything_but_user_data_error():
    rng = np.random.default_rng(0)
    valid = csv_bytes(shop_table(n=60))
    cases = [rng.bytes(int(n)) for n in rng.integers(0, 400, 60)]
    cases += [valid[: int(n)] for n in rng.integers(0, len(valid), 60)]
    for _ in range(60):
        mutated = bytearray(valid)
        for position in rng.integers(0, len(valid), 5):
            mutated[position] = int(rng.integers(0, 256))
        cases.append(bytes(mutated))
    cases += [
        codecs.BOM_UTF8,
        b"\xef\xbb",
        b",",
        b"\n\n,\n",
        b'"',
        b";;;\n;;;",
        b"a\n1\n",
        b"a,a\nx,1\n",
        b"a\tb;c,d\n1\t2;3,4\n",
        b"sales,region\ninf,north\n-inf,south\n",
    ]
    read = 0
    for raw in cases:
        try:
            data = read_table_data(raw, "fuzz.csv", **SALES)
        except UserDataError:
            continue
        read += 1
        assert np.isfinite(data.source_X).all() and np.isfinite(data.target_X).all()
    assert read > 0  # the truncated valid files that still hold enough rows are read
