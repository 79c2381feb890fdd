"""The one AWS module: the same retries and timeouts for every client, and failures as one line
that quotes AWS's code and message, never a value."""

import botocore.session
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from ssmenv import aws, dotenv_import


@pytest.fixture(autouse=True)
def no_aws_configuration(monkeypatch, tmp_path):
    for name in ("AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))


def retries(client) -> tuple[str, int, int, int]:
    config = client.meta.config
    return (config.retries["mode"], config.retries["total_max_attempts"],
            config.connect_timeout, config.read_timeout)  # fmt: skip


def test_clients_retry_in_standard_mode_five_times_with_short_timeouts():
    assert retries(aws.client("ssm", "us-east-1")) == ("standard", 5, 5, 20)


def test_the_environment_chooses_the_attempts_and_adaptive_retries(monkeypatch):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    assert retries(aws.client("ssm", "us-east-1")) == ("adaptive", 2, 5, 20)
    # EC2 discovery keeps standard retries; the .env import its own attempts, for writes.
    assert retries(aws.client("ec2", "us-east-1", retry_mode="standard")) == ("standard", 2, 5, 20)
    assert retries(dotenv_import.client("ssm", "us-east-1")) == ("standard", 11, 5, 20)


def test_the_run_client_is_shared_until_reset():
    first = aws.run_client("ssm", "eu-west-1")
    assert aws.run_client("ssm", "eu-west-1") is first
    aws.reset()
    assert aws.run_client("ssm", "eu-west-1") is not first
    aws.reset()


def error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "PutParameter")


def test_a_reason_is_aws_code_and_message_or_botocore_text():
    assert aws.reason(error("AccessDeniedException", "no")) == "AccessDeniedException: no"
    assert aws.reason(error("ThrottlingException", "")) == "ThrottlingException"
    unreachable = EndpointConnectionError(endpoint_url="http://127.0.0.1:9/")
    assert aws.reason(unreachable) == 'Could not connect to the endpoint URL: "http://127.0.0.1:9/"'


def test_a_message_that_quotes_a_value_is_withheld():
    quoted = error("ValidationException", "Value 'FAKE-secret' failed to satisfy constraint")
    assert aws.reason(quoted, withheld=["FAKE-secret"]) == (
        "ValidationException: (message withheld: it quotes a value)"
    )


def test_the_endpoint_variables_are_read_where_botocore_does_not_read_them():
    # botocore 1.29 (Debian 12's, which the agent uses) ignores AWS_ENDPOINT_URL: read as 1.31+.
    session = botocore.session.Session()
    environ = {"AWS_ENDPOINT_URL": "http://127.0.0.1:5055",
               "AWS_ENDPOINT_URL_SECRETS_MANAGER": "http://127.0.0.1:5056"}  # fmt: skip

    def endpoint(service: str, env=environ, reads: bool = False) -> str | None:
        return aws.configured_endpoint(session, service, env, reads_variables=reads)

    assert endpoint("ssm") == "http://127.0.0.1:5055"
    assert endpoint("secretsmanager") == "http://127.0.0.1:5056"
    assert endpoint("s3") == "http://127.0.0.1:5055"
    assert endpoint("ssm", {}) is None
    assert endpoint("ssm", {**environ, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true"}) is None
    # A botocore that reads them itself is left to it.
    assert endpoint("ssm", reads=True) is None


def test_a_client_goes_to_the_endpoint_the_environment_names(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", "http://127.0.0.1:5057")
    assert aws.client("ssm", "us-east-1").meta.endpoint_url == "http://127.0.0.1:5057"


def test_aws_unreachable_is_told_apart_from_aws_refusing():
    assert aws.unreachable(EndpointConnectionError(endpoint_url="http://127.0.0.1:9/"))
    assert aws.unreachable(NoCredentialsError())  # no instance role: IMDS not reachable either
    assert not aws.unreachable(error("AccessDeniedException", "no"))
    assert not aws.unreachable(ValueError("x"))


def test_a_budget_paces_the_processs_requests_and_retries_adaptively(monkeypatch):
    # The host agent's: its app's pull_budget a second, adaptive retries, 10 attempts unless the
    # environment says otherwise.
    for name in ("AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"):
        monkeypatch.delenv(name, raising=False)
    aws.reset()
    try:
        aws.configure(aws.Budget(4, "adaptive", 10))
        found = aws.run_client("ssm", "us-east-1")
        assert found.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 10}
        assert aws._pacers[("ssm", "us-east-1")].interval == 0.25
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
        aws.configure(aws.Budget(4, "adaptive", 10))
        assert aws.run_client("ssm", "us-east-1").meta.config.retries["total_max_attempts"] == 1
    finally:
        aws.reset()


def metadata(session) -> tuple[int, int]:
    """How the session's instance-role provider fetches credentials (what botocore reads when it
    makes it): timeout, attempts."""
    return (int(session.get_config_variable("metadata_service_timeout")),
            int(session.get_config_variable("metadata_service_num_attempts")))  # fmt: skip


@pytest.fixture
def on_instance(monkeypatch):
    for name in ("AWS_METADATA_SERVICE_TIMEOUT", "AWS_METADATA_SERVICE_NUM_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(aws, "_instance_metadata", {})
    aws.on_instance()


def test_the_control_machine_keeps_botocores_instance_metadata_defaults(monkeypatch):
    for name in ("AWS_METADATA_SERVICE_TIMEOUT", "AWS_METADATA_SERVICE_NUM_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    assert metadata(aws._session()) == (1, 1)


def test_on_an_instance_the_role_is_fetched_with_2_s_and_3_attempts(on_instance):
    assert metadata(aws._session()) == (2, 3)


def test_on_an_instance_the_environment_or_the_config_file_still_decides(
    on_instance, monkeypatch, tmp_path
):
    monkeypatch.setenv("AWS_METADATA_SERVICE_NUM_ATTEMPTS", "5")
    assert metadata(aws._session()) == (2, 5)
    (tmp_path / "config").write_text("[default]\nmetadata_service_timeout = 7\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    assert metadata(aws._session()) == (7, 5)


def test_the_bootstrap_fetches_the_role_as_the_agent_does(monkeypatch, tmp_path):
    from ssmenv.agent import bootstrap

    for name in ("AWS_METADATA_SERVICE_TIMEOUT", "AWS_METADATA_SERVICE_NUM_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    made = bootstrap.patient(botocore.session.Session())
    assert metadata(made) == tuple(aws.PATIENT_METADATA.values())
    (tmp_path / "config").write_text("[default]\nmetadata_service_num_attempts = 4\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    assert metadata(bootstrap.patient(botocore.session.Session())) == (2, 4)
