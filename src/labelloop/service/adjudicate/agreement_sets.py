"""Agreement of a multi-label project's answers (`labelloop agreement` without a file).

Reports Krippendorff's alpha with the MASI set distance (partial overlap is partial
agreement), exact-set percent agreement, and for each label Fleiss' kappa and the mean
pairwise Cohen's kappa of its present/absent answers, each with a bootstrap interval.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from labelloop.core.agreement import percent_agreement
from labelloop.core.agreement_sets import agreement_per_label_sets, krippendorff_alpha_sets
from labelloop.core.answers import Answers, LabelSpace
from labelloop.core.label_sets import SetAnswers, distinct_sets
from labelloop.errors import InvalidInput
from labelloop.formats.answers import AnswerTable
from labelloop.schema import Schema
from labelloop.service.adjudicate.agreement import row_codes
from labelloop.service.adjudicate.agreement_files import _check_options, _num, _record
from labelloop.store.listing import AnswerRow


def agreement_sets_of(
    rows: list[AnswerRow],
    schema: Schema,
    head: dict[str, Any],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: str = "nominal",
    report: bool = False,
    min_pair_items: int = 20,
    confidence: float = 0.95,
    keep: str = "last",
    top: int = 5,
) -> tuple[dict[str, Any], None, AnswerTable]:
    """Agreement of multi-label answer rows (chain order); the summary starts with ``head``.

    Returns the summary, no schema gap report (it is single-label only) and the answers as a
    table whose classes are the distinct label sets (``a|b``).
    """
    _check_options(level, keep, confidence)
    if level != "nominal":
        raise InvalidInput(
            f"--level {level!r} applies to single-label answers; schema {schema.version} is "
            f"{schema.task}, whose agreement uses the MASI set distance"
        )
    if report:
        raise InvalidInput(
            f"--report (the schema gap report) covers single-label answers; schema "
            f"{schema.version} is {schema.task}"
        )
    present, fit = schema.encode([r.label for r in rows])
    kept = [r for r, ok in zip(rows, fit, strict=True) if ok]
    if not kept:
        raise InvalidInput(
            f"project {head['project']!r} has no answers that are lists of labels of schema "
            f"{schema.version} {list(schema.label_space.labels)} (saw {len(rows):,} answers)"
        )
    item_ids, labeler_ids, item_code, labeler_code = row_codes(kept)
    raw = SetAnswers(item_code, labeler_code, present[fit], len(item_ids), len(labeler_ids))
    ans = raw.deduplicate(keep="last" if keep == "last" else "first")
    per_item = np.bincount(ans.item, minlength=ans.n_items)
    single = np.flatnonzero(per_item == 1)
    if not np.any(per_item >= 2):
        raise InvalidInput(
            f"no item has two or more answers: all {ans.n_items} item(s) have a single answer "
            f"(e.g. {item_ids[int(single[0])]!r}); agreement compares labelers on the same item"
        )
    opts: dict[str, Any] = {"n_boot": n_boot, "confidence": confidence, "random_state": seed}
    sets, set_code = distinct_sets(ans.present)
    names = schema.label_space.labels
    set_space = LabelSpace(
        tuple("|".join(n for n, on in zip(names, row, strict=True) if on) for row in sets)
    )
    as_sets = Answers(ans.item, ans.labeler, set_code, ans.n_items, ans.n_labelers, len(sets))
    exact = percent_agreement(as_sets, **opts)
    alpha = krippendorff_alpha_sets(ans, distance="masi", **opts)
    per_label = agreement_per_label_sets(ans, min_items=min_pair_items, **opts)
    summary: dict[str, Any] = {
        **head,
        "skipped_answers": len(rows) - len(kept),
        "task": schema.task,
        "n_answers": len(raw),
        "n_answers_used": int(per_item[per_item >= 2].sum()),
        "duplicates_dropped": len(raw) - len(ans),
        "keep": keep,
        "n_tasks": ans.n_items,
        "n_items": int(np.count_nonzero(per_item >= 2)),
        "n_workers": ans.n_labelers,
        "labels": list(names),
        "n_boot": n_boot,
        "seed": seed,
        "confidence": confidence,
        "exact_set_agreement": _record(exact),
        "krippendorff_alpha": {**_record(alpha), "distance": "masi"},
        "band": alpha.band,
        "excluded_items": {
            "count": int(single.size),
            "reason": "single answer",
            "examples": [item_ids[int(i)] for i in single[:5]],
        },
        "per_label": [
            {
                "label": names[x.label],
                "prevalence": _num(x.prevalence),
                "fleiss_kappa": _record(x.fleiss_kappa),
                "cohen_kappa_mean": {
                    **_record(x.cohen_kappa_mean),
                    "min_pair_items": min_pair_items,
                },
            }
            for x in per_label
        ],
    }
    return summary, None, AnswerTable(as_sets, item_ids, labeler_ids, set_space)
