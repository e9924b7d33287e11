"""Property-based API run (schemathesis) per role: requests generated from the OpenAPI
document never cause a server error, and every answer conforms to the document (a
declared status, content type and body schema)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.web.conftest import Served
from tests.web.test_roles import CALLERS

EXAMPLES = 15
"""Generated requests per operation and role (19 operations x 5 roles x 15 = 1425)."""


@pytest.mark.parametrize("who", CALLERS)
def test_generated_requests_get_declared_answers(served: Served, who: str) -> None:
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", served.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 19
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(headers=served.bearer(who))

        check()
