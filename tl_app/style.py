"""The app's few style rules: a first screen with room for the chart, and pages that read on a phone.

Streamlit lays pages out by itself (columns stack below 640 px); these rules only fill its gaps,
through its stable `data-testid` hooks:

- the main block starts closer to the top, so that at a projector's 1280x720 the controls, the
  headline and the source-vs-target chart share the first screen;
- a wide equation scrolls sideways inside its own box instead of running off a phone's screen;
- a link to a page and a headline's label wrap instead of being cut;
- on a phone the open sidebar takes the top of the screen and the page stays in view below it
  (Streamlit's own drawer would cover three quarters of the page).
"""

from __future__ import annotations

import streamlit as st

PHONE = "@media (max-width: 640px)"  # Streamlit's own breakpoint: columns stack below it
OPEN_SIDEBAR = '[data-testid="stSidebar"][data-collapsed="false"]'
DRAWER = "55vh"  # the open sidebar's share of a phone's screen, at its top; the page scrolls below

CSS = f"""
<style>
[data-testid="stMainBlockContainer"] {{ padding-top: 2.5rem; }}
.katex-display {{ overflow-x: auto; overflow-y: hidden; padding: 0.2em 0; }}
[data-testid="stPageLink"] p {{ white-space: normal; }}
[data-testid="stMetricLabel"] * {{ white-space: normal !important; overflow: visible !important; }}
{PHONE} {{
  [data-testid="stMainBlockContainer"] {{ padding-left: 0.75rem; padding-right: 0.75rem; }}
  h1 {{ font-size: 2rem !important; }}
  [data-testid="stAppViewContainer"]:has({OPEN_SIDEBAR}) {{ flex-direction: column; }}
  {OPEN_SIDEBAR} {{
    width: 100% !important; min-width: 0 !important; max-width: none !important;
    height: {DRAWER} !important; flex: none; box-shadow: 0 2px 6px rgba(0, 0, 0, 0.2);
  }}
  {OPEN_SIDEBAR} [data-testid="stSidebarContent"] {{ height: {DRAWER}; }}
  [data-testid="stAppViewContainer"]:has({OPEN_SIDEBAR}) > div:has(> [data-testid="stMain"]) {{
    flex: 1; min-height: 0;
  }}
  [data-testid="stAppViewContainer"]:has({OPEN_SIDEBAR}) [data-testid="stMain"] {{
    position: relative; height: 100%;
  }}
}}
</style>
"""


def apply() -> None:
    """Put the rules on the page (call once per run, from the app's frame)."""
    st.html(CSS)
