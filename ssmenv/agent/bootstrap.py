"""The agent's bootstrap, for a host no deploy reaches (an AMI build, a launch template's user
data): the host's own python3 and botocore (``python3-botocore``) and nothing else.

    python3 - APP DESCRIPTION-PARAMETER [REGION] < bootstrap.py

It reads the app's description from SSM with the instance role (the region: given, else the
instance's, from its metadata), fetches the agent's bundle it names from the release bucket,
checks its sha256, unpacks it root's under ``/opt/ssmenv-agent/<version>`` (if the host has it
not), then runs ``ssmenv-agent install APP --parameter ... --region ...``: the host pulls the app
from then on, starting with its first sync, whose status it exits with. ``python -m ssmenv
publish --user-data`` prints it inside a user-data script. Standard library and botocore only: it
runs before the agent is there. It reads the operator's environment file
(``/etc/ssmenv/agent/environment``, as the agent does) and, with a botocore older than 1.31,
``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>`` itself. It prints names and digests,
never a value (a description holds none).
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import botocore.configprovider
import botocore.exceptions
import botocore.session
from botocore.utils import InstanceMetadataRegionFetcher

HOME = "/opt/ssmenv-agent"
ENVIRONMENT = "/etc/ssmenv/agent/environment"


def say(text):
    print(f"ssmenv-agent bootstrap: {text}", flush=True)


def environment():
    """The operator's environment file: root's, ``KEY=value`` lines (a value may be quoted)."""
    try:
        info = os.stat(ENVIRONMENT)
    except FileNotFoundError:
        return
    if info.st_uid != 0 or info.st_mode & 0o022:
        sys.exit(f"ssmenv-agent bootstrap: {ENVIRONMENT} must be root's and writable by root "
                 "alone")
    with open(ENVIRONMENT) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";")) or "=" not in line:
                continue
            key, value = (part.strip() for part in line.split("=", 1))
            if len(value) > 1 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            os.environ[key] = value


def patient(session):
    """The instance role's credentials fetched with 2 s and 3 attempts where neither the
    environment nor the config file says (botocore's defaults, 1 s and one attempt, turn a
    metadata service slow at boot into "Unable to locate credentials"); as the agent does
    (``ssmenv.aws.PATIENT_METADATA``)."""
    for name, value in (("metadata_service_timeout", 2), ("metadata_service_num_attempts", 3)):
        try:
            configured = name in session.get_scoped_config()
        except botocore.exceptions.ProfileNotFound:
            configured = False
        if f"AWS_{name.upper()}" not in os.environ and not configured:
            session.set_config_variable(name, value)
    return session


def client(session, service, region):
    """A client; its endpoint from AWS_ENDPOINT_URL(_<SERVICE>) where botocore ignores them."""
    endpoint = None
    if not hasattr(botocore.configprovider, "ConfiguredEndpointProvider"):
        service_id = session.get_service_model(service).service_id.hyphenize()
        endpoint = (os.environ.get(f"AWS_ENDPOINT_URL_{service_id.replace('-', '_').upper()}")
                    or os.environ.get("AWS_ENDPOINT_URL"))
    return session.create_client(service, region_name=region, endpoint_url=endpoint)


def main(app, parameter, region=None):
    environment()
    session = patient(botocore.session.Session())
    if not region:
        config = {key: session.get_config_variable(key) for key in (
            "ec2_metadata_service_endpoint", "ec2_metadata_service_endpoint_mode")}
        region = InstanceMetadataRegionFetcher(timeout=2, num_attempts=3,
                                               config=config).retrieve_region()
    if not region:
        sys.exit("ssmenv-agent bootstrap: the instance's region cannot be read: give it")
    answer = client(session, "ssm", region).get_parameters(Names=[parameter])
    found = answer.get("Parameters") or []
    if not found or found[0].get("Type") != "String":
        sys.exit(f"ssmenv-agent bootstrap: {parameter} ({region}) holds no description: "
                 "publish it first (python -m ssmenv publish)")
    description = json.loads(found[0]["Value"])
    agent = description.get("agent") or {}
    settings = description.get("settings") or {}
    bucket = settings.get("release_bucket")
    if not agent.get("key") or not bucket:
        sys.exit(f"ssmenv-agent bootstrap: the description of {app} names no agent to fetch "
                 "(publish it with release_bucket set)")
    digest, version = agent["sha256"], agent["sha256"][:12]
    home = f"{HOME}/{version}"
    if not os.path.isdir(home):
        s3 = client(session, "s3", settings.get("aws_region") or "us-east-1")
        data = s3.get_object(Bucket=bucket, Key=agent["key"])["Body"].read()
        if hashlib.sha256(data).hexdigest() != digest:
            sys.exit(f"ssmenv-agent bootstrap: s3://{bucket}/{agent['key']} is not the agent "
                     "its description names (its sha256 differs): refused")
        os.makedirs(HOME, mode=0o755, exist_ok=True)
        work = tempfile.mkdtemp(prefix=f".{version}.", dir=HOME)
        try:
            subprocess.run(["tar", "-xzf", "-", "--no-same-owner", "-C", work], input=data,
                           check=True)
            os.chmod(work, 0o755)  # noqa: S103 -- the agent is read by all, written by root
            os.rename(work, home)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        say(f"agent {version} unpacked in {home}")
    launcher = f"{home}/bin/ssmenv-agent"
    done = subprocess.run([launcher, "install", app, "--parameter", parameter, "--region", region])
    return done.returncode


if __name__ == "__main__":
    if not 3 <= len(sys.argv) <= 4:
        sys.exit("usage: python3 - APP DESCRIPTION-PARAMETER [REGION] < bootstrap.py")
    raise SystemExit(main(*sys.argv[1:]))
