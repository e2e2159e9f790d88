"""Transfer Lab: the frame of the app. Page config, the menu of pages, the device in use.

    streamlit run app.py

Each page is a short script in app_pages/; the demo pages share tl_app/demo_page.py. (Not
`pages/`: Streamlit treats a folder of that name as an old-style multipage app, and a shared link
such as /linear opened on a fresh server would run the page without this frame.)

Hosting a class (see the README): the CPU threads are shared out once per process, training waits
for one of TL_MAX_JOBS training slots, and an unexpected error in a page becomes a message saying
what to do while the server log keeps its traceback.
"""

import streamlit as st

from tl_app import style
from tl_app.catalog import COMPARE, DEMO_PAGES, HOME, THEORY
from tl_app.server import cap_uploads, limit_cpu_threads, report_failure, start_training_processes
from tl_core.runtime import pick_device

# An emoji icon is drawn by the browser itself; a ":material/..." page icon is fetched from
# fonts.gstatic.com by every visitor's browser (nothing at all on a closed network).
st.set_page_config(page_title="Transfer Lab", page_icon="🎓", layout="wide")
style.apply()


@st.cache_resource
def start_up() -> tuple[str, int]:
    """Once per server process: the device every page computes on, and the CPU threads per run
    (and the worker processes that use them, started in the background)."""
    cap_uploads()
    threads, device = limit_cpu_threads(), pick_device("auto")
    start_training_processes(device, threads)
    return device, threads


def page(entry: tuple[str, str, str], default: bool = False) -> st.Page:
    path, title, icon = entry
    return st.Page(path, title=title, icon=icon, default=default)


navigation = st.navigation(
    {
        "Transfer Lab": [page(HOME, default=True)],
        "Demos": [st.Page(d.path, title=d.title, icon=d.icon) for d in DEMO_PAGES],
        "All demos together": [page(COMPARE), page(THEORY)],
    }
)
device, threads = start_up()
try:
    navigation.run()
except Exception as error:  # Streamlit's stop and rerun signals are BaseExceptions: they pass
    report_failure(error)
st.sidebar.caption(
    f"Computing on **{device}**"
    + (f" ({threads} CPU thread{'s' if threads > 1 else ''} per run)" if device == "cpu" else "")
    + ". Same settings and seed give the same numbers."
)
