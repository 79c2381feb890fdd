"""``make demo``: the example app deployed onto two local staging hosts, with the real pyinfra CLI,
and a third that pulls its own, as an Auto Scaling group's instance would.

Starts the AWS stand-in and seeds it with examples/ssm/staging.json (fake values), boots the hosts
of inventories/local.py, runs ``pyinfra inventories/local.py deploy.py`` and prints what each
running app reports. Then the third host, demo-3 (inventories/local_pull.py): booted fresh from the
``agent`` image, with an instance role holding exactly the host-role policy ``python -m ssmenv
iam`` generates (the instance metadata stand-in, ``lab.imds``), the app published for it
(``python -m ssmenv publish``: the release and the agent to the stand-in's S3, the description to
SSM), and only its user data run on it (``publish --user-data``): no pyinfra run reaches it. The
demo shows it serves what the others serve. The app's rows are in a PostgreSQL of the demo's own
(lab.postgres on 127.0.0.1:5433, its passwords the seed's URLs'); the demo ends by showing them and
how to rotate the database password (docs/database.md). ``python -m lab.demo down`` (``make
demo-down``) stops everything it started.

    python -m lab.demo [up]      # as root; fixed ports: one demo on a machine at a time
    python -m lab.demo down
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from lab import aws, hosts, imds, postgres
from ssmenv.databases import Login

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "examples" / "ssm" / "staging.json"
# Must match inventories/local.py.
DEMO_HOSTS = [("demo-1", 2201, 3001), ("demo-2", 2202, 3002)]
# The app's database: its URL and the administrator's are the seed's.
DATABASE_PORT = 5433
DATABASE_URL = "/example-app/staging/DATABASE_URL"
ADMIN_URL = "/example-app/admin/DATABASE_ADMIN_URL"
# The host that pulls: must match inventories/local_pull.py.
PULL_HOST = ("demo-3", 2203, 3003)
PULL_INVENTORY = "inventories/local_pull.py"
PULL_APP = "example-app"
RELEASE_BUCKET = "demo-releases"
#: The instance role of demo-3 (an Auto Scaling group's instances share one), and its metadata
#: stand-in's port: neither the name nor the port that ``python -m lab.imds up`` takes by default,
#: so that one can be tried beside the demo.
ROLE = "example-app-staging-host"
METADATA_PORT = imds.DEFAULT_PORT + 1
#: How long demo-3's first sync may take to serve (it installs the app's dependencies).
SERVE_DEADLINE = 120.0
#: What differs between two hosts serving the same configuration: each host's own port, and what
#: systemd sets for each process it starts.
PER_PROCESS = frozenset({"PORT", "INVOCATION_ID", "JOURNAL_STREAM", "SYSTEMD_EXEC_PID"})


def up() -> None:
    if aws.DEFAULT_PORT not in aws.running():
        aws.main(["up", "--port", str(aws.DEFAULT_PORT)])
    aws.main(["seed", "--port", str(aws.DEFAULT_PORT), str(SEED)])
    database_up()
    hosts.up("demo", len(DEMO_HOSTS), DEMO_HOSTS[0][1])
    pulling = boot_pull_host()  # boots while the others deploy
    print("\n$ pyinfra -y inventories/local.py deploy.py", flush=True)
    env = {**os.environ, **aws.environment(aws.DEFAULT_PORT)}
    pyinfra = Path(sys.executable).with_name("pyinfra")
    subprocess.run(
        [str(pyinfra), "-y", "inventories/local.py", "deploy.py"], cwd=REPO, env=env, check=True
    )
    print("\nWhat each running app reports (GET /fingerprints: sha256 of each variable's value):")
    for name, _ssh_port, app_port in DEMO_HOSTS:
        with urllib.request.urlopen(f"http://127.0.0.1:{app_port}/fingerprints", timeout=5) as r:
            served = json.load(r)
        print(f"\n{name} (http://127.0.0.1:{app_port}):")
        for key in ("DATABASE_URL", "API_KEY", "SESSION_SECRET", "LOG_LEVEL", "PORT"):
            print(f"  {key:<15} {served.get(key, 'MISSING')}")
    print("\nThe app's processes on each host (its Procfile: web and worker):")
    for name, ssh_port, _app_port in DEMO_HOSTS:
        units = subprocess.run(
            [*hosts.ssh_args(ssh_port), "systemctl list-units --plain --no-legend "
             "'example-app*'"], capture_output=True, text=True, timeout=30,
        ).stdout  # fmt: skip
        for line in units.splitlines():
            unit, _load, active, sub = [*line.split(), "", "", "", ""][:4]
            print(f"  {name}: {unit:<28} {active} ({sub})")
    print("\nDelivered as credentials (encrypted on the host, read by the app from a file):")
    for name, ssh_port, _app_port in DEMO_HOSTS:
        stored = subprocess.run(
            [*hosts.ssh_args(ssh_port), "sudo ls /etc/credstore.encrypted/example-app"],
            capture_output=True, text=True, timeout=30,
        ).stdout.split()  # fmt: skip
        print(f"  {name}: {', '.join(stored) or 'none'} in /etc/credstore.encrypted/example-app/")
    join_pull_host(pulling, env)
    show_pull_host()
    show_rows()
    key = hosts.key_path()
    print(f"""
