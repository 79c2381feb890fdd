"""The bench's figures are kept (bench/results/deploy.json) with the date and commit they measured,
and docs/performance.md's table and plot are made from them, not typed."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from bench import deploy, results
from bench.deploy import Measure

ROOT = Path(__file__).parents[2]
PAGE = ROOT / "docs" / "performance.md"
PLOT = ROOT / "docs" / "img" / "bench-deploy.svg"


def test_the_docs_performance_table_is_generated_from_the_kept_figures():
    table = results.render(results.load().rows)
    stale = "docs/performance.md's table is stale: python -m bench.results"
    assert table in PAGE.read_text(), stale


def test_the_kept_figures_say_when_and_at_which_commit_they_were_measured():
    kept = results.load()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", kept.date)
    assert re.fullmatch(r"[0-9a-f]{7,40}", kept.commit)  # a run of a dirty tree is not kept as is
    page = PAGE.read_text()
    assert f"Latest figures ({kept.date}, commit {kept.commit}," in page
    # The plot is drawn from the same figures: its title names them (svg.fonttype none: as text).
    assert f"measured {kept.date}, commit {kept.commit}" in PLOT.read_text()
    assert "](img/bench-deploy.svg)" in page


def test_the_kept_figures_cover_the_project_plain_pyinfra_and_ansible_by_hosts():
    kept = results.load()
    for n in kept.hosts():
        for scenario in ("first", "noop", "rotation", "peer_first", "peer_noop",
                         "peer_rotation", "ansible_first", "ansible_noop"):  # fmt: skip
            assert kept.median(n, scenario) is not None, (n, scenario)


def _measure(seconds: float, commands: int | None = None, hosts: int = 1) -> Measure:
    sent = None
    if commands is not None:
        sent = {f"{deploy.PREFIX}-{i + 1}": ["cmd"] * commands for i in range(hosts)}
    return Measure(seconds, Counter({"GetParametersByPath": 1}), sent)


def test_a_runs_rows_render_as_the_bench_prints_them_and_survive_the_file(tmp_path):
    timed = {1: {s: [_measure(2.0), _measure(3.0), _measure(7.0)]
                 for s in (*deploy.DEPLOYS, *deploy.PEERS, deploy.SSH_TRUE, deploy.PYINFRA_TRUE)}}
    counted = {1: {s: _measure(1.0, commands=3) for s in timed[1]}}
    table = deploy.table(timed, counted, no_ansible="not asked for (--no-ansible)")
    lines = table.splitlines()
    assert lines[2] == ("| 1 | 3 | first deploy | 3.00 (2.00–7.00) | 1.00× | 3 "
                        "| 1 (GetParametersByPath) |")  # fmt: skip
    assert "| 1 | 0 | peer, Ansible: first deploy | not run: not asked for (--no-ansible) | – " \
           "| – | – |" in lines  # fmt: skip
    kept = results.Results("2026-12-03", "abc1234", 2, 0.5, "python -m bench.deploy",
                           tuple(deploy.rows(timed, counted, "x")))  # fmt: skip
    results.dump(kept, tmp_path / "deploy.json")
    assert results.load(tmp_path / "deploy.json") == kept
    assert results.render(kept.rows) == deploy.table(timed, counted, "x")
