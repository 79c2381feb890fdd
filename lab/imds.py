"""The instance metadata stand-in: IMDSv2 on 127.0.0.1, answering as an EC2 instance's
http://169.254.169.254 does, with the credentials of an instance role minted by the AWS stand-in.

botocore's own instance-role provider (method ``iam-role``, the last of its default credential
chain) reaches it through ``AWS_EC2_METADATA_SERVICE_ENDPOINT``; the test hosts share this
machine's network, so a process on a lab host reaches it as well, and takes the real code path an
instance takes, with no key on disk.

What an instance with a role is, made in the AWS stand-in (``launch``): the IAM role, trusting EC2
(and the lab's stand-in for it, the user ``lab-ec2-<role>``, allowed ``sts:AssumeRole`` on it
alone), its
policy, its instance profile, and a running EC2 instance with that profile and its tags. The
stand-in serves that instance, and the role's credentials from ``sts:AssumeRole``, asked for as
``lab-ec2-<role>`` and asked again five minutes before they expire, as EC2 rotates them. With IAM
enforcement on in the AWS stand-in (``lab.aws.enforce``, ``lab.moto_server``), every call made with
them is checked against the role's policy.

IMDSv2 only, as an instance launched with ``HttpTokens=required``: ``PUT /latest/api/token`` with
``X-aws-ec2-metadata-token-ttl-seconds`` (1 to 21600) answers a token; every ``GET`` must carry it
in ``X-aws-ec2-metadata-token`` or is answered 401; a ``PUT`` with ``X-Forwarded-For`` is refused
(403), as IMDS refuses tokens through a proxy. It serves::

    /latest/meta-data/instance-id, ami-id, instance-type, local-ipv4, placement/region,
    placement/availability-zone, iam/info, iam/security-credentials/ (the role's name),
    iam/security-credentials/<role> (Code, LastUpdated, Type, AccessKeyId, SecretAccessKey,
    Token, Expiration), tags/instance/ and tags/instance/<key> (with --metadata-tags, as an
    instance launched with InstanceMetadataTags=enabled)
    /latest/dynamic/instance-identity/document

    python -m lab.aws up                                      # the AWS stand-in, first
    python -m lab.imds up --role example-app-staging --policy host-policy.json --tag Role=web
    eval "$(python -m lab.imds env)"                          # AWS_EC2_METADATA_SERVICE_ENDPOINT
    python -m lab.imds status
    python -m lab.imds down
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from lab import aws, hosts
from lab.ports import port_free

DEFAULT_PORT = 1338
#: IMDS's longest token, in seconds.
TOKEN_TTL_MAX = 21600
#: How long the role's credentials last, and how long before that EC2 has new ones.
CREDENTIALS_SECONDS = 3600
REFRESH_BEFORE = timedelta(minutes=5)
#: One of moto's default images.
IMAGE = "ami-12c6146b"
#: The lab's stand-in for the EC2 service, which asks STS for an instance role's credentials: a
#: user ``lab-ec2-<role>`` per role.
EC2_USER = "lab-ec2"


@dataclass(frozen=True)
class Instance:
    """What the stand-in answers for: one EC2 instance of the AWS stand-in and its role.

    + endpoint: the AWS stand-in's URL, where the role's credentials are asked for
    + role: the instance role's name; its ARN is ``role_arn``
    + tags: the instance's tags, served under ``tags/instance/`` when ``metadata_tags``
    + ec2_credentials: ``lab-ec2-<role>``'s access key (the stand-in's, fake), which assumes the
      role
    """

    endpoint: str
    instance_id: str
    region: str
    availability_zone: str
    account_id: str
    image_id: str
    instance_type: str
    private_ip: str
    role: str
    role_arn: str
    profile_arn: str
    tags: dict[str, str] = field(default_factory=dict)
    metadata_tags: bool = False
    ec2_credentials: dict[str, str] = field(default_factory=dict, repr=False)

    def identity_document(self) -> dict[str, Any]:
        """``/latest/dynamic/instance-identity/document``, as EC2 writes it."""
        return {
            "accountId": self.account_id,
            "architecture": "x86_64",
            "availabilityZone": self.availability_zone,
            "billingProducts": None,
            "devpayProductCodes": None,
            "marketplaceProductCodes": None,
            "imageId": self.image_id,
            "instanceId": self.instance_id,
            "instanceType": self.instance_type,
            "kernelId": None,
            "pendingTime": "2024-01-01T00:00:00Z",
            "privateIp": self.private_ip,
            "ramdiskId": None,
            "region": self.region,
            "version": "2017-09-30",
        }


def trust_policy(ec2_user_arn: str) -> dict[str, Any]:
    """An instance role's trust: EC2, and the lab's stand-in for it (moto checks only ``AWS``
    principals)."""
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole",
        "Principal": {"Service": "ec2.amazonaws.com", "AWS": ec2_user_arn},
    }]}  # fmt: skip


def launch(
    endpoint: str | int,
    role: str,
    policy: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    *,
    region: str = aws.REGION,
    metadata_tags: bool = False,
    credentials: Mapping[str, str] | None = None,
) -> Instance:
    """Make, in the AWS stand-in at ``endpoint``, an instance whose role is ``role`` with the
    inline ``policy`` (none: the role may do nothing), tagged ``tags``; return what the metadata
    stand-in serves for it.

    + credentials: who makes it (``AWS_ACCESS_KEY_ID``...; default: the stand-in's fake ones,
      refused once IAM is enforced: then ``lab.aws.admin``'s)
    """
    url = f"http://127.0.0.1:{endpoint}" if isinstance(endpoint, int) else endpoint
    iam = aws.client("iam", url, region, credentials)
    # One stand-in for EC2 per role: IAM gives a user two access keys at most.
    ec2_user = iam.create_user(UserName=f"{EC2_USER}-{role}"[:64])["User"]
    arn = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(
        trust_policy(ec2_user["Arn"])))["Role"]["Arn"]  # fmt: skip
    if policy is not None:
        iam.put_role_policy(RoleName=role, PolicyName=role, PolicyDocument=json.dumps(policy))
    profile = iam.create_instance_profile(InstanceProfileName=role)["InstanceProfile"]
    iam.add_role_to_instance_profile(InstanceProfileName=role, RoleName=role)
    iam.put_user_policy(UserName=ec2_user["UserName"], PolicyName="assume-role",
                        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": arn}]}))
    key = iam.create_access_key(UserName=ec2_user["UserName"])["AccessKey"]
    ec2 = aws.client("ec2", url, region, credentials)
    tagging = [{"ResourceType": "instance",
                "Tags": [{"Key": k, "Value": v} for k, v in (tags or {}).items()]}] if tags else []
    answer = ec2.run_instances(
        ImageId=IMAGE, InstanceType="t3.micro", MinCount=1, MaxCount=1,
        IamInstanceProfile={"Arn": profile["Arn"]}, TagSpecifications=tagging,
    )["Instances"][0]  # fmt: skip
    zone = answer["Placement"]["AvailabilityZone"]
    return Instance(
        endpoint=url, instance_id=answer["InstanceId"], region=region, availability_zone=zone,
        account_id=arn.split(":")[4], image_id=answer["ImageId"],
        instance_type=answer["InstanceType"], private_ip=answer.get("PrivateIpAddress", ""),
        role=role, role_arn=arn, profile_arn=profile["Arn"], tags=dict(tags or {}),
        metadata_tags=metadata_tags,
        ec2_credentials={"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                         "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]},
    )  # fmt: skip


class RoleCredentials:
    """The role's current credentials, from ``sts:AssumeRole`` as ``lab-ec2-<role>``; new ones when
    these are within ``REFRESH_BEFORE`` of their expiry."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.lock = threading.Lock()
        self.current: dict[str, str] | None = None
        self.expires = datetime.min.replace(tzinfo=UTC)

    def get(self) -> dict[str, str]:
        with self.lock:
            now = datetime.now(UTC)
            if self.current is None or now >= self.expires - REFRESH_BEFORE:
                sts = aws.client("sts", self.instance.endpoint, self.instance.region,
                                 self.instance.ec2_credentials)  # fmt: skip
                answer = sts.assume_role(RoleArn=self.instance.role_arn,
                                         RoleSessionName=self.instance.instance_id,
                                         DurationSeconds=CREDENTIALS_SECONDS)["Credentials"]
                self.expires = answer["Expiration"].astimezone(UTC)
                self.current = {
                    "Code": "Success",
                    "LastUpdated": _iso(now),
                    "Type": "AWS-HMAC",
                    "AccessKeyId": answer["AccessKeyId"],
                    "SecretAccessKey": answer["SecretAccessKey"],
                    "Token": answer["SessionToken"],
                    "Expiration": _iso(self.expires),
                }
            return dict(self.current)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Metadata:
    """The answers: path (under ``/latest/``) to text, or ``None`` for a 404."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.credentials = RoleCredentials(instance)
        self.lock = threading.Lock()
        self.tokens: dict[str, float] = {}  # token -> when it expires (monotonic)

    def token(self, ttl: int) -> str:
        token = secrets.token_urlsafe(40)
        with self.lock:
            now = time.monotonic()
            self.tokens = {t: end for t, end in self.tokens.items() if end > now}
            self.tokens[token] = now + ttl
        return token

    def valid(self, token: str | None) -> bool:
        with self.lock:
            return token is not None and self.tokens.get(token, 0) > time.monotonic()

    def leaves(self) -> dict[str, Any]:
        """Every path the instance answers, to its text or what makes it."""
        i = self.instance
        profile = {"Code": "Success", "InstanceProfileArn": i.profile_arn,
                   "InstanceProfileId": "AIPA" + i.instance_id[2:].upper()}  # fmt: skip
        leaves: dict[str, Any] = {
            "meta-data/instance-id": i.instance_id,
            "meta-data/ami-id": i.image_id,
            "meta-data/instance-type": i.instance_type,
            "meta-data/local-ipv4": i.private_ip,
            "meta-data/placement/region": i.region,
            "meta-data/placement/availability-zone": i.availability_zone,
            "meta-data/iam/info": lambda: _json({**profile, "LastUpdated": _iso(_now())}),
            "meta-data/iam/security-credentials/": i.role,
            f"meta-data/iam/security-credentials/{i.role}": lambda: _json(self.credentials.get()),
            "dynamic/instance-identity/document": lambda: _json(i.identity_document()),
        }
        if i.metadata_tags:
            leaves["meta-data/tags/instance/"] = "\n".join(sorted(i.tags))
            leaves.update({f"meta-data/tags/instance/{k}": v for k, v in i.tags.items()})
        return leaves

    def answer(self, path: str) -> str | None:
        """What ``path`` (under ``/latest/``) answers; ``None``: 404."""
        leaves = self.leaves()
        # A leaf answers with or without a trailing "/" (botocore asks for
        # placement/availability-zone/); a directory lists what is under it.
        found = leaves.get(path, leaves.get(path.rstrip("/")))
        if found is None and (path.endswith("/") or path in ("meta-data", "dynamic")):
            prefix = path.rstrip("/") + "/"
            under = {_first(k.removeprefix(prefix)) for k in leaves
                     if k.startswith(prefix) and k != prefix}  # fmt: skip
            return "\n".join(sorted(under)) if under else None
        return found() if callable(found) else found


def _first(rest: str) -> str:
    """The first component of ``rest``, with its "/" when more follows: how IMDS lists."""
    head, slash, _ = rest.partition("/")
    return head + slash


def _json(document: Any) -> str:
    return json.dumps(document, indent=2)


class Handler(BaseHTTPRequestHandler):
    """IMDSv2: a token first, then every GET with it."""

    server: Server
    server_version = "EC2ws"
    sys_version = ""

    def do_PUT(self) -> None:
        if self.path != "/latest/api/token":
            return self._send(404, "Not Found")
        if self.headers.get("X-Forwarded-For") is not None:
            return self._send(403, "Forbidden")
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= TOKEN_TTL_MAX:
            return self._send(400, "Bad Request")
        token = self.server.metadata.token(int(ttl))
        self._send(200, token, {"X-aws-ec2-metadata-token-ttl-seconds": ttl})

    def do_GET(self) -> None:
        metadata = self.server.metadata
        if not metadata.valid(self.headers.get("X-aws-ec2-metadata-token")):
            return self._send(401, "Unauthorized")
        path = self.path.split("?", 1)[0]
        answer = metadata.answer(path.removeprefix("/latest/")) if path.startswith(
            "/latest/") else None  # fmt: skip
        if answer is None:
            return self._send(404, "Not Found")
        self._send(200, answer)

    def _send(self, status: int, body: str, headers: Mapping[str, str] | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        # The request line only: never a token or an answer.
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, instance: Instance) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.metadata = Metadata(instance)


# --- one stand-in per port, in the background: state files in the lab's state directory ------


def endpoint(port: int) -> str:
    """What ``AWS_EC2_METADATA_SERVICE_ENDPOINT`` is for the stand-in on ``port``."""
    return f"http://127.0.0.1:{port}/"


def environment(port: int) -> dict[str, str]:
    """The variables that send botocore's instance-role provider to the stand-in."""
    return {"AWS_EC2_METADATA_SERVICE_ENDPOINT": endpoint(port)}


def write_instance(path: Path, instance: Instance) -> None:
    """``instance`` as the server reads it, root-only (it holds ``lab-ec2-<role>``'s key)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(instance), out)


def read_instance(path: Path) -> Instance:
    return Instance(**json.loads(path.read_text()))


def start(port: int, instance_file: Path, log: Path) -> subprocess.Popen:
    """Serve ``instance_file``'s instance on 127.0.0.1:``port`` in a process of its own, and
    wait until it answers. A port something holds fails at once: whatever holds it (one left by
    a killed run) would answer in its place."""
    if not port_free(port):
        raise SystemExit(f"the metadata stand-in: port {port} is already in use")
    path = os.pathsep.join(filter(None, [str(aws.ROOT), os.environ.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "lab.imds", "serve", "--port", str(port), str(instance_file)],
        stdin=subprocess.DEVNULL, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True, env={**os.environ, "PYTHONPATH": path},
    )  # fmt: skip
    wait_ready(port, proc)
    return proc


def wait_ready(port: int, proc: subprocess.Popen | None = None, deadline: float = 30.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the metadata stand-in on 127.0.0.1:{port} exited "
                             f"({proc.returncode})")  # fmt: skip
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/latest/api/token", method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": "1"})  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=1):
                return
        except (OSError, urllib.error.HTTPError):
            time.sleep(0.1)
    raise SystemExit(f"the metadata stand-in did not answer on 127.0.0.1:{port} after "
                     f"{deadline:.0f}s")  # fmt: skip


def state_file(port: int) -> Path:
    return hosts.STATE / f"imds-{port}.json"


def _alive(pid: int) -> bool:
    try:
        return b"lab.imds" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def running() -> dict[int, int]:
    """The stand-ins ``up`` started that still run: port -> pid."""
    found = {}
    for record in sorted(hosts.STATE.glob("imds-*.json")):
        if not record.stem.removeprefix("imds-").isdigit():  # an instance file
            continue
        try:
            state = json.loads(record.read_text())
        except (OSError, ValueError):
            continue
        if _alive(state["pid"]):
            found[int(state["port"])] = int(state["pid"])
        else:
            record.unlink(missing_ok=True)
            Path(state.get("instance", "")).unlink(missing_ok=True)
    return found


def up(port: int, instance: Instance) -> int:
    hosts.STATE.mkdir(parents=True, exist_ok=True)
    if port in running():
        raise SystemExit(f"a metadata stand-in runs on 127.0.0.1:{port} already "
                         f"(python -m lab.imds down --port {port})")  # fmt: skip
    instance_file = hosts.STATE / f"imds-{port}.instance.json"
    write_instance(instance_file, instance)
    proc = start(port, instance_file, hosts.STATE / f"imds-{port}.log")
    state_file(port).write_text(json.dumps({"pid": proc.pid, "port": port,
                                            "instance": str(instance_file)}))  # fmt: skip
    return proc.pid


def down(port: int, deadline: float = 10.0) -> bool:
    pid = running().get(port)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        end = time.monotonic() + deadline
        while _alive(pid) and time.monotonic() < end:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    state_file(port).unlink(missing_ok=True)
    (hosts.STATE / f"imds-{port}.instance.json").unlink(missing_ok=True)
    return pid is not None


def chosen(port: int | None) -> int:
    if port is not None:
        return port
    ports = sorted(running())
    if len(ports) == 1:
        return ports[0]
    if not ports:
        raise SystemExit("no metadata stand-in runs: start one with python -m lab.imds up")
    raise SystemExit(f"{len(ports)} metadata stand-ins run (ports {', '.join(map(str, ports))}): "
                     "say which with --port")  # fmt: skip


def _tag(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise argparse.ArgumentTypeError("a tag is KEY=VALUE")
    return key, value


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="python -m lab.imds", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    port = argparse.ArgumentParser(add_help=False)
    port.add_argument("--port", type=int, default=None, help="the stand-in's port on 127.0.0.1; "
                      f"default: the one running (for up: {DEFAULT_PORT})")  # fmt: skip
    sub = main.add_subparsers(dest="command", required=True)
    start_ = sub.add_parser("up", parents=[port], help="make an instance with a role in the AWS "
                            "stand-in and serve its metadata in the background")  # fmt: skip
    start_.add_argument("--role", required=True, help="the instance role's name (made in the AWS "
                        "stand-in, with an instance profile of the same name)")  # fmt: skip
    start_.add_argument("--policy", type=Path, help="a JSON policy document: the role's "
                        "permissions (python -m ssmenv iam prints them); default: none")
    start_.add_argument("--tag", type=_tag, action="append", default=[], metavar="KEY=VALUE",
                        help="a tag of the instance (repeatable)")  # fmt: skip
    start_.add_argument("--metadata-tags", action="store_true", help="serve the tags under "
                        "meta-data/tags/instance/ (InstanceMetadataTags=enabled)")  # fmt: skip
    start_.add_argument("--aws-port", type=int, default=None, help="the AWS stand-in's port "
                        "(default: the one running)")  # fmt: skip
    sub.add_parser("down", parents=[port], help="stop a metadata stand-in")
    sub.add_parser("status", help="list the metadata stand-ins that run: port and pid")
    sub.add_parser("env", parents=[port], help="print the export line that points botocore's "
                   "instance-role provider at a stand-in (for eval)")  # fmt: skip
    serve = sub.add_parser("serve", parents=[port], help="serve in the foreground (what up runs)")
    serve.add_argument("instance", type=Path, help="the instance, as up writes it")
    return main


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.command == "serve":
        server = Server(args.port or DEFAULT_PORT, read_instance(args.instance))
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
        server.serve_forever()
    elif args.command == "up":
        port = DEFAULT_PORT if args.port is None else args.port
        aws_port = aws.chosen(args.aws_port)
        policy = json.loads(args.policy.read_text()) if args.policy else None
        instance = launch(aws_port, args.role, policy, dict(args.tag),
                          metadata_tags=args.metadata_tags)  # fmt: skip
        pid = up(port, instance)
        print(f"metadata of {instance.instance_id} (role {instance.role}) on 127.0.0.1:{port} "
              f"(pid {pid}), credentials from 127.0.0.1:{aws_port}")  # fmt: skip
    elif args.command == "down":
        port = chosen(args.port)
        print(f"metadata stand-in 127.0.0.1:{port}: {'stopped' if down(port) else 'not running'}")
    elif args.command == "status":
        for port, pid in sorted(running().items()):
            print(f"127.0.0.1:{port}\tpid {pid}\t{state_file(port)}")
    elif args.command == "env":
        for key, value in environment(chosen(args.port)).items():
            print(f"export {key}={value}")


if __name__ == "__main__":
    main()