The three hosts run the app's web and worker. Look around:
  ssh -i {key} -p 2201 {hosts.USER}@127.0.0.1
      systemctl status example-app.target; journalctl -u example-app-worker
      sudo cat /etc/example-app.env; systemctl show -p Environment example-app-web
  curl http://127.0.0.1:3001/fingerprints
  eval "$(.venv/bin/python -m lab.aws env --port {aws.DEFAULT_PORT})"  # boto3, aws: the stand-in
  .venv/bin/pyinfra inventories/local.py deploy.py # redeploy: nothing changes, nothing restarts
  .venv/bin/pyinfra inventories/local.py rotate.py --dry  # after changing a value in the stand-in
demo-3 pulls (no pyinfra deploy reaches it; docs/pull.md):
  ssh -i {key} -p 2203 {hosts.USER}@127.0.0.1 sudo ssmenv-agent sync {PULL_APP}  # 0: unchanged
  ssh -i {key} -p 2203 {hosts.USER}@127.0.0.1 sudo ssmenv-agent status {PULL_APP}
  .venv/bin/python -m ssmenv drift {PULL_INVENTORY}    # its manifest, over SSH (after the eval)
  .venv/bin/python -m ssmenv publish {PULL_INVENTORY}  # after changing a setting or the app
  .venv/bin/python -m ssmenv iam {PULL_INVENTORY}      # its instance role's policy
{ROTATE}
Stop everything with: make demo-down""")


def database_up() -> None:
    """The app's PostgreSQL, fresh: role app and the administrator with the seed's passwords."""
    seeded = json.loads(SEED.read_text())
    app = Login.parse(seeded[DATABASE_URL], DATABASE_URL)
    admin = Login.parse(seeded[ADMIN_URL], ADMIN_URL)
    cluster = postgres.up(DATABASE_PORT)
    postgres.create_app(cluster, app.password, admin.user, admin.password)
    print(f"PostgreSQL on 127.0.0.1:{DATABASE_PORT} ({cluster.directory})")


def show_rows() -> None:
    """Each pushed host's app writes a row (POST /visits), then the rows as the last one read
    them."""
    rows = []
    for _name, _ssh_port, app_port in DEMO_HOSTS:
        request = urllib.request.Request(f"http://127.0.0.1:{app_port}/visits", method="POST")
        with urllib.request.urlopen(request, timeout=5) as r:
            rows = json.load(r)
    print(f"\nThe app's rows in PostgreSQL (POST http://127.0.0.1:{DEMO_HOSTS[0][2]}/visits: one "
          "more, then the latest):")
    for row in rows:
        print(f"  {row['id']:>4}  {row['at']}  {row['host']:<8} as {row['db_user']}")


def database_down() -> None:
    postgres.down(DATABASE_PORT)
    print(f"PostgreSQL on 127.0.0.1:{DATABASE_PORT}: stopped")


# The rotation's rollout is the push deploy of inventories/local.py; demo-3 pulls: its agent
# takes the new credentials at its next sync (the rotation waits for it when given
# --pull-inventory inventories/local_pull.py).
ROTATE = f"""
Rotate the database password (docs/database.md), the pushed hosts answering all along:
  eval "$(.venv/bin/python -m lab.aws env --port {aws.DEFAULT_PORT})"
  .venv/bin/python -m ssmenv db rotate --parameter {DATABASE_URL} \\
      --admin-parameter {ADMIN_URL} --dry-run inventories/local.py
  (then without --dry-run; curl http://127.0.0.1:3001/healthz/db says which role is in use;
  demo-3 pulls: add --pull-inventory inventories/local_pull.py for the rotation to wait for its
  agent's next sync before it retires the previous role)"""


# --- demo-3: a host that pulls, as an Auto Scaling group's instance ---------------------------


def boot_pull_host() -> hosts.LabHost:
    """demo-3, booted fresh from the ``agent`` image (Debian 12, Node.js, Debian's python3 and
    python3-botocore): what an AMI gives an instance. Kept as it is when it runs already."""
    name, ssh_port, _app_port = PULL_HOST
    for running in hosts.running():
        if running.name == name:
            return running
    return hosts.boot(name, ssh_port, kind="agent")


def join_pull_host(host: hosts.LabHost, env: dict[str, str]) -> None:
    """What an Auto Scaling group's instance gets, and nothing more: an instance role with the
    generated host-role policy, the app published for it, and its launch template's user data,
    run once as root (as cloud-init runs it at first boot)."""
    hosts.wait_ready(host)
    print(f"\n{host.name} joins in pull mode, as an Auto Scaling group's instance would:",
          flush=True)  # fmt: skip
    s3 = aws.client("s3", aws.DEFAULT_PORT)
    if RELEASE_BUCKET not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=RELEASE_BUCKET)
    policies = json.loads(_ssmenv(env, "iam", PULL_INVENTORY, "--json"))
    start_metadata(policies["hosts"][0]["policy"])
    # What the instance's image would carry on a private network: where AWS is (the stand-in)
    # and its metadata (the stand-in of 169.254.169.254). On EC2 no such file is needed.
    agent_environment = (f"AWS_ENDPOINT_URL=http://127.0.0.1:{aws.DEFAULT_PORT}\n"
                         f"AWS_EC2_METADATA_SERVICE_ENDPOINT={imds.endpoint(METADATA_PORT)}\n")
    _on(host, "sudo install -D -m 0600 /dev/stdin /etc/ssmenv/agent/environment",
        agent_environment)  # fmt: skip
    print(f"$ python -m ssmenv publish {PULL_INVENTORY}", flush=True)
    print(_ssmenv(env, "publish", PULL_INVENTORY), end="", flush=True)
    user_data = _ssmenv(env, "publish", PULL_INVENTORY, "--user-data", PULL_APP)
    print(f"$ python -m ssmenv publish {PULL_INVENTORY} --user-data {PULL_APP} "
          f"| ssh {host.name} sudo sh -s   # its user data, as cloud-init runs it", flush=True)
    print(_on(host, "sudo sh -s", user_data), end="", flush=True)
    _wait_serving(PULL_HOST[2])


