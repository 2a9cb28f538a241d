import pytest

from tests.i18n.catalogs import ensure_compiled


@pytest.fixture(scope="session", autouse=True)
def compiled_messages():
    ensure_compiled()
