"""Faults between the deploy and AWS, injected by lab.faults' proxy in front of the stand-in:
throttling is retried, within the request rate; every other fault is one error naming the
parameter or secret, never a value."""

import json
import os
import time

import boto3
import pytest

from lab import faults
from ssmenv import aws, sources
from ssmenv.config import AppConfig
from ssmenv.errors import ConfigError
from ssmenv.sources import ssm_parameters
from tasks.environment import resolve
from tests.integration.test_sources import put_secrets

PATH = "/it/faults/app"
VALUES = {f"{PATH}/P{i:02d}": f"FAKE-fault-{i}" for i in range(12)}
SECRET = {"USER": "app", "PASSWORD": "FAKE-fault-password"}
DATA = {
    "ssm_path": PATH,
    "ssm_parameters": ["/it/faults/shared/TOKEN"],
    "secrets": [{"id": "it/faults/db", "prefix": "DB_"}, {"id": "it/faults/api", "variable": "K"}],
}


@pytest.fixture(scope="module")
def seeded(stand_in):
    stand_in.put({**VALUES, "/it/faults/shared/TOKEN": "FAKE-fault-token"})
    put_secrets(stand_in, {"it/faults/db": json.dumps(SECRET), "it/faults/api": "FAKE-fault-k"})


@pytest.fixture
def proxy(stand_in, seeded, monkeypatch):
    """The proxy between boto3 and the stand-in, with no faults yet and a fresh cache."""
    with faults.FaultProxy(stand_in.env["AWS_ENDPOINT_URL"]) as running:
        for key, value in {**stand_in.env, "AWS_ENDPOINT_URL": running.url}.items():
            monkeypatch.setenv(key, value)
        sources.clear_cache()
        yield running
        sources.clear_cache()


def failure(data=DATA) -> str:
    with pytest.raises(ConfigError) as error:
        resolve(AppConfig.from_data(data))
    message = str(error.value)
    assert "FAKE-fault" not in message
    return message


def test_throttled_requests_are_retried_and_the_run_succeeds(proxy):
    proxy.set_faults(faults.throttling(2))
    variables = resolve(AppConfig.from_data(DATA))
    assert variables["P11"].value == "FAKE-fault-11"
    assert variables["DB_PASSWORD"].value == "FAKE-fault-password"
    assert proxy.injected == {"GetParametersByPath": 2}
    # Retries are botocore's: one call each, the rejected attempts never reached the stand-in.
    assert proxy.forwarded == {
        "GetParametersByPath": 2,
        "GetParameters": 1,
        "BatchGetSecretValue": 1,
    }
    assert sources.api_calls == proxy.forwarded


def test_throttling_beyond_the_attempts_fails_naming_the_source(proxy, monkeypatch):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    proxy.set_faults(faults.throttling(100, "GetParameters"))
    message = failure()
    assert "SSM parameters /it/faults/shared/TOKEN (us-east-1): ThrottlingException" in message
    assert proxy.injected == {"GetParameters": 2}  # bounded: the first try and one retry


def test_access_denied_names_the_path(proxy):
    proxy.set_faults(faults.access_denied("GetParametersByPath"))
    message = failure()
    assert message.splitlines()[1:] == [
        f"  SSM path {PATH} (us-east-1): AccessDeniedException: User: "
        "arn:aws:sts::123456789012:assumed-role/deploy/ci is not authorized to perform: "
        "ssm:GetParametersByPath because no identity-based policy allows the "
        "ssm:GetParametersByPath action"
    ]
    assert proxy.injected == {"GetParametersByPath": 1}  # not retried: it will not get better


def test_a_kms_decrypt_failure_of_a_parameter_names_the_path_and_the_key(proxy):
    proxy.set_faults(faults.ssm_kms_denied("GetParametersByPath"))
    message = failure()
    assert f"SSM path {PATH} (us-east-1): AccessDeniedException" in message
    assert "kms:Decrypt" in message


def test_a_secret_that_cannot_be_decrypted_is_named_and_the_others_are_still_read(proxy):
    proxy.set_faults(faults.decryption_failure("it/faults/db"))
    message = failure()
    assert message.splitlines()[1:] == [
        "  secret it/faults/db: DecryptionFailure: Secrets Manager can't decrypt the protected "
        "secret text using the provided KMS key."
    ]
    assert proxy.forwarded["BatchGetSecretValue"] == 1


def test_a_missing_parameter_and_a_malformed_json_secret_are_reported_together(proxy, stand_in):
    put_secrets(stand_in, {"it/faults/broken": "FAKE-fault-not-json {"})
    data = {
        **DATA,
        "ssm_parameters": ["/it/faults/shared/NOPE"],
        "secrets": ["it/faults/broken"],
    }
    assert failure(data).splitlines()[1:] == [
        "  NOPE: SSM parameter /it/faults/shared/NOPE: not found (no such parameter, version or "
        "label)",
        "  secret it/faults/broken: is not valid JSON (Expecting value at line 1 column 1); give "
        "a variable for a plain-text secret",
    ]


def test_requests_are_paced_within_the_rate_limit(proxy, monkeypatch):
    # The stand-in answers slower than 40 per second here, so prove the pacing at 10 per second:
    # 15 GetParameters calls (150 names that do not exist: nothing to seed).
    assert aws.REQUESTS_PER_SECOND == 40  # SSM's default throughput
    monkeypatch.setattr(aws, "REQUESTS_PER_SECOND", 10)
    names = [f"/it/faults/rate/N{i:03d}" for i in range(150)]
    started = time.monotonic()
    ssm_parameters.parameters_by_name("us-east-1", names)
    elapsed = time.monotonic() - started
    assert proxy.forwarded == {"GetParameters": 15}
    busiest = max(sum(1 for t in proxy.times if start <= t < start + 1.0) for start in proxy.times)
    assert busiest <= 10, f"{busiest} requests within one second"
    assert elapsed >= 14 / 9  # spaced for 90% of the limit


def test_the_proxy_answers_errors_in_the_shape_botocore_parses(proxy):
    # A JSON-protocol error: HTTP 400, the code in __type, which botocore maps to its exception.
    proxy.set_faults(faults.Fault("GetParameters", "ParameterVersionLabelLimitExceeded", "FAKE"))
    ssm = boto3.client("ssm", region_name="us-east-1", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    with pytest.raises(ssm.exceptions.ParameterVersionLabelLimitExceeded):
        ssm.get_parameters(Names=["/x"])
    assert proxy.injected == {"GetParameters": 1} and proxy.forwarded == {}


def test_without_faults_the_proxy_counts_each_call_per_operation_as_the_benchmark_reads_them(
    proxy,
):
    assert proxy.url == f"http://127.0.0.1:{proxy.port}"
    resolve(AppConfig.from_data(DATA))
    assert proxy.forwarded == sources.api_calls and proxy.injected == {}
    proxy.reset_counts()
    assert proxy.forwarded == {} and proxy.times == []
    sources.clear_cache()
    resolve(AppConfig.from_data({"ssm_path": PATH}))
    assert proxy.forwarded == {"GetParametersByPath": 2}
