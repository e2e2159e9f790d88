"""scikit-learn's tables that ship with the package (nothing is downloaded), each with readable
column names, the target as a column, and a suggested task and split that shows a real shift."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import pandas as pd

from tl_core.userdata import UserDataError
from tl_core.userdata.table_words import quoted


@dataclass(frozen=True)
class BundledTable:
    """One of scikit-learn's bundled tables, and the choices that make it a transfer task."""

    title: str  # what the app lists
    task: str  # "regression" (linear demo) or "classification" (logistic demo)
    label: str
    split_column: str
    split_op: str
    split_value: float | str
    positive_class: str | None = None

    def options(self) -> dict[str, Any]:
        """table_data's keyword arguments for this table's suggested task and split."""
        return {
            "task": self.task,
            "label": self.label,
            "split_column": self.split_column,
            "split_op": self.split_op,
            "split_value": self.split_value,
            "positive_class": self.positive_class,
        }


BUNDLED_TABLES: dict[str, BundledTable] = {
    "diabetes": BundledTable(
        "Diabetes: disease progression of 442 patients (regression), men to women",
        "regression",
        "disease progression",
        "sex",
        "==",
        2.0,
    ),
    "breast_cancer": BundledTable(
        "Breast cancer: 569 tumours, malignant or benign, smooth outlines to rough ones",
        "classification",
        "diagnosis",
        "mean smoothness",
        ">",
        0.09587,
    ),
    "wine": BundledTable(
        "Wine: 178 wines of 3 cultivars (cultivar 2 or not), less magnesium to more",
        "classification",
        "cultivar",
        "magnesium",
        ">",
        98.0,
        positive_class="cultivar 2",
    ),
    "iris": BundledTable(
        "Iris: 150 flowers of 3 species (virginica or not), narrow sepals to wide",
        "classification",
        "species",
        "sepal width (cm)",
        ">=",
        3.0,
        positive_class="virginica",
    ),
}

_DIABETES_NAMES = {
    "bp": "blood pressure",
    "s1": "total cholesterol",
    "s2": "LDL cholesterol",
    "s3": "HDL cholesterol",
    "s4": "cholesterol / HDL",
    "s5": "log triglycerides",
    "s6": "blood sugar",
    "target": "disease progression",
}


def bundled_table(name: str) -> pd.DataFrame:
    """Bundled table `name` (a key of BUNDLED_TABLES) as a fresh DataFrame, the target a column."""
    if name not in BUNDLED_TABLES:
        raise UserDataError(
            f"there is no bundled table {quoted(name)}: choose one of {', '.join(BUNDLED_TABLES)}"
        )
    return _load_bundled(name).copy()


@cache
def _load_bundled(name: str) -> pd.DataFrame:
    from sklearn import datasets

    if name == "diabetes":  # the raw values (age in years, sex 1 or 2), not sklearn's scaled ones
        frame = datasets.load_diabetes(as_frame=True, scaled=False).frame
        return frame.rename(columns=_DIABETES_NAMES)
    loader = {
        "breast_cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
        "iris": datasets.load_iris,
    }[name]
    bunch = loader(as_frame=True)
    frame = bunch.frame.rename(columns=lambda c: c.replace("_", " "))
    label = BUNDLED_TABLES[name].label
    class_names = [f"cultivar {i + 1}" for i in range(3)] if name == "wine" else bunch.target_names
    frame.insert(len(frame.columns) - 1, label, [str(class_names[t]) for t in bunch.target])
    return frame.drop(columns="target")
