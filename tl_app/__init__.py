"""The Streamlit side of Transfer Lab: thin helpers the pages share.

- `catalog`: the pages, their titles and the one-line lesson of each demo.
- `controls`: sidebar widgets built from a demo's config fields, mirrored into the page's link.
- `cached`: the core's calls behind `st.cache_data`, with a progress bar and a training slot.
- `training_slots`: at most TL_MAX_JOBS trainings at once per server process; the rest queue, told so.
- `server`: CPU threads shared out and the upload cap set at start-up; an unexpected error told kindly,
  logged in full.
- `exports`: CSV, JSON, standalone chart HTML, and the notebook that reproduces a run.
- `demo_page`: the one page every demo uses; `app_pages/linear.py` etc. only name their demo. Its
  parts: `page_controls`, `results_section`, `sweep_section`, `take_away`, `page_charts`.
- `launch`: the `transfer-lab` command (`transfer-lab app` starts the app from any folder).
- `lecture_pages`, `chart_store`: `transfer-lab prepare` opens the lecture grid's pages once; their
  charts are kept on disk for every server process.

Nothing here trains a model: that is `tl_core`'s job. Every session's values live in its own
`st.session_state`; module-level names are constants, except the training slots
(`training_slots.SLOTS`), which every session shares on purpose and which are thread-safe. Cached
results reach each session as its own copy (`st.cache_data`); `st.cache_resource` holds only what
no one changes: app.py's start-up (an immutable tuple: the device, the CPU threads) and the drawn
charts (`figures.Drawn`, frozen, also kept on disk by `chart_store`).
"""
