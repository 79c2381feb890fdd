"""SSM and Secrets Manager reads against the local stand-in (moto server), through boto3's standard
configuration: batching, pins, per-secret errors, and one read per run for any number of hosts."""

import json
import math

import pytest

from ssmenv import sources
from ssmenv.config import AppConfig
from ssmenv.errors import ConfigError, SourceError
from ssmenv.sources import secrets_manager, ssm_parameters, ssm_path
from ssmenv.sources.base import Failure
from ssmenv.sources.secrets_manager import Secret
from ssmenv.sources.ssm import Parameter
from tasks.environment import resolve


@pytest.fixture(autouse=True)
def fresh_cache():
    sources.clear_cache()
    yield
    sources.clear_cache()


def secretsmanager(stand_in):
    return stand_in.client("secretsmanager")


def put_secrets(stand_in, secrets: dict[str, str]) -> None:
    client = secretsmanager(stand_in)
    for name, value in secrets.items():
        try:
            client.create_secret(Name=name, SecretString=value)
        except client.exceptions.ResourceExistsException:
            client.put_secret_value(SecretId=name, SecretString=value)


def test_path_read_follows_every_page_and_recurses(aws_env):
    values = {f"/it/pages/P{i:03d}": f"FAKE-{i}" for i in range(25)}
    values["/it/pages/deeper/NESTED"] = "FAKE-nested"
    aws_env.put(values)
    found = ssm_path.parameters_by_path("us-east-1", "/it/pages")
    assert {name: p.value for name, p in found.items()} == values
    assert sources.api_calls == {"GetParametersByPath": 3}  # ceil(26 / 10)


def test_securestring_values_come_back_decrypted(aws_env):
    aws_env.put({"/it/kms/SECRET": "FAKE-plain"}, kind="SecureString")
    found = ssm_path.parameters_by_path("us-east-1", "/it/kms")
    assert found["/it/kms/SECRET"].value == "FAKE-plain"
    assert "FAKE-plain" not in repr(found["/it/kms/SECRET"])


def test_names_are_read_ten_per_call_and_unknown_ones_are_failures(aws_env):
    names = [f"/it/names/N{i:02d}" for i in range(23)]
    aws_env.put({name: f"FAKE-{name}" for name in names})
    wanted = [*names, "/it/names/NOPE", "/it/names/N00:99"]
    found = ssm_parameters.parameters_by_name("us-east-1", wanted)
    assert sources.api_calls == {"GetParameters": 3}  # 25 references
    assert {r: p.value for r, p in found.items() if isinstance(p, Parameter)} == {
        n: f"FAKE-{n}" for n in names
    }
    assert found["/it/names/NOPE"] == Failure(
        "SSM parameter /it/names/NOPE", "not found (no such parameter, version or label)"
    )
    assert isinstance(found["/it/names/N00:99"], Failure)


def test_version_and_label_pins_read_those_versions_even_of_one_name(aws_env):
    ssm = aws_env.ssm()
    for value in ("FAKE-v1", "FAKE-v2", "FAKE-v3"):
        ssm.put_parameter(
            Name="/it/pins/DB_PASSWORD", Value=value, Type="SecureString", Overwrite=True
        )
    ssm.label_parameter_version(Name="/it/pins/DB_PASSWORD", ParameterVersion=2, Labels=["live"])
    refs = ["/it/pins/DB_PASSWORD", "/it/pins/DB_PASSWORD:1", "/it/pins/DB_PASSWORD:live"]
    found = ssm_parameters.parameters_by_name("us-east-1", refs)
    assert [(found[r].value, found[r].version) for r in refs] == [
        ("FAKE-v3", 3),
        ("FAKE-v1", 1),
        ("FAKE-v2", 2),
    ]
    # One name per call: an answer names the parameter, not which pin it answers.
    assert sources.api_calls == {"GetParameters": 3}


def test_secrets_are_read_twenty_per_call_with_errors_per_secret(aws_env):
    put_secrets(aws_env, {f"it/batch/S{i:02d}": f"FAKE-{i}" for i in range(44)})
    wanted = [(f"it/batch/S{i:02d}", "AWSCURRENT") for i in range(44)]
    wanted.append(("it/batch/MISSING", "AWSCURRENT"))
    found = secrets_manager.secret_values("us-east-1", wanted)
    assert sources.api_calls == {"BatchGetSecretValue": 3}  # 45 ids
    assert all(isinstance(found[w], Secret) for w in wanted[:-1])
    assert found[("it/batch/S07", "AWSCURRENT")].value == "FAKE-7"
    missing = found[("it/batch/MISSING", "AWSCURRENT")]
    assert isinstance(missing, Failure) and missing.source == "secret it/batch/MISSING"
    assert missing.reason.startswith("ResourceNotFoundException")


