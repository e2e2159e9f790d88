"""Hostile links: a fuzzed query string on every page gives warnings and defaults, never a crash.

Cases come from a seeded `random.Random` (reproducible): random keys, huge, negative, NaN and
infinite numbers, empty and very long values, unicode, Markdown and HTML, repeated keys. Each case
knows what the page must do with it, independently of how the app parses links:
- a valid value is taken as it is, without a warning;
- a finite number out of range is clamped to the nearest bound, with a warning naming the setting;
- anything else is ignored: the control keeps its default and a warning names the setting and,
  when short enough to quote, the value;
- a key that is no setting of the page gets a warning naming it; a repeated key, one naming the
  values that were ignored.
The pure parser takes thousands of cases; AppTest runs a few hundred on the real pages (most on
the numpy demos, a few with cheap settings on the torch demos).
"""

import math
import random
from dataclasses import dataclass, field

import pytest
from streamlit.testing.v1 import AppTest
from test_app_pages import APP, failures, fast

import tl_core
from tl_app import controls, demo_page
from tl_app.catalog import DEMO_BY_NAME
from tl_app.sweeps import SWEEP_SEEDS
from tl_core.config import FieldSpec
from tl_core.strategies import BASELINE, STRATEGIES

SEED = 2024_11_22
AVAILABLE = tl_core.available_demos()
TORCH = [d for d in AVAILABLE if d in ("cnn", "rnn")]
NUMPY = [d for d in AVAILABLE if d in ("linear", "logistic")]

# Never a number, whatever the field's range ("١٢" or " 3 " would be: Python reads them).
NOT_NUMBERS = [
    "nan",
    "NaN",
    "-nan",
    "inf",
    "-inf",
    "Infinity",
    "1e400",
    "-1e999",
    "",
    " ",
    "abc",
    "λ",
    "½",
    "😀",
    "0x1F",
    "1/2",
    "1..2",
    "--1",
    "1e",
    "e5",
    "null",
    "None",
    "[]",
    "{}",
    "true",
    "1,5",
    "'; DROP TABLE runs;--",
    "<script>alert(1)</script>",
    "[click](http://example.com)",
    "$\\frac{1}{0}$",
    "../../etc/passwd",
    "%00",
    "\x00",
    "\n# heading",
    "a" * 201,
    "9" * 5000,
    "‮1",
]
NOT_CHOICES = [
    "",
    " ",
    "λ",
    "😀",
    "nan",
    "-1",
    "9" * 300,
    "<b>x</b>",
    "[x](http://e.com)",
    "null",
    "SCRATCH",
    "scratch;joint",
    "fine-tune",
    "../etc",
    "a" * 250,
    "\n",
]
NOT_FLAGS = ["", "maybe", "2", "-1", "nan", "λ", "tru", "<i>", "a" * 300, "✓"]
UNKNOWN_KEYS = [
    "x",
    "gapp",
    "N_TARGET",
    "λ",
    "😀",
    "a" * 500,
    "[x](http://example.com)",
    "<b>",
    "$x$",
    "__proto__",
    "constructor",
    "../../etc/passwd",
    "embed_optionz",
    "device",
    "seed ",
    " gap",
    "",
    "%20",
    "page",
    "\n",
]


@dataclass
class Case:
    query: dict[str, list[str]]
    expect: dict[str, tuple[str, object]] = field(default_factory=dict)  # key -> (kind, value)
    unknown: list[str] = field(default_factory=list)


def valid_value(spec: FieldSpec, rng: random.Random):
    if spec.kind is tuple:
        return tuple(rng.sample(spec.choices, rng.randint(1, len(spec.choices))))
    if spec.kind is bool:
        return rng.random() < 0.5
    if spec.choices is not None:
        return rng.choice(spec.choices)
    if spec.kind is int:
        return rng.randint(spec.low, min(spec.high, spec.low + 1000))
    return round(rng.uniform(spec.low, spec.high), 4)


def out_of_range(spec: FieldSpec, rng: random.Random) -> tuple[str, object] | None:
    """A finite number outside the range, as text, and the bound it is clamped to."""
    options = []
    if spec.low is not None:
        options.append((rng.choice(["-1", "-1e9", "-999999999999", "-0.5e3"]), spec.low))
    if spec.high is not None and spec.high < 1e12:
        options.append((rng.choice(["1e12", "123456789012345678901234567890", "1e300"]), spec.high))
    if not options:
        return None
    text, bound = rng.choice(options)
    if spec.low is not None and spec.low <= float(text) <= (spec.high if spec.high is not None else math.inf):
        return None
    return text, spec.kind(bound)


