"""``python -m ssmenv iam``'s documents, from host data, compared whole: exact resources, the
actions the toolkit calls, nothing else, stable whatever the order of hosts."""

from __future__ import annotations

import json

import pytest

from ssmenv import iam
from ssmenv.errors import ConfigError, SsmEnvError

ACCOUNT = "123456789012"
P = f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter"
S = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret"
KEYS = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/*"
DIGEST = "sha256:" + "a" * 64


def decrypt(sid: str, service: str, context: str, arns: list[str]) -> dict:
    via = f"{service}.us-east-1.amazonaws.com"
    return {"Sid": sid, "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [KEYS],
            "Condition": {"StringEquals": {"kms:ViaService": [via]},
                          "StringLike": {f"kms:EncryptionContext:{context}": arns}}}  # fmt: skip


def allow(sid: str, actions: list[str], resources: list[str]) -> dict:
    return {"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources}


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_the_push_deploy_reads_exactly_its_paths_parameters_and_secrets():
    data = {
        "ssm_path": "/shop/prod",
        "ssm_parameters": ["/shared/prod/DB_PASSWORD:3", "/shared/prod/FLAG:live"],
        "secrets": ["shop/prod/db", {"id": "shop/prod/stripe", "stage": "AWSPENDING"},
                    f"{S}:shop/prod/full-AbC123", f"{S}:shop/prod/partial"],
    }  # fmt: skip
    found = iam.policies([("web-1", data)], ACCOUNT)
    secrets = [f"{S}:shop/prod/db-??????", f"{S}:shop/prod/full-AbC123",
               f"{S}:shop/prod/partial-??????", f"{S}:shop/prod/stripe-??????"]  # fmt: skip
    parameters = [f"{P}/shared/prod/DB_PASSWORD", f"{P}/shared/prod/FLAG"]
    assert found.control == policy(
        decrypt("DecryptParameters", "ssm", "PARAMETER_ARN", [*parameters, f"{P}/shop/prod/*"]),
        decrypt("DecryptSecrets", "secretsmanager", "SecretARN", secrets),
        allow("ReadParameterPaths", ["ssm:GetParametersByPath"], [f"{P}/shop/prod"]),
        allow("ReadParameters", ["ssm:GetParameters"], parameters),
        allow("ReadSecrets", ["secretsmanager:GetSecretValue"], secrets),
        allow("ReadSecretsInBatches", ["secretsmanager:BatchGetSecretValue"], ["*"]),
    )


def test_a_secret_read_at_another_stage_alone_needs_no_batch_call():
    found = iam.policies([("web-1", {"secrets": [{"id": "db", "stage": "AWSPENDING"}]})],
                         ACCOUNT)  # fmt: skip
    assert [s["Sid"] for s in found.control["Statement"]] == ["DecryptSecrets", "ReadSecrets"]


def test_an_image_in_ecr_adds_the_login_and_the_pull_of_its_repository_alone():
    image = f"210987654321.dkr.ecr.eu-west-1.amazonaws.com/team/shop@{DIGEST}"
    found = iam.policies([("web-1", {"ssm_path": "/shop/prod", "app_runtime": "container",
                                     "app_image": image})], ACCOUNT)  # fmt: skip
    statements = {s["Sid"]: s for s in found.control["Statement"]}
    assert statements["EcrLogin"] == allow("EcrLogin", ["ecr:GetAuthorizationToken"], ["*"])
    assert statements["EcrPull"] == allow("EcrPull", [
        "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
        ["arn:aws:ecr:eu-west-1:210987654321:repository/team/shop"])  # fmt: skip
    public = iam.policies([("web-1", {"ssm_path": "/shop/prod", "app_runtime": "container",
                                      "app_image": f"docker.io/library/shop@{DIGEST}"})], ACCOUNT)
    assert not {"EcrLogin", "EcrPull"} & {s["Sid"] for s in public.control["Statement"]}


def test_each_environment_is_a_host_role_and_the_control_machine_reads_them_all():
    staging, prod = {"ssm_path": "/shop/staging"}, {"ssm_path": "/shop/prod"}
    found = iam.policies([("s-1", staging), ("p-1", prod), ("p-2", prod)], ACCOUNT)
    assert [(r.apps, r.hosts) for r in found.hosts] == [
        (("example-app",), ("s-1",)), (("example-app",), ("p-1", "p-2"))]
    assert found.hosts[1].policy == policy(
        decrypt("DecryptParameters", "ssm", "PARAMETER_ARN", [f"{P}/shop/prod/*"]),
        allow("ReadDescription", ["ssm:GetParameters"], [f"{P}/deploy/shop/prod"]),
        allow("ReadParameterPaths", ["ssm:GetParametersByPath"], [f"{P}/shop/prod"]),
    )
    paths = next(s for s in found.control["Statement"] if s["Sid"] == "ReadParameterPaths")
    assert paths["Resource"] == [f"{P}/shop/prod", f"{P}/shop/staging"]
    assert found.publish == policy(allow(
        "PublishDescription", ["ssm:GetParameters", "ssm:PutParameter"],
        [f"{P}/deploy/shop/prod", f"{P}/deploy/shop/staging"]))  # fmt: skip


def test_releases_are_read_and_published_under_the_app_prefix_only():
    data = {"ssm_path": "/shop/prod", "release_bucket": "shop-releases"}
    found = iam.policies([("p-1", data)], ACCOUNT)
    objects = ["arn:aws:s3:::shop-releases/ssmenv/example-app/*"]
    assert allow("ReadReleases", ["s3:GetObject"], objects) in found.hosts[0].policy["Statement"]
    assert allow("PublishReleases", ["s3:GetObject", "s3:PutObject"],
                 objects) in found.publish["Statement"]  # fmt: skip
    own = iam.policies([("p-1", {**data, "release_prefix": "releases/shop",
                                 "pull_description": "/deploy/shop-prod"})], ACCOUNT)  # fmt: skip
    assert own.publish == policy(
        allow("PublishDescription", ["ssm:GetParameters", "ssm:PutParameter"],
              [f"{P}/deploy/shop-prod"]),
        allow("PublishReleases", ["s3:GetObject", "s3:PutObject"],
              ["arn:aws:s3:::shop-releases/releases/shop/*"]))  # fmt: skip
    assert found.notes == own.notes == ()


def test_an_image_has_no_releases_to_read_and_what_is_missing_is_noted():
    image = iam.policies([("p-1", {"ssm_path": "/shop/prod", "release_bucket": "shop-releases",
                                   "app_runtime": "container",
                                   "app_image": f"docker.io/library/shop@{DIGEST}"})], ACCOUNT)
    assert "s3:GetObject" not in json.dumps(image.hosts[0].policy)
    bare = iam.policies([("p-1", {"ssm_parameters": ["/shop/prod/KEY"]})], ACCOUNT)
    assert bare.publish == policy()
    assert bare.notes == (
        "example-app: no pull_description (and no ssm_path to derive it from): no description "
        "parameter in its host role and publish documents",
        "example-app: no release_bucket: no releases in its host role and publish documents")


@pytest.mark.parametrize("description", ["/shop/prod", "/shop/prod/DESCRIPTION"])
def test_a_description_under_the_apps_path_is_refused(description):
    with pytest.raises(ConfigError) as error:
        iam.policies([("p-1", {"ssm_path": "/shop/prod", "pull_description": description})],
                     ACCOUNT)  # fmt: skip
    assert str(error.value) == (
        "p-1: host data is not valid:\n  pull_description: must be outside ssm_path, or the "
        "description would be read as one of the app's variables")


@pytest.mark.parametrize("description", ["/ssmenv/shop/prod", "/AWS/shop", "/ssm"])
def test_a_description_ssm_would_refuse_is_refused_before_anything(description):
    with pytest.raises(ConfigError) as error:
        iam.policies([("p-1", {"ssm_path": "/shop/prod", "pull_description": description})],
                     ACCOUNT)  # fmt: skip
    assert str(error.value) == ("p-1: host data is not valid:\n  pull_description: SSM refuses a "
                                "parameter name that starts with aws or ssm")


@pytest.mark.parametrize(("key", "value"), [
    ("release_bucket", "shop-*"), ("release_prefix", "shop/*"), ("release_prefix", "/shop"),
    ("release_prefix", "shop/../other"), ("pull_description", "/shop/*"),
])  # fmt: skip
def test_no_setting_can_widen_a_resource_with_a_wildcard(key, value):
    with pytest.raises(ConfigError) as error:
        iam.policies([("p-1", {"ssm_path": "/shop/prod", key: value})], ACCOUNT)
    assert f"  {key}: must be " in str(error.value)
    assert value not in str(error.value)


def test_hosts_from_ec2_discovery_add_the_discovery_call():
    static = iam.policies([("p-1", {"ssm_path": "/shop/prod"})], ACCOUNT)
    found = iam.policies([("p-1", {"ssm_path": "/shop/prod", "ec2_instance_id": "i-0abc"})],
                         ACCOUNT)  # fmt: skip
    assert found.control["Statement"] == sorted([
        *static.control["Statement"],
        allow("DiscoverInstances", ["ec2:DescribeInstances"], ["*"])], key=lambda s: s["Sid"])


def test_several_apps_of_a_host_are_one_role_and_the_order_of_hosts_changes_nothing():
    several = {"ssm_path": "/shop/prod", "apps": {
        "shop": {}, "admin": {"ssm_path": "/admin/prod", "app_port": 3001}}}  # fmt: skip
    hosts = [("p-1", several), ("p-2", {"ssm_path": "/shop/prod", "app_name": "shop"})]
    found = iam.policies(hosts, ACCOUNT)
    assert [(r.apps, r.hosts) for r in found.hosts] == [
        (("shop", "admin"), ("p-1",)), (("shop",), ("p-2",))]
    assert iam.policies(hosts[::-1], ACCOUNT).control == found.control
    assert iam.render(found, "inventories/prod.py") == iam.render(
        iam.policies(hosts, ACCOUNT), "inventories/prod.py")


def test_another_partition_has_its_own_arns_and_service_names():
    found = iam.policies([("c-1", {"ssm_path": "/shop/prod", "aws_region": "cn-north-1"})],
                         ACCOUNT)  # fmt: skip
    statements = {s["Sid"]: s for s in found.control["Statement"]}
    assert statements["ReadParameterPaths"]["Resource"] == [
        f"arn:aws-cn:ssm:cn-north-1:{ACCOUNT}:parameter/shop/prod"]
    assert statements["DecryptParameters"]["Condition"]["StringEquals"] == {
        "kms:ViaService": ["ssm.cn-north-1.amazonaws.com.cn"]}


def test_every_host_whose_settings_are_not_valid_is_named_at_once():
    with pytest.raises(ConfigError) as error:
        iam.policies([("p-1", {}), ("p-2", {"ssm_path": "shop"})], ACCOUNT)
    assert str(error.value).splitlines()[0] == "p-1: host data is not valid:"
    assert "p-2: host data is not valid:" in str(error.value)


def test_an_account_given_must_be_one():
    assert iam.account_of("210987654321", []) == "210987654321"
    with pytest.raises(SsmEnvError, match="--account: must be an AWS account id, 12 digits"):
        iam.account_of("12345", [])


# --- db rotate --policy ---------------------------------------------------------------------------

DB_STATE = f"{P}/db-rotations/shop/prod/DATABASE_URL"


def encrypt(sid: str, action: str, service: str, context: str, arns: list[str]) -> dict:
    found = decrypt(sid, service, context, arns)
    return {**found, "Action": [action]}


def test_a_parameters_rotation_may_rotate_that_parameter_and_keep_its_own_state_only():
    from ssmenv import dbrotate
    from ssmenv.policy import document

    places = dbrotate.Places("/shop/prod/DATABASE_URL", "/shop/admin/DATABASE_ADMIN_URL")
    app, admin = f"{P}/shop/prod/DATABASE_URL", f"{P}/shop/admin/DATABASE_ADMIN_URL"
    pending, state = f"{DB_STATE}/pending", f"{DB_STATE}/state"
    assert document(dbrotate.permissions(places, "us-east-1", ACCOUNT)) == policy(
        decrypt("DecryptTheParameters", "ssm", "PARAMETER_ARN", [pending, admin, app]),
        encrypt("EncryptTheParameter", "kms:Encrypt", "ssm", "PARAMETER_ARN", [pending, app]),
        allow("FindTheParametersKey", ["ssm:DescribeParameters"], ["*"]),
        allow("KeepTheRotationState",
              ["ssm:DeleteParameter", "ssm:GetParameter", "ssm:PutParameter"], [pending, state]),
        allow("ReadTheAdministrator", ["ssm:GetParameter"], [admin]),
        allow("RotateTheParameter", ["ssm:GetParameter", "ssm:PutParameter"], [app]),
    )  # fmt: skip


def test_a_secrets_rotation_may_move_that_secrets_stages_and_read_its_administrator_only():
    from ssmenv import dbrotate
    from ssmenv.policy import document

    places = dbrotate.Places(secret="shop/prod/db", admin_secret="shop/admin/db",
                             state_root="/rotations")  # fmt: skip
    app, admin = f"{S}:shop/prod/db-??????", f"{S}:shop/admin/db-??????"
    assert document(dbrotate.permissions(places, "us-east-1", ACCOUNT)) == policy(
        decrypt("DecryptTheSecrets", "secretsmanager", "SecretARN", [admin, app]),
        encrypt("EncryptTheSecret", "kms:GenerateDataKey", "secretsmanager", "SecretARN", [app]),
        allow("KeepTheRotationState",
              ["ssm:DeleteParameter", "ssm:GetParameter", "ssm:PutParameter"],
              [f"{P}/rotations/secrets/shop/prod/db/state"]),
        allow("ReadTheAdministrator", ["secretsmanager:GetSecretValue"], [admin]),
        allow("RotateTheSecret", ["secretsmanager:DescribeSecret",
                                  "secretsmanager:GetSecretValue",
                                  "secretsmanager:PutSecretValue",
                                  "secretsmanager:UpdateSecretVersionStage"], [app]),
    )  # fmt: skip


@pytest.mark.parametrize("places, option", [
    ({"parameter": "/shop/*", "admin_parameter": "/a"}, "--parameter"),
    ({"parameter": "/shop/DATABASE_URL", "admin_parameter": "/shop/admin?"}, "--admin-parameter"),
    ({"secret": "shop/db", "admin_secret": "shop/*"}, "--admin-secret"),
    ({"parameter": "/p", "admin_parameter": "/a", "state_root": "/*"}, "--state-root"),
])  # fmt: skip
def test_a_name_a_policy_would_read_as_a_wildcard_is_refused_naming_its_option(places, option):
    from ssmenv import dbrotate

    with pytest.raises(SsmEnvError) as refused:
        dbrotate.Places(**places).check()
    assert str(refused.value).startswith(f"{option}: ") and "*" not in str(refused.value)