def test_a_secret_is_read_by_arn_and_at_another_stage(aws_env):
    client = secretsmanager(aws_env)
    arn = client.create_secret(Name="it/stage/api", SecretString="FAKE-current")["ARN"]
    client.put_secret_value(
        SecretId="it/stage/api", SecretString="FAKE-pending", VersionStages=["AWSPENDING"]
    )
    wanted = [(arn, "AWSCURRENT"), ("it/stage/api", "AWSPENDING")]
    found = secrets_manager.secret_values("us-east-1", wanted)
    assert found[(arn, "AWSCURRENT")].value == "FAKE-current"
    assert found[("it/stage/api", "AWSPENDING")].value == "FAKE-pending"
    assert sources.api_calls == {"BatchGetSecretValue": 1, "GetSecretValue": 1}
    missing = secrets_manager.secret_values("us-east-1", [("it/stage/api", "AWSPREVIOUS")])
    assert isinstance(missing[("it/stage/api", "AWSPREVIOUS")], Failure)


def test_every_source_is_read_once_per_run_whatever_the_number_of_hosts(aws_env):
    aws_env.put({f"/it/hosts/app/P{i:02d}": f"FAKE-{i}" for i in range(12)})
    aws_env.put({f"/it/hosts/shared/S{i:02d}": f"FAKE-s{i}" for i in range(11)})
    put_secrets(aws_env, {"it/hosts/db": json.dumps({"USER": "app", "PASSWORD": "FAKE-pw"})})
    data = {
        "ssm_path": "/it/hosts/app",
        "ssm_parameters": [f"/it/hosts/shared/S{i:02d}" for i in range(11)],
        "secrets": [{"id": "it/hosts/db", "prefix": "DB_"}],
    }
    counts = {}
    for hosts in (1, 20):
        sources.clear_cache()
        for i in range(hosts):
            variables = resolve(AppConfig.from_data({**data, "app_port": 3000 + i}))
        counts[hosts] = dict(sources.api_calls)
    assert (
        counts[1]
        == counts[20]
        == {
            "GetParametersByPath": math.ceil(12 / 10),
            "GetParameters": math.ceil(11 / 10),
            "BatchGetSecretValue": 1,
        }
    )
    assert variables["DB_PASSWORD"].value == "FAKE-pw" and variables["S10"].value == "FAKE-s10"
    assert variables["PORT"].value == "3019"


def test_an_unreachable_endpoint_is_one_clear_error_naming_the_path(unreachable_aws):
    with pytest.raises(SourceError) as error:
        ssm_path.parameters_by_path("us-east-1", "/it/down")
    assert str(error.value).startswith("SSM path /it/down (us-east-1): Could not connect")
    # A failed read is remembered for the run: the other hosts do not wait for it again.
    with pytest.raises(SourceError):
        ssm_path.parameters_by_path("us-east-1", "/it/down")
    assert sources.api_calls == {"GetParametersByPath": 1}


def test_a_json_secrets_values_arrive_as_the_exact_text_it_holds(aws_env):
    document = '{"RATE": 1.10, "LIMIT": 1e3, "ON": true, "FLAGS": {"beta" : [1, 2.50]}}'
    put_secrets(aws_env, {"it/exact/cfg": document})
    secret = {"id": "it/exact/cfg", "as_json": ["FLAGS"]}
    variables = resolve(AppConfig.from_data({"secrets": [secret]}))
    assert {n: variables[n].value for n in ("RATE", "LIMIT", "ON", "FLAGS")} == {
        "RATE": "1.10", "LIMIT": "1e3", "ON": "true", "FLAGS": '{"beta" : [1, 2.50]}',
    }  # fmt: skip
    with pytest.raises(ConfigError) as error:
        resolve(AppConfig.from_data({"secrets": ["it/exact/cfg"]}))
    assert str(error.value).splitlines()[1:] == [
        "  secret it/exact/cfg: key FLAGS holds an object: list it in as_json to get its JSON text"
    ]


def test_a_version_promoted_to_awscurrent_is_what_every_read_of_the_current_value_returns(
    aws_env,
):
    # What a rotation function's finishSecret does (and db rotate --secret): the pending version
    # gets AWSCURRENT. AWS then answers it to every read of the current value, the batch the
    # secrets source uses included; moto 5.2.5 kept answering the old one (lab.moto_server).
    client = secretsmanager(aws_env)
    first = client.create_secret(Name="it/promote/db", SecretString="FAKE-old")["VersionId"]
    pending = client.put_secret_value(SecretId="it/promote/db", SecretString="FAKE-new",
                                      VersionStages=["AWSPENDING"])["VersionId"]  # fmt: skip
    client.update_secret_version_stage(SecretId="it/promote/db", VersionStage="AWSCURRENT",
                                       MoveToVersionId=pending, RemoveFromVersionId=first)
    assert client.get_secret_value(SecretId="it/promote/db")["SecretString"] == "FAKE-new"
    found = secrets_manager.secret_values("us-east-1", [("it/promote/db", "AWSCURRENT")])
    secret = found[("it/promote/db", "AWSCURRENT")]
    assert (secret.value, secret.version_id) == ("FAKE-new", pending)
    stages = client.describe_secret(SecretId="it/promote/db")["VersionIdsToStages"]
    assert stages[first] == ["AWSPREVIOUS"] and "AWSCURRENT" in stages[pending]
