"""Benchmarks, run by hand (not in CI): ``python -m bench.deploy`` (what a deploy costs on 1 to
50 local test hosts) and ``python -m bench.fetch`` (SSM API calls and fetch time)."""
