"""The pages of the app, and what each demo teaches, in one place (Home, navigation, Theory).

A new demo's page is one `DemoPage` here and a page file of three lines, `app_pages/<demo>.py`,
that calls `tl_app.demo_page.show("<demo>")`: the page reads the demo through its contract
(tl_core.demos.protocol), so nothing else in tl_app changes (tests/test_fake_demo.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoPage:
    demo: str  # the tl_core demo name
    title: str
    icon: str
    path: str  # the page file, relative to app.py
    lesson: str  # the one-line lesson on Home
    shows: str  # what the page's model view and samples are


DEMO_PAGES = (
    DemoPage(
        "linear",
        "Linear regression",
        ":material/show_chart:",
        "app_pages/linear.py",
        "A line fitted on plenty of source data is a head start when the target has 5 points, "
        "and a handicap when the target's line is far away.",
        "source and target points with every strategy's fitted line",
    ),
    DemoPage(
        "logistic",
        "Logistic regression",
        ":material/scatter_plot:",
        "app_pages/logistic.py",
        "A decision boundary learned on the source needs only a few target labels to rotate "
        "into place; λ sets how far it may move.",
        "2-D samples of both domains and each strategy's decision boundary",
    ),
    DemoPage(
        "cnn",
        "CNN",
        ":material/grid_view:",
        "app_pages/cnn.py",
        "Convolution filters learned on one set of digits carry over to other digits: "
        "freeze them and train only the head, or fine-tune everything.",
        "digit images of both domains, the learned filters, misclassified digits and the confusion matrix",
    ),
    DemoPage(
        "rnn",
        "RNN",
        ":material/timeline:",
        "app_pages/rnn.py",
        "A recurrent network's hidden state learned on one family of 1-D signals reads "
        "another family too, until the signals drift too far apart.",
        "example sequences of both domains and the paths of the hidden state",
    ),
)

DEMO_BY_NAME = {page.demo: page for page in DEMO_PAGES}

HOME = ("app_pages/home.py", "Home", ":material/home:")
COMPARE = ("app_pages/compare.py", "Compare", ":material/compare_arrows:")
THEORY = ("app_pages/theory.py", "Theory", ":material/functions:")
