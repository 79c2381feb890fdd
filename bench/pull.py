"""Benchmark: what a sync with nothing new costs on a host that pulls (pull mode's timer runs it
on every host, every ``pull_period``).

    .venv/bin/python -m bench.pull [--runs 10] [--prefix bench-pull] [--ssh-port 2501]
        [--set 'ssm_parameters=["/example-app/staging/FEATURE_FLAGS"]']

As root. Boots one lab host of the ``agent`` image (Node.js, Debian 12's python3 and
python3-botocore 1.29), starts the AWS stand-in with the example app's parameters, a metadata
stand-in with the host's role, and a call-counting proxy in front of SSM (``lab.faults``, no
fault); publishes the example app in pull mode (``python -m ssmenv publish``) and runs its user
data on the host, then ``ssmenv-agent sync example-app`` ``--runs`` times, each measured on the
host (wall time, CPU time of the agent and every program it ran, its largest resident memory)
and its SSM calls counted. Prints one line per run and the medians, and the push deploy's SSM
calls per run for the same settings (its fetch, ``tasks.environment.resolve``) beside them, and
this machine's load average before and after (the lab host shares its CPUs: on a loaded machine
the wall time waits for them). Exit status 1 when a sync changed anything. ``make bench-pull``
runs it; ``make bench`` runs it after the deploy benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from lab import aws, imds
from lab import hosts as lab
from lab.faults import FaultProxy
from lab.ports import free_port
from ssmenv import sources
from ssmenv.config import AppConfig
from tasks.environment import resolve

ROOT = Path(__file__).resolve().parents[1]
APP = "example-app"
SETTINGS = {"app_name": APP, "app_source": "examples/app", "ssm_path": "/example-app/staging",
            "env_required": ["DATABASE_URL", "API_KEY", "SESSION_SECRET"],
            "delivery": "pull", "release_bucket": "bench-releases", "pull_period": "1h"}
#: Run on the host: one sync, measured from outside it (its children: the agent and its
#: programs).
MEASURE = """import json, resource, subprocess, sys, time
started = time.monotonic()
done = subprocess.run(["ssmenv-agent", "sync", sys.argv[1]], capture_output=True, text=True)
wall = time.monotonic() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"status": done.returncode, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                  "rss_mb": usage.ru_maxrss / 1024, "said": done.stdout[-300:]}))
"""


def ssmenv(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "ssmenv", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"python -m ssmenv {args[0]} failed: {done.stderr.strip()}")
    return done.stdout


def push_calls(settings: dict) -> dict[str, int]:
    """The SSM calls of the push deploy's fetch for the same settings (one run, any hosts)."""
    sources.clear_cache()
    resolve(AppConfig.from_data(dict(settings)))
    return dict(sources.api_calls)


def setting(text: str) -> tuple[str, object]:
    """``KEY=VALUE``, the value JSON where it parses (as pyinfra's ``--data``)."""
    key, equals, value = text.partition("=")
    if not equals:
        raise argparse.ArgumentTypeError("a setting is KEY=VALUE")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pull",
                                     description=__doc__.split("\n\n")[0])  # fmt: skip
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--prefix", default="bench-pull")
    parser.add_argument("--ssh-port", type=int, default=2501)
    parser.add_argument("--set", type=setting, action="append", default=[], metavar="KEY=VALUE",
                        help="a setting of the app besides the example's (repeatable)")
    args = parser.parse_args(argv)
    settings = {**SETTINGS, **dict(args.set)}

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        port = free_port()
        stand_in = aws.start(port, work / "moto.log")
        started: list[subprocess.Popen] = [stand_in]
        host = None
        try:
            parameters = json.loads((ROOT / "examples/ssm/staging.json").read_text())
            aws.seed(port, {k: v for k, v in parameters.items() if k.startswith("/")})
            aws.client("s3", port).create_bucket(Bucket=settings["release_bucket"])
            instance = imds.launch(port, "bench-pull")
            imds.write_instance(work / "instance.json", instance)
            metadata_port = free_port()
            started.append(imds.start(metadata_port, work / "instance.json", work / "imds.log"))
            proxy = FaultProxy(f"http://127.0.0.1:{port}").start()
            host = lab.up(args.prefix, 1, args.ssh_port, kind="agent")[0]
            data = {**settings, **lab.connection_data(host.ssh_port), "app_port": 3000}
            inventory = work / "bench.py"
            inventory.write_text(f"bench = {[(host.name, data)]!r}\n")
            env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
                   **aws.environment(port)}  # fmt: skip
            os.environ.update(aws.environment(port))  # for the push deploy's fetch, compared
            print(ssmenv(env, "publish", str(inventory)), end="", file=sys.stderr)
            user_data = ssmenv(env, "publish", str(inventory), "--user-data", APP)
            ssh = [*lab.ssh_args(host.ssh_port)]
            agent_env = (f"AWS_ENDPOINT_URL=http://127.0.0.1:{port}\n"
                         f"AWS_ENDPOINT_URL_SSM={proxy.url}\n"
                         f"AWS_EC2_METADATA_SERVICE_ENDPOINT={imds.endpoint(metadata_port)}\n")
            subprocess.run([*ssh, "sudo install -D -m 0600 /dev/stdin "
                            "/etc/ssmenv/agent/environment"], input=agent_env, text=True,
                           check=True)  # fmt: skip
            subprocess.run([*ssh, "sudo sh -s"], input=user_data, text=True, check=True,
                           capture_output=True)  # fmt: skip
            return _runs(ssh, proxy, args.runs, settings)
        finally:
            if host is not None:
                lab.power_off(host)
            for proc in started:
                proc.terminate()
                proc.wait(timeout=10)


def _runs(ssh: list[str], proxy: FaultProxy, runs: int, settings: dict) -> int:
    rows = []
    load = os.getloadavg()[0]
    for i in range(runs):
        proxy.reset_counts()
        out = subprocess.run([*ssh, f"sudo python3 - {APP}"], input=MEASURE, text=True,
                             capture_output=True, check=True).stdout  # fmt: skip
        row = json.loads(out)
        row["calls"] = dict(proxy.forwarded)
        rows.append(row)
        print(f"run {i + 1}: status {row['status']}, {row['wall']:.3f} s wall, {row['cpu']:.3f} s "
              f"CPU, {row['rss_mb']:.0f} MB, SSM calls {row['calls']}")
    walls, cpus = [r["wall"] for r in rows], [r["cpu"] for r in rows]
    print(f"no-op sync, {runs} runs: wall {statistics.median(walls):.3f} s median "
          f"({min(walls):.3f}-{max(walls):.3f}), CPU {statistics.median(cpus):.3f} s median, "
          f"memory {max(r['rss_mb'] for r in rows):.0f} MB at most, SSM calls "
          f"{rows[-1]['calls']} (the push deploy's fetch: {push_calls(settings)}); this machine's "
          f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after, on "
          f"{os.cpu_count()} CPUs")
    return 0 if all(r["status"] == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
