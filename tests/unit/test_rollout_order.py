"""The order hosts activate in: inventory order, a batch at a time, stopping at a failure, for any
number of hosts and any size of pyinfra's pool."""

from __future__ import annotations

from dataclasses import dataclass, field

import gevent
import pytest
from gevent.pool import Pool

from ssmenv.rollout import Outcome, Pace, Rollout


@dataclass
class Meta:
    complete: bool = True

    def is_complete(self) -> bool:
        return self.complete


@dataclass
class OpData:
    operation_meta: Meta = field(default_factory=Meta)


@dataclass(eq=False)
class FakeHost:
    name: str
    op_hash_order: list = field(default_factory=lambda: ["before", "op"])
    said: list = field(default_factory=list)

    def log_styled(self, message, **_):
        self.said.append(message)


class FakeState:
    """The parts of pyinfra's State the rollout reads: the inventory in order, each host's
    operations, and which hosts are active or failed."""

    def __init__(self, *names: str, without: tuple[str, ...] = ()) -> None:
        self.inventory = [FakeHost(n) for n in names]
        self.ops = {
            h: ({} if h.name in without else {"before": OpData(), "op": OpData()})
            for h in self.inventory
        }
        self.active_hosts = set(self.inventory)
        self.failed_hosts: set = set()

    def host(self, name: str) -> FakeHost:
        return next(h for h in self.inventory if h.name == name)


class Recorder:
    """Activates hosts for the rollout: records when each starts and ends, fails those asked."""

    def __init__(self, failing: tuple[str, ...] = ()) -> None:
        self.events: list[tuple[str, str]] = []
        self.failing = failing

    def __call__(self, host, plan) -> Outcome:
        self.events.append(("start", host.name))
        gevent.sleep(0)  # lets other greenlets run while "the host restarts"
        self.events.append(("end", host.name))
        return Outcome(host.name not in self.failing, f"{host.name}: {plan}")

    def starts(self) -> list[str]:
        return [name for kind, name in self.events if kind == "start"]


def run(state: FakeState, order: list[str], pool_size: int, batch: int | Pace,
        recorder: Recorder, enlist: bool = True) -> dict[str, Outcome]:  # fmt: skip
    """Every host's greenlet through a pool of ``pool_size``, spawned in ``order``, as pyinfra
    spawns them for one operation."""
    if enlist:
        for h in state.inventory:
            Rollout.enlist(state, h, "app", f"plan-{h.name}")
    pace = batch if isinstance(batch, Pace) else Pace(canary=0, batch=batch)
    rollout = Rollout(state, "op", pace, "app", recorder)
    pool = Pool(pool_size)
    greenlets = {
        name: pool.spawn(rollout.take_turn, state.host(name), f"plan-{name}") for name in order
    }
    gevent.joinall(list(greenlets.values()), timeout=10, raise_error=True)
    assert all(g.ready() for g in greenlets.values()), "the rollout deadlocked"
    return {name: g.value for name, g in greenlets.items()}


@pytest.mark.parametrize("pool_size", [1, 2, 6])
def test_hosts_activate_in_inventory_order_even_when_the_pool_starts_later_hosts_first(pool_size):
    names = [f"h{i}" for i in range(1, 7)]
    state = FakeState(*names)
    recorder = Recorder()

    outcomes = run(state, list(reversed(names)), pool_size, 1, recorder)

    assert recorder.starts() == names
    # One at a time: each host ends before the next starts.
    assert recorder.events == [(kind, n) for n in names for kind in ("start", "end")]
    assert all(o.ok for o in outcomes.values())
    assert outcomes["h3"].summary == "h3: plan-h3"


def test_a_batch_goes_together_and_the_next_waits_for_all_of_it():
    names = ["a", "b", "c", "d", "e"]
    state = FakeState(*names)
    recorder = Recorder()

    run(state, ["e", "d", "c", "b", "a"], 2, 2, recorder)

    assert recorder.events[:4] == [("start", "a"), ("start", "b"), ("end", "a"), ("end", "b")]
    assert recorder.starts() == names


def test_a_failure_stops_every_later_host_and_none_of_them_changes():
    state = FakeState("a", "b", "c", "d")
    recorder = Recorder(failing=("b",))

    outcomes = run(state, ["d", "c", "b", "a"], 2, 1, recorder)

    assert recorder.starts() == ["a", "b"]
    assert [outcomes[n].ok for n in "abcd"] == [True, False, False, False]
    assert outcomes["c"].summary == "not activated: the rollout stopped after b failed"
    assert state.host("d").said == ["not activated: the rollout stopped after b failed"]


