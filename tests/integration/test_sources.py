"""SSM reads against the local stand-in (moto server), through boto3's standard configuration."""

import pytest

from ssmenv import sources
from ssmenv.errors import SourceError


@pytest.fixture(autouse=True)
def fresh_cache():
    sources.clear_cache()
    yield
    sources.clear_cache()


def test_path_read_follows_every_page_and_recurses(aws_env):
    values = {f"/it/pages/P{i:03d}": f"FAKE-{i}" for i in range(25)}
    values["/it/pages/deeper/NESTED"] = "FAKE-nested"
    aws_env.put(values)
    calls = sources.api_calls
    found = sources.parameters_by_path("us-east-1", "/it/pages")
    assert {name: p.value for name, p in found.items()} == values
    assert sources.api_calls - calls == 3  # ceil(26 / 10)


def test_a_path_is_read_once_per_run_whatever_the_number_of_hosts(aws_env):
    aws_env.put({"/it/once/A": "FAKE-a"})
    calls = sources.api_calls
    for _ in range(20):
        sources.parameters_by_path("us-east-1", "/it/once")
    assert sources.api_calls - calls == 1


def test_securestring_values_come_back_decrypted(aws_env):
    aws_env.put({"/it/kms/SECRET": "FAKE-plain"}, kind="SecureString")
    found = sources.parameters_by_path("us-east-1", "/it/kms")
    assert found["/it/kms/SECRET"].value == "FAKE-plain"
    assert "FAKE-plain" not in repr(found["/it/kms/SECRET"])


def test_an_unreachable_endpoint_is_one_clear_error_naming_the_path(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "FAKE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "FAKE")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(SourceError) as error:
        sources.parameters_by_path("us-east-1", "/it/down")
    assert "SSM path /it/down (us-east-1)" in str(error.value)
