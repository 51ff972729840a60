"""Bounded property-based requests (schemathesis) against the live API's OpenAPI document: whatever
the generated parameters, the API answers with a 2xx or a 4xx, never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from driftline.analysis.api.app import Settings, create_app
from tests.benchmarks.bench_diff import _version
from tests.integration.test_api import _serve


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("fuzz") / "data"
    rng = np.random.default_rng(4)
    _version(root, 0, "v1.0", 60, rng, False)
    _version(root, 1, "v2.0", 60, rng, True)
    yield from _serve(create_app(Settings(str(root))))


def test_no_server_errors(live_api: str) -> None:
    from hypothesis import given

    api_schema = schemathesis.openapi.from_url(f"{live_api}/openapi.json")
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: object) -> None:
            case.call_and_validate(base_url=live_api, checks=[not_a_server_error])  # type: ignore[attr-defined]

        check()