def test_a_host_failed_by_pyinfra_before_its_turn_stops_the_hosts_after_it():
    state = FakeState("a", "b", "c")
    b = state.host("b")
    state.failed_hosts.add(b)
    state.active_hosts.discard(b)
    recorder = Recorder()

    outcomes = run(state, ["c", "a"], 2, 1, recorder)

    assert recorder.starts() == ["a"]
    assert outcomes["c"].summary == "not activated: the rollout stopped after b failed"


def test_hosts_without_the_operation_take_no_turn():
    state = FakeState("a", "b", "c", without=("b",))
    recorder = Recorder()

    run(state, ["c", "a"], 1, 1, recorder)

    assert recorder.starts() == ["a", "c"]


def test_hosts_that_arrive_one_by_one_go_in_the_order_they_arrive():
    """--serial: pyinfra runs every operation of one host before the next host's first, so only
    the host that arrived is ready; the rollout must not wait for one that cannot come."""
    state = FakeState("a", "b", "c")
    for h in state.inventory:
        state.ops[h]["before"].operation_meta.complete = False
    recorder = Recorder()
    rollout = Rollout(state, "op", Pace(canary=0, batch=1), "app", recorder)

    for name in ("c", "a", "b"):
        host = state.host(name)
        state.ops[host]["before"].operation_meta.complete = True
        assert gevent.spawn(rollout.take_turn, host, name).get(timeout=5).ok

    assert recorder.starts() == ["c", "a", "b"]


def test_without_enlisted_plans_a_host_goes_when_it_arrives_and_nothing_deadlocks():
    names = ["a", "b", "c", "d"]
    state = FakeState(*names)
    recorder = Recorder()

    outcomes = run(state, ["d", "c", "b", "a"], 2, 1, recorder, enlist=False)

    assert sorted(recorder.starts()) == names
    assert all(o.ok for o in outcomes.values())


def waves(recorder: Recorder) -> list[list[str]]:
    """The hosts that were activating together, wave by wave."""
    found, running, wave = [], set(), []
    for kind, name in recorder.events:
        if kind == "start":
            if not running and wave:
                found.append(wave)
                wave = []
            running.add(name)
            wave.append(name)
        else:
            running.discard(name)
    return [*found, wave] if wave else found


def test_a_canary_goes_alone_then_the_rest_in_batches_of_a_percentage_of_the_hosts():
    names = [f"h{i}" for i in range(1, 11)]
    state = FakeState(*names)
    recorder = Recorder()

    run(state, list(reversed(names)), 10, Pace(canary=1, percent=25), recorder)

    # 25% of 10 hosts, rounded up: 3 at a time after the canary.
    assert waves(recorder) == [["h1"], ["h2", "h3", "h4"], ["h5", "h6", "h7"], ["h8", "h9", "h10"]]


def test_a_failing_canary_stops_the_rollout_before_any_batch():
    state = FakeState("a", "b", "c", "d")
    recorder = Recorder(failing=("a",))

    outcomes = run(state, ["d", "c", "b", "a"], 4, Pace(canary=1, percent=50), recorder)

    assert recorder.starts() == ["a"]
    assert [outcomes[n].ok for n in "abcd"] == [False, False, False, False]


def test_a_failure_in_a_batch_stops_the_batches_after_it():
    names = [f"h{i}" for i in range(1, 8)]
    state = FakeState(*names)
    recorder = Recorder(failing=("h3",))

    outcomes = run(state, names, 7, Pace(canary=1, batch=3), recorder)

    assert waves(recorder) == [["h1"], ["h2", "h3", "h4"]]
    assert [outcomes[n].ok for n in names] == [True, True, False, True, False, False, False]


@pytest.mark.parametrize(("pace", "total", "sizes"), [
    (Pace(), 50, [1, 25, 24]),  # the defaults: a canary, then half the fleet at a time
    (Pace(), 2, [1, 1]),
    (Pace(), 1, [1]),
    (Pace(canary=1, percent=25), 50, [1, 13, 13, 13, 10]),
    (Pace(canary=0, batch=1), 3, [1, 1, 1]),
    (Pace(canary=2, batch=5), 9, [2, 5, 2]),
    (Pace(canary=0, percent=100), 50, [50]),
])  # fmt: skip
def test_waves_by_number_and_by_percentage(pace, total, sizes):
    assert pace.waves(total) == sizes
