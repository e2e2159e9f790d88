"""Transfer Lab's pure core: demos, strategies, results, sweeps and plotly figures. No Streamlit here.

import tl_core
result = tl_core.run("linear", n_target=5)
table = tl_core.sweep("linear", over="n_target", values=[2, 5, 10, 50], seeds=5)
tl_core.plots.source_vs_target(result).show()
tl_core.plots.data_efficiency(table).show()
tl_core.prepare()  # once per machine: data and source models kept on disk
"""

from tl_core import plots
from tl_core.api import make_config, prepare, run, stored_run, stored_sweep, sweep
from tl_core.demos import available_demos, get_demo
from tl_core.estimators import RegularTransferClassifier, RegularTransferRegressor
from tl_core.result import RunResult, StrategyResult
from tl_core.tables import summarize

__all__ = [
    "run",
    "sweep",
    "stored_run",
    "stored_sweep",
    "summarize",
    "make_config",
    "prepare",
    "plots",
    "available_demos",
    "get_demo",
    "RunResult",
    "StrategyResult",
    "RegularTransferRegressor",
    "RegularTransferClassifier",
]
