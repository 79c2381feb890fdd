"""Benchmark: API calls and fetch time for 1 and 20 hosts, 10, 100 and 1000 parameters.

    .venv/bin/python -m bench.fetch [--sizes 10 100 1000] [--hosts 1 20]

Starts the AWS stand-in (moto server) on a free port, puts n SecureString parameters under one
path, then, as a pyinfra run does for each host, calls the deploy's ``resolve`` once per host, in
one process, with a fresh cache per row. Two source kinds: the path (``ssm_path``: pages of 10)
and the same parameters named one by one (``ssm_parameters``: batches of 10). The calls must not
depend on the number of hosts and must be ``ceil(n/10)`` (a path read: plus one empty last page
when n is a multiple of 10, see ``expected_calls``); the exit status says whether they were.
The time includes the client-side pacing that keeps a run within 40 requests per second.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import boto3

from lab import aws
from lab.ports import free_port
from ssmenv import sources
from ssmenv.config import AppConfig
from tasks.environment import resolve


def seed(endpoint: str, path: str, n: int) -> list[str]:
    ssm = boto3.client("ssm", region_name=aws.REGION, endpoint_url=endpoint)
    names = [f"{path}/P{i:04d}" for i in range(n)]
    for name in names:
        ssm.put_parameter(Name=name, Value=f"FAKE-bench-{name}", Type="SecureString")
    return names


def run(data: dict, hosts: int) -> tuple[int, float]:
    """API calls and seconds for ``hosts`` hosts resolving ``data``, from a cold cache."""
    sources.clear_cache()
    configs = [AppConfig.from_data({**data, "app_port": 3000 + i}) for i in range(hosts)]
    started = time.perf_counter()
    for config in configs:
        resolve(config)
    return sum(sources.api_calls.values()), time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fetch", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--hosts", type=int, nargs="+", default=[1, 20])
    args = parser.parse_args(argv)

    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = aws.start(port, Path(tmp) / "moto.log")
        try:
            os.environ.update(aws.environment(port))
            return _table(args.sizes, args.hosts, os.environ["AWS_ENDPOINT_URL"])
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def expected_calls(kind: str, n: int) -> int:
    """``ceil(n/10)``; a path read ends with one empty page when its last page is full, because
    the server (moto always, AWS at times) still returns a NextToken, which must be followed."""
    return math.ceil(n / 10) + (1 if kind == "ssm_path" and n % 10 == 0 else 0)


def _table(sizes: list[int], host_counts: list[int], endpoint: str) -> int:
    ok = True
    print(f"{'source':<15} {'params':>6} {'hosts':>5} {'calls':>5} {'expected':>8} {'seconds':>8}")
    for n in sizes:
        path = f"/bench/n{n}"
        started = time.perf_counter()
        names = seed(endpoint, path, n)
        print(f"# seeded {n} parameters in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        for kind, data in (
            ("ssm_path", {"ssm_path": path}),
            ("ssm_parameters", {"ssm_parameters": names}),
        ):
            for hosts in host_counts:
                calls, seconds = run(data, hosts)
                expected = expected_calls(kind, n)
                ok = ok and calls == expected
                note = "" if calls == expected else "  <-- differs"
                if kind == "ssm_path" and expected > math.ceil(n / 10):
                    note += "  (last page empty)"
                print(
                    f"{kind:<15} {n:>6} {hosts:>5} {calls:>5} {expected:>8} {seconds:>8.3f}{note}"
                )
    print(
        "calls are the same for every number of hosts and as expected"
        if ok
        else "CALL COUNTS DIFFER FROM THE EXPECTED ONES",
        file=sys.stderr,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