def junk(spec: FieldSpec, rng: random.Random) -> str:
    if spec.kind in (int, float):
        return rng.choice(NOT_NUMBERS)
    if spec.kind is bool:
        return rng.choice(NOT_FLAGS)
    return rng.choice(NOT_CHOICES)


def make_case(specs: list[FieldSpec], rng: random.Random, cheap: bool, pinned: dict[str, str]) -> Case:
    """A random link for these settings. `cheap`: only values that fall back to the default or to
    the lower bound (the torch pages stay quick); `pinned`: settings always sent as they are."""
    case = Case(query={k: [v] for k, v in pinned.items()})
    free = [s for s in specs if s.name not in pinned]
    for spec in rng.sample(free, min(len(free), rng.randint(0, 4))):
        kinds = ["junk", "clamp"] if cheap else ["valid", "junk", "clamp", "junk"]
        kind = rng.choice(kinds)
        if kind == "clamp":
            clamped = out_of_range(spec, rng)
            if clamped is None or (cheap and clamped[1] != spec.low):
                kind = "junk"
            else:
                text, value = clamped
                case.query[spec.name] = [text]
                case.expect[spec.name] = ("clamp", value)
                continue
        if kind == "valid":
            value = valid_value(spec, rng)
            case.query[spec.name] = [controls.to_text(value)]
            case.expect[spec.name] = ("valid", value)
        else:
            case.query[spec.name] = [junk(spec, rng)]
            case.expect[spec.name] = ("junk", spec.default)
    if case.expect and rng.random() < 0.25:  # a repeated key: the last value counts
        name = rng.choice(sorted(case.expect))
        case.query[name] = [junk(next(s for s in specs if s.name == name), rng)] + case.query[name]
    names = {s.name for s in specs}
    for key in rng.sample(UNKNOWN_KEYS, rng.randint(0, 2)):
        if key not in names and key not in case.query:
            case.query[key] = [rng.choice(NOT_NUMBERS[:20])]
            case.unknown.append(key)
    return case


def quotable(text: str) -> bool:
    """Short plain text, which the warning can quote as it is."""
    return 0 < len(text) <= controls.QUOTE_CHARS and text.isprintable() and not set(text) & set("'\"\\")


def check_warnings(case: Case, warnings: str) -> list[str]:
    """What is missing from the page's warnings for this case."""
    missing = []
    for name, (kind, _) in case.expect.items():
        texts = case.query[name]
        if kind != "valid" or len(texts) > 1:
            if controls.escape(name) not in warnings:
                missing.append(f"no warning names {name} ({texts!r})")
        if kind == "junk" and quotable(texts[-1]) and controls.escape(texts[-1]) not in warnings:
            missing.append(f"the warning does not quote the ignored {name}={texts[-1]!r}")
        if len(texts) > 1 and quotable(texts[0]) and controls.escape(texts[0]) not in warnings:
            missing.append(f"the warning does not quote the repeated {name}={texts[0]!r}")
    named = [k for k in case.unknown if k != "device"]
    for key in case.unknown:
        if key == "device":
            if "device" not in warnings:
                missing.append("no warning about the device")
        elif controls.quote(key) not in warnings and named.index(key) < controls.MAX_OTHER_KEYS:
            missing.append(f"no warning names the unknown key {key!r}")
    return missing


# ----------------------------------------------------------------------------------------------
# The pure parser: thousands of cases


def page_specs(demo: str) -> list[FieldSpec]:
    return demo_page.page_specs(tl_core.get_demo(demo))


def test_the_link_parser_survives_thousands_of_hostile_links():
    rng = random.Random(SEED)
    pages = {demo: page_specs(demo) for demo in AVAILABLE}
    pages["home"] = []
    warned = 0  # links whose parse said something was wrong
    for _ in range(3000):
        page = rng.choice(sorted(pages))
        specs = pages[page]
        case = make_case(specs, rng, cheap=False, pinned={})
        values, problems, others = controls.parse_link(case.query, specs)
        by_name = {s.name: s for s in specs}
        for name, value in values.items():
            assert by_name[name].check(value) == value, (case.query, name)
        for name, (kind, expected) in case.expect.items():
            if kind == "junk":
                assert name not in values, (case.query, name, values.get(name))
            else:
                assert values[name] == expected, (case.query, name)
            if kind != "valid" or len(case.query[name]) > 1:
                assert name in problems, (case.query, name)
        text = " ".join(list(problems.values()) + others)
        assert not check_warnings(case, text), (case.query, check_warnings(case, text))
        assert "](" not in text and "<" not in text.replace("\\<", ""), text
        assert all(len(w) < 1200 for w in list(problems.values()) + others), "warnings stay short"
        warned += bool(problems or others)
    # The fuzz is hostile (most links carry something to warn about), yet not only hostile.
    assert 1500 < warned < 3000, warned


