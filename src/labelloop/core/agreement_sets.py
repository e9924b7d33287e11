"""Agreement of multi-label answers: Krippendorff's alpha with a set distance, and kappa per label.

* :func:`krippendorff_alpha_sets` is Krippendorff's alpha (2011) with the MASI distance
  between label sets (Passonneau 2006): partial overlap counts as partial agreement. With
  one label per answer it equals nominal alpha.
* :func:`agreement_per_label_sets` treats each label as a present/absent question and
  reports Fleiss' kappa and the mean pairwise Cohen's kappa of those binary answers.

Conventions as in :mod:`labelloop.core.agreement`: answers already deduplicated, only items
with two or more answers count, bootstrap percentile intervals over those items.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from labelloop.core.agreement import (
    AgreementResult,
    RandomState,
    _result,
    cohen_kappa_mean,
    fleiss_kappa,
    pairs_within_groups,
)
from labelloop.core.answers import FloatArray
from labelloop.core.label_sets import SetAnswers, distinct_sets, masi_distance
from labelloop.errors import InvalidInput

SET_DISTANCES: tuple[str, ...] = ("masi", "jaccard")


def _distance_matrix(sets: np.ndarray, distance: str) -> FloatArray:
    left = sets[:, None, :]
    right = sets[None, :, :]
    if distance == "masi":
        return masi_distance(left, right)
    inter = (left & right).sum(axis=-1)
    union = (left | right).sum(axis=-1)
    return np.where(union > 0, 1.0 - inter / np.maximum(union, 1), 0.0)


def krippendorff_alpha_sets(
    answers: SetAnswers,
    *,
    distance: str = "masi",
    n_boot: int = 1000,
    confidence: float = 0.95,
    random_state: RandomState = None,
) -> AgreementResult:
    """Krippendorff's alpha of label sets with a set distance (``masi`` or ``jaccard``).

    ``alpha = 1 - D_o / D_e``: ``D_o`` the mean distance between two answers on the same
    item (each item weighted by ``1 / (m_i - 1)``, as in Krippendorff's coincidences),
    ``D_e`` the mean distance between any two pairable answers.

    Parameters
    ----------
    answers : SetAnswers
        ``n_answers`` multi-hot rows over ``n_classes`` labels, one per (item, labeler).
    distance : {"masi", "jaccard"}
    n_boot, confidence, random_state
        Bootstrap over pairable items (see :mod:`labelloop.core.agreement`).

    Returns
    -------
    AgreementResult
        ``metric`` is ``krippendorff_alpha_masi`` (or ``_jaccard``).

    Examples
    --------
    >>> a = SetAnswers.from_sets(
    ...     [0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 0, 1],
    ...     [[0], [0], [1], [1], [0, 1], [1]], n_classes=2,
    ... )
    >>> round(krippendorff_alpha_sets(a, n_boot=0).value, 4)
    0.6429
    """
    if distance not in SET_DISTANCES:
        raise InvalidInput(f"distance must be one of {list(SET_DISTANCES)}, got {distance!r}")
    m_all = np.bincount(answers.item, minlength=answers.n_items)
    keep = m_all[answers.item] >= 2
    order = np.argsort(answers.item[keep], kind="stable")
    item = answers.item[keep][order]
    present = answers.present[keep][order]
    sets, code = distinct_sets(present)
    delta = _distance_matrix(sets, distance)
    units, unit = np.unique(item, return_inverse=True)
    n_units = units.shape[0]
    m = np.bincount(unit, minlength=n_units).astype(np.float64)
    left, right = pairs_within_groups(item)
    pair_d = 2.0 * delta[code[left], code[right]]  # both orders of each pair
    observed = np.bincount(unit[left], weights=pair_d, minlength=n_units) / np.maximum(m - 1, 1)
    n_sets = sets.shape[0]
    counts = sp.csr_matrix((np.ones(code.shape[0]), (unit, code)), shape=(n_units, max(n_sets, 1)))
    stats = sp.hstack(
        [sp.csr_matrix(observed[:, None]), sp.csr_matrix(m[:, None]), counts], format="csr"
    )

    def statistic(t: FloatArray) -> FloatArray:
        n = t[:, 1]
        ns = t[:, 2 : 2 + n_sets]
        expected = np.einsum("rs,st,rt->r", ns, delta, ns) / (n * (n - 1))
        with np.errstate(invalid="ignore", divide="ignore"):
            alpha = 1.0 - (t[:, 0] / n) / expected
        return np.where(expected > 0, alpha, np.nan)

    return _result(
        f"krippendorff_alpha_{distance}",
        stats,
        statistic,
        n_boot=n_boot,
        confidence=confidence,
        random_state=random_state,
    )


@dataclass(frozen=True)
class PresenceAgreement:
    """Agreement on one label's present/absent answers.

    Attributes
    ----------
    label : int
        Class code.
    prevalence : float
        Share of the answers (on pairable items) that give the label.
    fleiss_kappa, cohen_kappa_mean : AgreementResult
    """

    label: int
    prevalence: float
    fleiss_kappa: AgreementResult
    cohen_kappa_mean: AgreementResult


def agreement_per_label_sets(
    answers: SetAnswers,
    *,
    min_items: int = 20,
    n_boot: int = 1000,
    confidence: float = 0.95,
    random_state: RandomState = None,
) -> list[PresenceAgreement]:
    """Fleiss' kappa and mean pairwise Cohen's kappa of each label's present/absent answers.

    Parameters
    ----------
    answers : SetAnswers
        Shape (n_answers, n_classes) rows, one per (item, labeler).
    min_items : int
        Items two labelers must share for their Cohen's kappa.

    Returns
    -------
    list of PresenceAgreement, one per label in code order.

    Examples
    --------
    >>> a = SetAnswers.from_sets([0, 0, 1, 1], [0, 1, 0, 1], [[0], [0], [0, 1], [0]],
    ...                          n_classes=2)
    >>> [round(x.prevalence, 2) for x in agreement_per_label_sets(a, n_boot=0, min_items=1)]
    [1.0, 0.25]
    """
    rng = (
        np.random.default_rng(random_state)
        if not isinstance(random_state, np.random.Generator)
        else random_state
    )
    m = np.bincount(answers.item, minlength=answers.n_items)
    pairable = m[answers.item] >= 2
    out = []
    for k in range(answers.n_classes):
        binary = answers.per_label(k)
        share = answers.present[pairable, k]
        out.append(
            PresenceAgreement(
                label=k,
                prevalence=float(share.mean()) if share.size else float("nan"),
                fleiss_kappa=fleiss_kappa(
                    binary, n_boot=n_boot, confidence=confidence, random_state=rng
                ),
                cohen_kappa_mean=cohen_kappa_mean(
                    binary,
                    min_items=min_items,
                    n_boot=n_boot,
                    confidence=confidence,
                    random_state=rng,
                ),
            )
        )
    return out
