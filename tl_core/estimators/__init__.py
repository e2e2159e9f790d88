"""scikit-learn estimators for regularized transfer: fit the target, pulled toward the source.

Both minimise the target loss + λ‖w − w_source‖² (squared error for the regressor, the logistic
loss for the classifier), like ADAPT's RegularTransferLR / RegularTransferLC, and pass
scikit-learn's own estimator checks.
"""

from tl_core.estimators.classifier import RegularTransferClassifier
from tl_core.estimators.regressor import RegularTransferRegressor

__all__ = ["RegularTransferClassifier", "RegularTransferRegressor"]
