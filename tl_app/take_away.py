"""The end of a demo page: share the experiment's link, export its results, charts and weights,
reproduce it in a notebook."""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from tl_app import cached, controls, exports, user_data
from tl_app.catalog import DemoPage
from tl_app.page_charts import Charts
from tl_app.page_controls import page_specs
from tl_core import narrate
from tl_core.result import RunResult
from tl_core.strategies import BASELINE
from tl_core.userdata import UserData

SHARE_TEXT = (
    "Send this link: it opens this page with every control as it is now (same seed, "
    "same numbers). The address bar holds the same link."
)
SHARE_OWN_DATA = (
    "Send this link: it opens this page with every control as it is now. **A link "
    "cannot carry your file**: whoever opens it sees the built-in scenario until "
    "they choose “Your own data” and upload the same file (then: same seed, same "
    "numbers)."
)
SHARE_BUNDLED = (
    "Send this link: it opens this page on the same table bundled with scikit-learn, with "
    "every control as it is now (same seed, same numbers)."
)
SHARE_BUNDLED_CHANGED = (
    "Send this link: it opens this page on the same table bundled with scikit-learn, with every "
    "control as it is now. **A link does not carry the table's column choices you changed** "
    "({changed}): whoever opens it starts from the table's suggested ones and must make the "
    "same choices to get the same numbers."
)


def take_away(
    page: DemoPage,
    module,
    config,
    result: RunResult,
    sweeps: dict,
    charts: Charts,
    data: UserData | None = None,
) -> None:
    """Share, export, reproduce. The panels are keyed, so they stay open or shut across reruns,
    and a download starts no rerun: every button's file stays there until the page changes."""
    st.subheader("Share, export, reproduce")
    query = {s.name: controls.to_text(controls.value_of(s)) for s in page_specs(module)}
    with st.expander("Share this experiment", icon=":material/share:", expanded=True, key="share_panel"):
        st.markdown(share_text(page.demo, data))
        st.code(share_link(query), language=None, wrap_lines=True)
    with st.expander("Export", icon=":material/download:", key="export_panel"):
        export_buttons(page, module, config, result, charts, data)
    with st.expander("Reproduce in a notebook", icon=":material/code:", key="notebook_panel"):
        notebook_panel(page, module, config, result, sweeps, data)


def share_link(query: dict[str, str]) -> str:
    """The link of this experiment: absolute when the browser's address is known, else relative."""
    url = getattr(st.context, "url", None)
    base = url.split("?")[0] if url else ""
    return f"{base}?{urlencode(query, safe=',')}"


def share_text(demo: str, data: UserData | None) -> str:
    """What a link of this page restores, truthfully: a file stays behind, a bundled table opens."""
    if data is None:
        return SHARE_TEXT
    if not data.bundled:
        return SHARE_OWN_DATA
    changed = user_data.changed_columns(demo)
    if not changed:
        return SHARE_BUNDLED
    return SHARE_BUNDLED_CHANGED.format(changed=", ".join(c.replace("_", " ") for c in changed))


def export_buttons(
    page: DemoPage, module, config, result: RunResult, charts: Charts, data: UserData | None = None
) -> None:
    """The downloads. None reruns the page (`on_click="ignore"`): a rerun would replace the
    buttons' files while the browser still asks for the old ones, and close nothing. Each file
    is made when its button is pressed (a callable): most page runs download nothing, and
    encoding every result and history to JSON at each run was half a stored page's time."""
    name = f"transfer_lab_{page.demo}_seed{config.seed}"
    left, right = st.columns(2)
    left.download_button(
        "Results as CSV",
        lambda: exports.csv_bytes(result),
        file_name=f"{name}.csv",
        mime="text/csv",
        key="download_csv",
        on_click="ignore",
    )
    right.download_button(
        "Results as JSON (config + metrics + history)",
        lambda: exports.json_bytes(result),
        file_name=f"{name}.json",
        mime="application/json",
        key="download_json",
        on_click="ignore",
    )
    drawn = list(charts.drawn)
    st.download_button(
        f"All {len(drawn)} charts of this page in one HTML file (opens offline in any browser)",
        lambda: exports.charts_html(f"Transfer Lab: {page.title}", drawn),
        file_name=f"{name}_charts.html",
        mime="text/html",
        key="download_charts_html",
        on_click="ignore",
    )
    weights = module.OFFERS.target_weights
    if weights is not None:  # a torch demo: the trained target model, on request
        strategy = narrate.best_transfer(result) or BASELINE
        st.download_button(
            "Trained target model weights (safetensors)",
            lambda: cached.on_request(lambda: weights(config, strategy, **user_data.keyword(data))),
            file_name=f"{name}_target.safetensors",
            mime="application/octet-stream",
            key="download_weights",
            on_click="ignore",
        )


def notebook_panel(
    page: DemoPage, module, config, result: RunResult, sweeps: dict, data: UserData | None
) -> None:
    """The code that reruns this experiment, shown and as a notebook to download."""
    cells = exports.reproduce_cells(page.demo, config.to_dict(), sweeps, exports.views_of(module), data=data)
    st.markdown(
        "These lines of Python rerun exactly this experiment and draw its charts wherever "
        "the `transfer-lab` package is installed (`pip install` a copy of this repository: "
        "the notebook's first cell says how"
        + (", with your file beside the notebook" if data is not None and not data.bundled else "")
        + ")."
    )
    st.code("\n\n".join(cells), language="python")
    st.download_button(
        "Download as a Jupyter notebook",
        lambda: exports.notebook_bytes(f"Transfer Lab: {page.title}", what_it_shows(page, result), cells),
        key="download_notebook",
        file_name=f"transfer_lab_{page.demo}.ipynb",
        mime="application/x-ipynb+json",
        icon=":material/download:",
        on_click="ignore",
    )


def what_it_shows(page: DemoPage, result: RunResult) -> str:
    return (
        f"{page.lesson}\n\nThis notebook reruns the experiment of the {page.title} page with "
        f"every setting as it was (seed {result.config['seed']}). On the page: "
        f"{narrate.describe_result(result)}"
    )
