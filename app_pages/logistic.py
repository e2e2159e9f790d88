"""Logistic regression: a decision boundary learned on the source, rotated into the target."""

from tl_app.demo_page import show

show("logistic")
