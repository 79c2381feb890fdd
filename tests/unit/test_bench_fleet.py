"""The fleet bench's pure parts: the summary of what it measured, the part of a fleet rollout when
no host synced, and the scale estimates docs/fleet.md shows (bench.scale)."""

from __future__ import annotations

import json
from pathlib import Path

from bench import scale
from bench.fleet import (
    FLEET,
    PUSH,
    RESULTS,
    TIMER,
    Rotation,
    Row,
    idle,
    kept_rows,
    problems,
    summary,
    table,
)

ROOT = Path(__file__).parents[2]

HOSTS = ("bf-1", "bf-2", "bf-3")


def rotation(how: str, **changes) -> Rotation:
    found = Rotation(
        how=how, seconds=12.34, reached={"bf-1": 2.0, "bf-2": 5.0, "bf-3": 9.0},
        exact=dict.fromkeys(HOSTS, True), restarts=dict.fromkeys(HOSTS, 1),
        control={"GetParametersByPath": 1}, hosts={h: {} for h in HOSTS},
        syncs=dict.fromkeys(HOSTS, 0), load=(1.25, 2.5),
    )  # fmt: skip
    for key, value in changes.items():
        setattr(found, key, value)
    return found


def test_a_push_rotation_is_summed_up_with_its_one_fetch_a_run():
    assert summary(rotation(PUSH)) == Row(
        how="push: pyinfra deploy.py (canary, then 50%)", hosts=3, seconds=12.3,
        reached="5.0 (2.0–9.0) (3 of 3)", gets=1, per_sync="1 a run (0.33 a host)", other="–",
        syncs=0, restarts="1", exact=3, load="1.2 → 2.5",
    )  # fmt: skip


def test_a_pulled_rotation_counts_each_hosts_calls_per_sync_and_run_commands_apart():
    found = rotation(
        FLEET, control={"SendCommand": 2, "ListCommandInvocations": 5, "GetDocument": 1},
        hosts={"bf-1": {"GetParametersByPath": 1}, "bf-2": {"GetParametersByPath": 2},
               "bf-3": {"GetParametersByPath": 1, "GetParameters": 1}},
        syncs={"bf-1": 1, "bf-2": 2, "bf-3": 1}, restarts={"bf-1": 1, "bf-2": 1, "bf-3": 2},
        reached={"bf-1": 2.0, "bf-2": None, "bf-3": 4.0},
    )  # fmt: skip
    assert summary(found) == Row(
        how="pull: fleet rollout through Run Command (canary, then 50%)", hosts=3,
        seconds=12.3, reached="3.0 (2.0–4.0) (2 of 3)", gets=5, per_sync="1.00 (1.00–2.00)",
        other="GetDocument 1, ListCommandInvocations 5, SendCommand 2", syncs=4,
        restarts="1–2", exact=3, load="1.2 → 2.5",
    )  # fmt: skip
    assert problems([found]) == ["fleet: 1 hosts never served the value: bf-2",
                                 "fleet: restarted other than once: bf-3 (2)"]


def test_a_rotation_where_every_host_served_exactly_once_restarted_is_no_problem():
    timer = rotation(TIMER, notes=["something said"])
    wrong = rotation(PUSH, exact={"bf-1": True, "bf-2": False, "bf-3": True},
                     notes=["unexpected: it changed"])  # fmt: skip
    assert problems([timer]) == []
    assert problems([wrong]) == ["push: 1 hosts' app has not the exact value: bf-2",
                                 "push: unexpected: it changed"]


def test_the_idle_part_of_a_rollout_is_its_time_less_the_union_of_the_syncs():
    assert idle(20.0, [(1.0, 5.0), (8.0, 12.0), (9.0, 14.0), (10.0, 11.0)]) == 10.0
    assert idle(7.0, []) == 7.0


MEASURED = scale.Measured(sync=4.0, calls=2.0, per_command=3.0)


def test_a_fleet_rollout_is_a_canary_then_50_ids_a_command_one_after_the_other():
    # 500: the canary, then 10 commands (the last of 49); one round each at 50 at once; a round
    # is the sync plus the start's spread: 3 s of jitter, more than 50 x 2 calls at 40 a second.
    assert scale.fleet_rollout(500, MEASURED, jitter=3.0) == scale.Estimate(
        instances=500, commands=11, rounds=11, seconds=11 * (4.0 + 3.0 + 3.0), throttled=0.0,
        floor=25.0, binds="the sequence of commands", peak_tps=33.3,
    )  # fmt: skip


def test_rounds_of_more_calls_than_parameter_stores_throughput_wait_for_it():
    # 201 at 50% and no jitter: the canary, then 4 commands of 2 rounds of 25 hosts, whose 50
    # calls take 1.25 s at 40 a second: 10 s of 41 waiting, Parameter Store binds.
    assert scale.fleet_rollout(201, MEASURED, batch="50%") == scale.Estimate(
        instances=201, commands=5, rounds=9, seconds=4.0 + 8 * 5.25 + 5 * 3.0, throttled=10.1,
        floor=10.1, binds="Parameter Store", peak_tps=40.0,
    )  # fmt: skip
    # The same spread over 2 s of pull_start_jitter: 25 a second, no waiting.
    spread = scale.fleet_rollout(201, MEASURED, batch="50%", jitter=2.0)
    assert (spread.seconds, spread.throttled, spread.binds, spread.peak_tps) == (
        9 * 6.0 + 5 * 3.0, 0.0, "the sequence of commands", 25.0)


def test_the_timer_alone_reaches_every_host_within_a_period_its_jitter_and_a_sync():
    assert scale.timer(5000, MEASURED, period=3600, jitter=600) == scale.Timer(
        instances=5000, seconds=4204.0, tps=2.6, share=0.064,
    )  # fmt: skip


def test_the_estimates_are_said_one_line_each():
    assert scale.lines(MEASURED, (500,)) == [
        "from: a rotation's sync 4.0 s a host, Parameter Store calls a host a sync 2, 3.0 s a "
        "command beyond its syncs; 50 ids a command, 40 Get calls a second",
        "500 instances, fleet rollout (canary 1, rollout_batch 50, pull_start_jitter 3s): "
        "11 commands, 11 rounds, 1 min 50 s (0 s of it waiting for Parameter Store); binds: the "
        "sequence of commands; peak 33.3 calls a second; Parameter Store's floor, at any pace: "
        "25 s",
        "500 instances, the timer alone (pull_period 1 h, pull_jitter 10 min): every host "
        "within 1 h 10 min; 0.3 calls a second at rest (0.6% of 40)",
    ]


def test_the_docs_show_the_kept_fleet_figures_and_the_estimates_made_from_them():
    kept = json.loads(RESULTS.read_text())
    performance = (ROOT / "docs" / "performance.md").read_text()
    assert table(kept_rows()) in performance, "python -m bench.fleet's table, from fleet.json"
    assert f"({kept['date']}, commit {kept['commit']}," in performance
    fleet = (ROOT / "docs" / "fleet.md").read_text()
    for line in scale.lines(scale.kept(RESULTS)):
        assert f"- {line}" in fleet, "python -m bench.scale's lines, from fleet.json"