def start_metadata(policy: dict) -> None:
    """The instance metadata stand-in on ``METADATA_PORT``, its instance's role ``ROLE`` with
    ``policy`` (kept when it runs already: a second ``make demo``)."""
    if METADATA_PORT in imds.running():
        return
    instance = imds.launch(aws.DEFAULT_PORT, ROLE, policy, {"aws:autoscaling:groupName":
                                                            "example-app-staging"})
    pid = imds.up(METADATA_PORT, instance)
    print(f"instance {instance.instance_id}, role {ROLE} (the generated host-role policy): "
          f"metadata on 127.0.0.1:{METADATA_PORT} (pid {pid})", flush=True)  # fmt: skip


def show_pull_host() -> None:
    """demo-3's fingerprints beside demo-1's: the same values (but ``PER_PROCESS``)."""
    name, _ssh_port, app_port = PULL_HOST
    pulled, pushed = _fingerprints(app_port), _fingerprints(DEMO_HOSTS[0][2])
    print(f"\n{name} (http://127.0.0.1:{app_port}), pulled with its instance role:")
    for key in ("DATABASE_URL", "API_KEY", "SESSION_SECRET", "LOG_LEVEL", "PORT"):
        print(f"  {key:<15} {pulled.get(key, 'MISSING')}")
    compared = {*pulled, *pushed} - PER_PROCESS
    differ = sorted(k for k in compared if pulled.get(k) != pushed.get(k))
    if differ:
        raise SystemExit(f"{name} serves other values than {DEMO_HOSTS[0][0]}: "
                         f"{', '.join(differ)}")  # fmt: skip
    print(f"  the same {len(compared)} variables as {DEMO_HOSTS[0][0]} serves (all but PORT and "
          "what systemd sets for each process)")


def _fingerprints(app_port: int) -> dict[str, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{app_port}/fingerprints", timeout=5) as r:
        return json.load(r)


def _wait_serving(app_port: int) -> None:
    end = time.monotonic() + SERVE_DEADLINE
    while True:
        try:
            _fingerprints(app_port)
            return
        except OSError:
            if time.monotonic() > end:
                raise SystemExit(f"nothing serves on 127.0.0.1:{app_port} after "
                                 f"{SERVE_DEADLINE:.0f} s") from None  # fmt: skip
            time.sleep(0.2)


def _ssmenv(env: dict[str, str], *args: str) -> str:
    """``python -m ssmenv ARGS`` as a user runs it; its output."""
    done = subprocess.run([sys.executable, "-m", "ssmenv", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"python -m ssmenv {args[0]} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def _on(host: hosts.LabHost, command: str, stdin: str) -> str:
    done = subprocess.run([*hosts.ssh_args(host.ssh_port), command], input=stdin,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{host.name}: {command} failed ({done.returncode}):\n"
                         f"{done.stdout}{done.stderr}")  # fmt: skip
    return done.stdout


def down() -> None:
    for name in hosts.down("demo"):  # demo-3 too
        print(f"{name}: powered off")
    stopped = imds.down(METADATA_PORT)
    print(f"metadata stand-in 127.0.0.1:{METADATA_PORT}: {'stopped' if stopped else 'not running'}")
    database_down()
    aws.main(["down", "--port", str(aws.DEFAULT_PORT)])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m lab.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", choices=("up", "down"), default="up",
                        help="up (the default): start the demo; down: stop what it started")
    {"up": up, "down": down}[parser.parse_args(argv).command]()


if __name__ == "__main__":
    main()
