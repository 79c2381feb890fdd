"""The order hosts activate in: inventory order, a batch at a time, stopping at a failure."""

from dataclasses import dataclass, field

import gevent

from ssmenv.rollout import Rollout


@dataclass(eq=False)
class FakeHost:
    name: str


@dataclass
class FakeState:
    """The parts of pyinfra's State the rollout reads: inventory order, ops, failed hosts."""

    inventory: list
    ops: dict = field(default_factory=dict)
    failed_hosts: set = field(default_factory=set)


def state_with(*names: str, without: tuple[str, ...] = ()) -> FakeState:
    hosts = [FakeHost(n) for n in names]
    return FakeState(hosts, {h: ({} if h.name in without else {"op": object()}) for h in hosts})


def test_participants_follow_the_inventory_and_skip_hosts_without_the_operation():
    state = state_with("a", "b", "c", without=("b",))
    assert [h.name for h in Rollout.participants(state, "op")] == ["a", "c"]


def test_first_batch_goes_at_once_later_ones_wait_for_it():
    state = state_with("a", "b", "c", "d")
    a, b, c, d = state.inventory
    rollout = Rollout(batch=2)
    assert rollout.wait_turn(state, a, "op") is None
    assert rollout.wait_turn(state, b, "op") is None
    waiting = gevent.spawn(rollout.wait_turn, state, c, "op")
    gevent.sleep(0.2)
    assert not waiting.ready(), "c went before its batch's turn"
    rollout.finish(a, None)
    gevent.sleep(0.2)
    assert not waiting.ready(), "c went before all of the first batch finished"
    rollout.finish(b, None)
    assert waiting.get(timeout=2) is None
    assert rollout.wait_turn(state, d, "op") is None


def test_a_failure_stops_every_later_host():
    state = state_with("a", "b", "c")
    a, b, c = state.inventory
    rollout = Rollout(batch=1)
    rollout.finish(a, "unhealthy")
    assert rollout.wait_turn(state, b, "op") == "a"
    assert rollout.wait_turn(state, c, "op") == "a"


def test_a_host_failed_by_pyinfra_before_its_turn_stops_the_rest_too():
    state = state_with("a", "b")
    a, b = state.inventory
    state.failed_hosts.add(a)
    assert Rollout(batch=1).wait_turn(state, b, "op") == "a"


def test_scrub_masks_every_secret_and_each_line_of_a_multiline_one():
    from ssmenv.rollout import scrub

    said = "DATABASE_URL is FAKE-db-pass\nkey line two: FAKE-pem-2\nPORT 3000"
    masked = scrub(said, ["FAKE-db-pass", "FAKE-pem-1\nFAKE-pem-2", "ab"])
    assert "FAKE" not in masked
    assert masked.splitlines()[0] == "DATABASE_URL is ***"
