"""``python -m ssmenv import`` against the local SSM / Secrets Manager stand-in (moto server).

boto3 finds the stand-in the standard way (``AWS_ENDPOINT_URL``, region from the environment or
``--region``); each test writes under a path of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest
from dotenv import dotenv_values

from ssmenv import cli
from ssmenv.dotenv_import import TAG_SOURCE, TAG_TIME

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
REPO = Path(__file__).resolve().parents[2]
CANARY = "FAKE-CANARY-9KWQ"  # must never appear in anything the import prints
OLD = "FAKE-old-value"  # what a parameter held before an import


@pytest.fixture
def path() -> str:
    return f"/import-test/{uuid.uuid4().hex[:8]}"


@pytest.fixture
def ssm(aws_env):
    return boto3.client("ssm")


@pytest.fixture
def secrets(aws_env):
    return boto3.client("secretsmanager")


def dotenv(tmp_path: Path, text: str, name: str = ".env") -> Path:
    file = tmp_path / name
    file.write_text(text, encoding="utf-8")
    return file


def stored(ssm, path: str) -> dict[str, dict]:
    """Leaf name -> parameter, decrypted."""
    found = {}
    for page in ssm.get_paginator("get_parameters_by_path").paginate(
        Path=path, Recursive=True, WithDecryption=True
    ):
        for p in page["Parameters"]:
            found[p["Name"].rsplit("/", 1)[-1]] = p
    return found


def tags(ssm, name: str) -> dict[str, str]:
    listed = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]
    return {t["Key"]: t["Value"] for t in listed}


def run(capsys, *args: str) -> tuple[int, str]:
    status = cli.main(["import", *args])
    out = capsys.readouterr()
    assert CANARY not in out.out + out.err
    return status, out.out + out.err


def test_every_variable_becomes_a_securestring_equal_to_what_dotenv_reads(
    ssm, path, capsys, monkeypatch
):
    monkeypatch.setenv("SSMENV_ROUNDTRIP_FROM_SHELL", "from-the-shell")
    file = FIXTURES / "roundtrip.dotenv"
    status, out = run(capsys, str(file), "--ssm-path", path)
    assert status == 0, out
    expected = {k: v for k, v in dotenv_values(file).items() if v is not None}
    params = stored(ssm, path)
    assert {name: p["Value"] for name, p in params.items()} == expected
    assert {p["Type"] for p in params.values()} == {"SecureString"}
    assert f"{len(expected)} created, 0 replaced, 0 unchanged" in out
    for value in expected.values():
        if len(value) > 8:  # long enough not to occur by chance in names and counts
            assert value not in out


def test_parameters_are_tagged_with_the_file_name_and_import_time(ssm, path, tmp_path, capsys):
    file = dotenv(tmp_path, f"API_KEY={CANARY}\n", name=".env.production")
    assert run(capsys, str(file), "--ssm-path", path)[0] == 0
    found = tags(ssm, f"{path}/API_KEY")
    assert found[TAG_SOURCE] == ".env.production"
    assert found[TAG_TIME].endswith("Z") and len(found[TAG_TIME]) == len("2024-06-01T12:00:00Z")


def test_the_chosen_kms_key_encrypts_the_parameters(aws_env, ssm, path, tmp_path, capsys):
    key = boto3.client("kms").create_key(Description="ssmenv import test")["KeyMetadata"]["KeyId"]
    file = dotenv(tmp_path, f"API_KEY={CANARY}\n")
    assert run(capsys, str(file), "--ssm-path", path, "--kms-key-id", key)[0] == 0
    described = ssm.describe_parameters(
        ParameterFilters=[{"Key": "Name", "Values": [f"{path}/API_KEY"]}]
    )["Parameters"]
    assert described[0]["KeyId"] == key


def test_dry_run_lists_names_targets_and_existing_ones_and_writes_nothing(
    aws_env, ssm, path, tmp_path, capsys
):
    aws_env.put({f"{path}/API_KEY": CANARY, f"{path}/DATABASE_URL": "FAKE-other"})
    file = dotenv(tmp_path, f"API_KEY={CANARY}\nDATABASE_URL={CANARY}\nNEW_ONE={CANARY}\n")
    status, out = run(capsys, str(file), "--ssm-path", path, "--dry-run")
    assert status == 1  # as the real run would: it would refuse
    assert out.splitlines() == [
        f"{file} -> {path} (dry run: nothing written)",
        f"  API_KEY       {path}/API_KEY: exists, same value",
        f"  DATABASE_URL  {path}/DATABASE_URL: differs, kept (--overwrite replaces it)",
        f"  NEW_ONE       {path}/NEW_ONE: new, would be created",
        "refused: exist with another value: DATABASE_URL; nothing written "
        "(--overwrite replaces them)",
    ]
    status, out = run(capsys, str(file), "--ssm-path", path, "--dry-run", "--overwrite")
    assert status == 0
    assert f"  DATABASE_URL  {path}/DATABASE_URL: differs, would be replaced" in out
    assert set(stored(ssm, path)) == {"API_KEY", "DATABASE_URL"}
    assert stored(ssm, path)["DATABASE_URL"]["Value"] == "FAKE-other"


def test_an_existing_different_value_is_never_overwritten_unless_asked(
    aws_env, ssm, path, tmp_path, capsys
):
    aws_env.put({f"{path}/API_KEY": OLD})
    file = dotenv(tmp_path, f"API_KEY={CANARY}\nNEW_ONE={CANARY}\n")
    status, out = run(capsys, str(file), "--ssm-path", path)
    assert status == 1
    assert "refused: exist with another value: API_KEY; nothing written" in out
    params = stored(ssm, path)
    assert set(params) == {"API_KEY"}  # not even the new one: all or nothing
    assert params["API_KEY"]["Value"] == OLD


def test_overwrite_replaces_changed_values_reports_them_by_name_and_retags(
    aws_env, ssm, path, tmp_path, capsys
):
    aws_env.put({f"{path}/API_KEY": OLD, f"{path}/SAME": CANARY})
    file = dotenv(tmp_path, f"API_KEY={CANARY}\nSAME={CANARY}\n", name="prod.env")
    status, out = run(capsys, str(file), "--ssm-path", path, "--overwrite")
    assert status == 0, out
    assert f"  API_KEY  {path}/API_KEY: replaced" in out
    assert "0 created, 1 replaced, 1 unchanged\nchanged: API_KEY\n" in out
    params = stored(ssm, path)
    assert params["API_KEY"]["Value"] == CANARY and params["API_KEY"]["Version"] == 2
    assert params["SAME"]["Version"] == 1  # an equal value is not rewritten
    assert tags(ssm, f"{path}/API_KEY")[TAG_SOURCE] == "prod.env"


def test_a_plain_string_parameter_differs_and_becomes_a_securestring(
    aws_env, ssm, path, tmp_path, capsys
):
    aws_env.put({f"{path}/API_KEY": CANARY}, kind="String")
    file = dotenv(tmp_path, f"API_KEY={CANARY}\n")
    status, out = run(capsys, str(file), "--ssm-path", path, "--overwrite")
    assert status == 0
    assert "replaced (exists as String)" in out
    assert stored(ssm, path)["API_KEY"]["Type"] == "SecureString"


def test_a_second_import_of_the_same_file_changes_nothing(ssm, path, tmp_path, capsys):
    file = dotenv(tmp_path, f"A={CANARY}\nB={CANARY}-b\n")
    assert run(capsys, str(file), "--ssm-path", path)[0] == 0
    status, out = run(capsys, str(file), "--ssm-path", path)
    assert status == 0
    assert "0 created, 0 replaced, 2 unchanged" in out
    assert {p["Version"] for p in stored(ssm, path).values()} == {1}


def test_a_refused_file_writes_nothing(ssm, path, tmp_path, capsys):
    file = dotenv(tmp_path, f"GOOD={CANARY}\nBAD-NAME={CANARY}\nPORT=3000\n")
    status, out = run(capsys, str(file), "--ssm-path", path)
    assert status == 1
    assert "line 2: name must match" in out and "line 3: PORT: the deploy sets PORT" in out
    assert stored(ssm, path) == {}


def test_region_flag_chooses_the_region(aws_env, path, tmp_path, capsys):
    file = dotenv(tmp_path, f"A={CANARY}\n")
    assert run(capsys, str(file), "--ssm-path", path, "--region", "eu-west-1")[0] == 0
    assert stored(boto3.client("ssm", region_name="eu-west-1"), path).keys() == {"A"}
    assert stored(boto3.client("ssm", region_name="us-east-1"), path) == {}


def test_declared_names_go_into_one_json_secret(aws_env, ssm, secrets, path, tmp_path, capsys):
    key = boto3.client("kms").create_key()["KeyMetadata"]["KeyId"]
    secret_id = f"import-test/{uuid.uuid4().hex[:8]}"
    file = dotenv(tmp_path, f"API_KEY={CANARY}\nSESSION_SECRET=\nLOG_FORMAT=json\n")
    status, out = run(
        capsys, str(file), "--ssm-path", path, "--secret-id", secret_id,
        "--secret-names", "API_KEY,SESSION_SECRET", "--kms-key-id", key,
    )  # fmt: skip
    assert status == 0, out
    assert f"  API_KEY         secret {secret_id} key API_KEY: created" in out
    value = json.loads(secrets.get_secret_value(SecretId=secret_id)["SecretString"])
    assert value == {"API_KEY": CANARY, "SESSION_SECRET": ""}
    assert set(stored(ssm, path)) == {"LOG_FORMAT"}
    described = secrets.describe_secret(SecretId=secret_id)
    assert described["KmsKeyId"] == key
    assert {t["Key"]: t["Value"] for t in described["Tags"]}[TAG_SOURCE] == ".env"


def test_an_existing_secret_keeps_its_other_keys_and_changes_need_overwrite(
    secrets, path, tmp_path, capsys
):
    secret_id = f"import-test/{uuid.uuid4().hex[:8]}"
    secrets.create_secret(Name=secret_id, SecretString='{"OTHER": "FAKE-x", "API_KEY": "FAKE-old"}')
    file = dotenv(tmp_path, f"API_KEY={CANARY}\nTOKEN={CANARY}\n")
    args = (str(file), "--ssm-path", path, "--secret-id", secret_id, "--secret-names", "API_KEY")
    status, out = run(capsys, *args)
    assert status == 1 and "exist with another value: API_KEY" in out
    assert json.loads(secrets.get_secret_value(SecretId=secret_id)["SecretString"])["API_KEY"] == (
        "FAKE-old"
    )
    status, out = run(capsys, *args, "--overwrite")
    assert status == 0 and "changed: API_KEY" in out
    value = json.loads(secrets.get_secret_value(SecretId=secret_id)["SecretString"])
    assert value == {"OTHER": "FAKE-x", "API_KEY": CANARY}


def test_a_secret_that_is_not_a_json_object_is_left_alone(secrets, path, tmp_path, capsys):
    secret_id = f"import-test/{uuid.uuid4().hex[:8]}"
    secrets.create_secret(Name=secret_id, SecretString="FAKE-plain-string")
    file = dotenv(tmp_path, f"API_KEY={CANARY}\n")
    args = ("--secret-id", secret_id, "--secret-names", "API_KEY", "--overwrite")
    status, out = run(capsys, str(file), "--ssm-path", path, *args)
    assert status == 2
    assert f"secret {secret_id}: exists but holds no JSON object; not touched" in out
    assert secrets.get_secret_value(SecretId=secret_id)["SecretString"] == "FAKE-plain-string"


def test_an_aws_refusal_names_the_parameter_and_what_was_not_written(aws_env, tmp_path, capsys):
    file = dotenv(tmp_path, f"A={CANARY}\nB={CANARY}\n")
    status, out = run(capsys, str(file), "--ssm-path", "/aws/reserved")
    assert status == 2
    assert "ssmenv import: error: writing /aws/reserved/A: AccessDeniedException" in out
    assert "written: nothing\n  not written: A, B" in out


# Secrets pasted without quotes: python-dotenv reads each of their lines as a name of its own.
LEAK = "CANARYM3"  # in every line of them: any part of them printed is caught
PASTED_KEY = (
    "GOOD=fine\n"
    "DEPLOY_KEY=-----BEGIN OPENSSH PRIVATE KEY-----\n"
    f"b3BlbnNzaC1rZXktdjEAAAAAFAKE{LEAK}AAAAAAAAAAAAAA\n"
    f"FAKE+{LEAK}/AAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
LONE_TOKEN = f"ghp_FAKE{LEAK}000000000000000000000000\n"


def test_python_m_ssmenv_import_names_a_pasted_key_by_line_and_writes_nothing(ssm, path, tmp_path):
    file = dotenv(tmp_path, PASTED_KEY + LONE_TOKEN)
    done = subprocess.run(
        [sys.executable, "-m", "ssmenv", "import", str(file), "--ssm-path", path],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done
    assert LEAK not in done.stdout + done.stderr
    assert "line 2: DEPLOY_KEY: a PEM block without quotes (lines 2-5)" in done.stdout
    assert "note: line 6: no '='" in done.stdout
    assert stored(ssm, path) == {}


def test_a_token_alone_on_a_line_is_noted_by_its_number_and_not_imported(
    ssm, path, tmp_path, capsys
):
    file = dotenv(tmp_path, f"GOOD=fine\n{LONE_TOKEN}OTHER=also\n")
    status, out = run(capsys, str(file), "--ssm-path", path)
    assert status == 0, out
    assert LEAK not in out
    assert "note: line 2: no '=' in .env" in out
    assert set(stored(ssm, path)) == {"GOOD", "OTHER"}
