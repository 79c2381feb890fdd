"""``make demo``: the example app deployed onto two local staging hosts, with the real pyinfra CLI.

Starts the SSM stand-in and seeds it with examples/ssm/staging.json (fake values), starts the
app's PostgreSQL (lab.postgres on 127.0.0.1:5433, its passwords the seed's URLs'), boots the hosts
of inventories/local.py, runs ``pyinfra inventories/local.py deploy.py`` and prints what each
running app reports, the rows they wrote, and how to rotate the database password.
``python -m lab.demo down`` (``make demo-down``) stops everything.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from lab import aws, hosts, postgres
from ssmenv.databases import Login

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "examples" / "ssm" / "staging.json"
# Must match inventories/local.py.
DEMO_HOSTS = [("demo-1", 2201, 3001), ("demo-2", 2202, 3002)]
# The app's database: its URL and the administrator's are the seed's.
DATABASE_PORT = 5433
DATABASE_URL = "/example-app/staging/DATABASE_URL"
ADMIN_URL = "/example-app/admin/DATABASE_ADMIN_URL"


def up() -> None:
    if aws.DEFAULT_PORT not in aws.running():
        aws.main(["up", "--port", str(aws.DEFAULT_PORT)])
    aws.main(["seed", "--port", str(aws.DEFAULT_PORT), str(SEED)])
    database_up()
    hosts.up("demo", len(DEMO_HOSTS), DEMO_HOSTS[0][1])
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
    show_rows()
    key = hosts.key_path()
    print(f"""
Both hosts run the app's web and worker. Look around:
  ssh -i {key} -p 2201 {hosts.USER}@127.0.0.1
      systemctl status example-app.target; journalctl -u example-app-worker
      sudo cat /etc/example-app.env; systemctl show -p Environment example-app-web
  curl http://127.0.0.1:3001/fingerprints
  eval "$(.venv/bin/python -m lab.aws env --port {aws.DEFAULT_PORT})"  # boto3, aws: the stand-in
  .venv/bin/pyinfra inventories/local.py deploy.py # redeploy: nothing changes, nothing restarts
  .venv/bin/pyinfra inventories/local.py rotate.py --dry  # after changing a value in the stand-in
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
    """Each app writes a row (POST /visits), then the rows as the last one read them."""
    rows = []
    for _name, _ssh_port, app_port in DEMO_HOSTS:
        request = urllib.request.Request(f"http://127.0.0.1:{app_port}/visits", method="POST")
        with urllib.request.urlopen(request, timeout=5) as r:
            rows = json.load(r)
    print(f"\nThe app's rows in PostgreSQL (POST http://127.0.0.1:{DEMO_HOSTS[0][2]}/visits: one "
          "more, then the latest):")
    for row in rows:
        print(f"  {row['id']:>4}  {row['at']}  {row['host']:<8} as {row['db_user']}")


ROTATE = f"""
Rotate the database password (docs/database.md), the apps answering all along:
  eval "$(.venv/bin/python -m lab.aws env --port {aws.DEFAULT_PORT})"
  .venv/bin/python -m ssmenv db rotate --parameter {DATABASE_URL} \\
      --admin-parameter {ADMIN_URL} --dry-run inventories/local.py
  (then without --dry-run; curl http://127.0.0.1:3001/healthz/db says which role is in use)"""


def down() -> None:
    for name in hosts.down("demo"):
        print(f"{name}: powered off")
    database_down()
    aws.main(["down", "--port", str(aws.DEFAULT_PORT)])


def database_down() -> None:
    postgres.down(DATABASE_PORT)
    print(f"PostgreSQL on 127.0.0.1:{DATABASE_PORT}: stopped")


if __name__ == "__main__":
    {"up": up, "down": down}[(sys.argv[1:] or ["up"])[0]]()
