"""The core reports bad input as InvalidInput, which is also a ValueError."""

from __future__ import annotations

import pytest

from labelloop.core.aggregate import MACE, make_aggregator
from labelloop.core.agreement import krippendorff_alpha
from labelloop.core.answers import Answers, LabelSpace
from labelloop.errors import InvalidInput, LabelloopError


def test_invalid_input_is_a_value_error_and_a_labelloop_error() -> None:
    err = InvalidInput("bad", source="f.csv", line=3)
    assert isinstance(err, ValueError)
    assert isinstance(err, LabelloopError)
    assert str(err) == "f.csv, line 3: bad"


def _answers() -> Answers:
    return Answers.from_codes([0, 0, 1, 1], [0, 1, 0, 1], [0, 1, 1, 1])


def test_core_input_errors_are_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="label names must be unique"):
        LabelSpace(("a", "a"))
    with pytest.raises(InvalidInput, match="method must be 'vb' or 'em'"):
        MACE(method="xx").fit(_answers())
    with pytest.raises(InvalidInput, match="level must be one of"):
        krippendorff_alpha(_answers(), level="bogus")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("dawid_skene", {"max_iter": "x"}),
        ("dawid_skene", {"max_iter": 1.5}),
        ("dawid_skene", {"tol": True}),
        ("mace", {"fit_prior": "x"}),
        ("mace", {"random_state": "seed"}),
    ],
)
def test_make_aggregator_rejects_a_parameter_of_the_wrong_kind(
    name: str, params: dict[str, object]
) -> None:
    with pytest.raises(InvalidInput, match=f"parameter {next(iter(params))}="):
        make_aggregator(name, **params)


def test_make_aggregator_accepts_every_kind_its_hints_allow() -> None:
    assert make_aggregator("dawid_skene", max_iter=5, tol=1).tol == 1  # an int is a number
    assert make_aggregator("mace", fit_prior="auto", random_state=None).fit_prior == "auto"
    assert make_aggregator("label_model", class_balance=[0.5, 0.5]) is not None  # unchecked
