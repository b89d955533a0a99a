"""Contract test: schemathesis generates requests for every operation of the live document (the sample app's
entities, so the real per-entity paths are exercised) and checks that none answers 5xx and that the responses
of the documented paths conform to the document (status codes, content types, bodies)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.storage import drop_embedded
from tests.conftest import login, make_app

EXAMPLES_PER_OPERATION = 12
# Operations whose responses the document describes in full (the per-entity part and health); the generic
# routes are checked for server errors only until their responses are declared.
DESCRIBED = ("/api/data/companies", "/api/data/contacts", "/api/health")


@pytest.fixture(scope="module")
def contract_app() -> Iterator[Flask]:
    app = make_app()
    yield app
    drop_embedded(app.config["RUNTIME"].mongodb_db)


@pytest.fixture(scope="module")
def token(contract_app: Flask) -> str:
    return login(contract_app).token  # type: ignore[return-value]


def _fuzz(operation, token: str, checks: list) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case) -> None:
        case.call_and_validate(headers={"token": token}, checks=checks)
    run()


def test_every_operation_answers_without_server_errors_and_as_documented(contract_app: Flask, token: str):
    # Logout and refresh-token would end the session every other case uses.
    document = schemathesis.openapi.from_wsgi("/api/openapi.json", contract_app).exclude(
        path_regex=r"^/api/auth/(logout|refresh-token)$")
    failures: list[str] = []
    operations = 0
    for result in document.get_all_operations():
        operation = result.ok()
        operations += 1
        checks = [not_a_server_error]
        if operation.path.startswith(DESCRIBED):
            checks += [status_code_conformance, content_type_conformance, response_schema_conformance]

        try:
            _fuzz(operation, token, checks)
        except Exception as exc:  # one operation's failure must not hide the others'
            failures.append(f"{operation.label}: {str(exc)[:2500]}")
    assert operations > 40, f"only {operations} operations in the document"
    assert not failures, f"{len(failures)} of {operations} operations failed:\n" + "\n\n".join(failures)
