"""The two simple estimators every stage measures against, written once: DiffMean and the
logistic probe.

DiffMean (AxBench's strong baseline): the mean of the rows that have a concept minus the mean of
those that do not. Its users: steering's baseline direction (prompts answered right minus wrong),
concept steering (prompts with the value minus without), the probe-guided push (a value's rows
minus all of them), the features stage's detector and k-sparse ranking, and cause/isolate's swap
direction. The probe: a standardised logistic regression, its regularisation given or chosen by
cross-validation.
"""

from __future__ import annotations

import numpy as np


def diffmean(with_concept, without_concept):
    """Mean of the rows with the concept minus mean of the rows without ([n, d] numpy arrays or torch
    tensors, the same kind out)."""
    return with_concept.mean(0) - without_concept.mean(0)


def fit_probe(x: np.ndarray, y, seed: int, *, c: float = 1.0, cv_grid: tuple[float, ...] | None = None,
              max_iter: int = 5000):
    """A standardised logistic regression fitted to (x, y). With `cv_grid`, its C is chosen by 5-fold
    cross-validation (log loss) when every class has 5 examples; otherwise `c`."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter, C=c, random_state=seed))
    if cv_grid is None or min(np.unique(np.asarray(y), return_counts=True)[1]) < 5:
        return probe.fit(x, y)
    search = GridSearchCV(probe, {"logisticregression__C": list(cv_grid)}, cv=5, scoring="neg_log_loss")
    return search.fit(x, y)