# ----------------------------------------------------------------------------------------------
# The real pages, through AppTest


def widget_value(value):
    return list(value) if isinstance(value, tuple) else value


def control_value(at: AppTest, name: str):
    for kind in ("slider", "select_slider", "selectbox", "multiselect", "checkbox", "number_input"):
        try:
            return getattr(at, kind)(key=name).value
        except KeyError:
            continue
    raise KeyError(name)


def run_case(path: str, specs: list[FieldSpec], case: Case) -> list[str]:
    """Open `path` with the case's link; what went wrong (empty when all is as it should be)."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(case.query)
    at.switch_page(path).run()
    problems = failures(at)
    if problems:
        return [f"failed: {problems}"]
    warnings = " ".join(w.value for w in at.warning)
    problems += check_warnings(case, warnings)
    own_data = case.expect.get("data", (None, None))[1] == "own"
    if own_data and "cannot carry a file" not in warnings:
        problems.append("data=own without a file: no warning that a link cannot carry one")
    for spec in specs:
        value = control_value(at, spec.name)
        kind, expected = case.expect.get(spec.name, ("default", spec.default))
        if kind == "default" and spec.name in case.query:  # pinned by the test: taken as sent
            expected = spec.check(case.query[spec.name][-1])
        if spec.name == "data" and own_data:  # this session has no file: the built-in data
            expected = "builtin"
        if value != widget_value(expected):
            problems.append(f"{spec.name} is {value!r}, expected {expected!r} ({kind})")
    for key, text in at.query_params.items():
        spec = next((s for s in specs if s.name == key), None)
        if spec is None:
            if key not in ("embed", "embed_options"):
                problems.append(f"the rewritten link keeps {key!r}")
        elif controls.from_link(spec, text[-1] if isinstance(text, list) else text)[1] is not None:
            problems.append(f"the rewritten link has a bad {key}={text!r}")
    demo = next((d for d, p in DEMO_BY_NAME.items() if p.path == path), None)
    if demo and not at.metric and "do not go together" not in warnings:
        problems.append("no results and no reason why")
    return problems


PAGES = (
    [("app_pages/home.py", 40), ("app_pages/theory.py", 25), ("app_pages/compare.py", 45)]
    + [(DEMO_BY_NAME[d].path, 70) for d in NUMPY]
    + [(DEMO_BY_NAME[d].path, 15) for d in TORCH]
)


def compare_specs() -> list[FieldSpec]:
    """The Compare page's settings, as app_pages/compare.py declares them."""
    strategies = tuple(
        s for s in STRATEGIES if s != BASELINE and any(s in tl_core.get_demo(d).STRATEGIES for d in AVAILABLE)
    )
    return [
        FieldSpec("demos", tuple, tuple(AVAILABLE), "", choices=tuple(AVAILABLE)),
        FieldSpec("strategy", str, "fine_tune", "", choices=strategies),
        SWEEP_SEEDS,
        controls.SEED,
    ]


@pytest.mark.parametrize("path,cases", PAGES, ids=[p.split("/")[1][:-3] for p, _ in PAGES])
@pytest.mark.slow
def test_every_page_survives_a_fuzzed_link(path, cases):
    demo = next((d for d, p in DEMO_BY_NAME.items() if p.path == path), None)
    if path.endswith("compare.py"):
        specs = compare_specs()
    else:
        specs = page_specs(demo) if demo else []
    cheap = demo in TORCH
    pinned = fast(demo) if demo in TORCH else {}
    rng = random.Random(f"{SEED}-{path}")
    wrong = []
    for _ in range(cases):
        case = make_case(specs, rng, cheap=cheap, pinned=pinned)
        problems = run_case(path, specs, case)
        if problems:
            wrong.append((case.query, problems))
    assert not wrong, f"{len(wrong)} of {cases} links went wrong; first: {wrong[:3]}"
