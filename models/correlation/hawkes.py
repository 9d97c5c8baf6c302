"""Online EM for a multivariate Hawkes process: which earlier alert caused this one?

Pairwise co-occurrence cannot tell a direct cause from a common cause (two effects of
one outage co-occur as strongly as cause and effect) or from a chain's far end.  A
Hawkes process can: each alert is either background (rate ``mu`` of its kind on its
source) or the child of one earlier alert within the window, and the expected number
of ``j`` children of an ``i`` alert is ``alpha[i, j]``.  One stochastic EM step per
alert (Lewis and Mohler's online EM, kernel uniform over the window) splits the alert's
responsibility among its candidate parents in proportion to ``alpha`` and the
background, and adds each share to ``attributed[i, j]``; ``alpha`` is then
``attributed / count``.  Once a common cause is learned it explains its effects, so
little is attributed between the effects themselves.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

PRIOR_ALPHA = 0.01  # a weak prior: 0.01 children per alert, worth PRIOR_WEIGHT alerts
PRIOR_WEIGHT = 5.0


class HawkesAttribution:
    """Responsibilities of earlier alerts for later ones, accumulated per pair of kinds."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.attributed = np.zeros((0, 0))
        self.background = np.zeros(0)
        self.count = np.zeros(0)

    def grow(self, size: int) -> None:
        n = self.attributed.shape[0]
        if size <= n:
            return
        attributed = np.zeros((size, size))
        attributed[:n, :n] = self.attributed
        self.attributed = attributed
        self.background = np.concatenate([self.background, np.zeros(size - n)])
        self.count = np.concatenate([self.count, np.zeros(size - n)])

    def learn_one(self, kind: int, parents: Sequence[int], rate: float) -> None:
        """An alert of ``kind`` whose candidate parents (kinds of the alerts within the
        window before it) are ``parents``; ``rate`` is its kind's observed rate on its
        source (alerts/s), of which the background share learned so far is background."""
        share = (self.background[kind] + 1) / (self.count[kind] + 1)
        mu = rate * share + 1e-12
        attributed, count = self.attributed, self.count
        weights = [
            (attributed[p, kind] + PRIOR_ALPHA * PRIOR_WEIGHT)
            / (count[p] + PRIOR_WEIGHT)
            / self.window
            for p in parents
        ]
        total = mu + sum(weights)
        for p, w in zip(parents, weights, strict=True):
            attributed[p, kind] += w / total
        self.background[kind] += mu / total
        count[kind] += 1

    def to_state(self, n: int) -> dict[str, list]:
        return {
            "attributed": self.attributed[:n, :n].tolist(),
            "background": self.background[:n].tolist(),
            "count": self.count[:n].tolist(),
        }

    def load(self, state: dict[str, list], n: int) -> None:
        self.grow(n)
        self.attributed[:n, :n] = np.array(state["attributed"], dtype=float).reshape(n, n)
        self.background[:n] = state["background"]
        self.count[:n] = state["count"]
