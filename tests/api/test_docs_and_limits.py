"""The OpenAPI schema and docs pages (local, complete, with examples) and per-key throttling."""

import re
import time

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from drf_spectacular.validation import validate_schema

from tests.api.conftest import make_partner_client

_URL_ATTRIBUTE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
_ABSOLUTE = re.compile(r"""["'(](?:https?:)?//""", re.IGNORECASE)


@pytest.fixture
def schema(db):
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_schema_is_valid_openapi_3_and_every_operation_has_examples(schema):
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")
    operations = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "patch", "put", "delete"}
    ]
    assert len(operations) >= 12
    for path, method, operation in operations:
        success = next(body for code, body in operation["responses"].items() if code.startswith("2"))
        assert success["content"]["application/json"].get("examples"), (method, path)
        if method in {"post", "patch"}:
            assert operation["requestBody"]["content"]["application/json"].get("examples"), (method, path)
            assert "Idempotency-Key" in [parameter["name"] for parameter in operation["parameters"]], (method, path)


@pytest.mark.parametrize("path", ["/api/docs/", "/api/docs/redoc/"])
def test_docs_pages_load_nothing_from_elsewhere(db, path):
    response = Client().get(path)

    assert response.status_code == 200
    html = response.content.decode()
    assert not _ABSOLUTE.search(html), "the page names an external URL"
    assets = [url for url in _URL_ATTRIBUTE.findall(html) if url.startswith("/static/")]
    assert assets, "the page loads its assets from this site"
    for url in assets:
        assert finders.find(url.removeprefix("/static/")), f"{url} is not a local static file"
    assert "default-src 'self'" in response["Content-Security-Policy"]


def test_over_the_rate_limit_is_429_with_retry_after(earn_program, member_account):
    client = make_partner_client(earn_program, rate_limit=3)
    path = f"/api/v1/members/{member_account.member_id}/balance"
    for _attempt in range(2):
        window = int(time.time() // 60)
        statuses = [client.get(path).status_code for _ in range(3)]
        refused = client.get(path)
        if int(time.time() // 60) == window:  # all four requests fell in one throttling window
            break

    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "throttled"
    assert 1 <= int(refused["Retry-After"]) <= 60


def test_rate_limit_counts_per_key(earn_program, member_account):
    first = make_partner_client(earn_program, rate_limit=1)
    second = make_partner_client(earn_program, rate_limit=1)
    path = f"/api/v1/members/{member_account.member_id}/balance"

    assert first.get(path).status_code == 200
    assert second.get(path).status_code == 200
