"""Linear regression: a line fitted on plenty of source data, carried to a target with few samples."""

from tl_app.demo_page import show

show("linear")
