"""The Streamlit side of Transfer Lab: thin helpers the pages share.

- `catalog`: the pages, their titles and the one-line lesson of each demo.
- `controls`: sidebar widgets built from a demo's config fields, mirrored into the page's link.
- `cached`: the core's calls behind `st.cache_data`, with a progress bar.
- `exports`: CSV, JSON, standalone chart HTML, and the notebook that reproduces a run.
- `demo_page`: the one page every demo uses; `app_pages/linear.py` etc. only name their demo.

Nothing here trains a model: that is `tl_core`'s job. Nothing here keeps module-level state that
changes: every session's values live in its own `st.session_state`.
"""
