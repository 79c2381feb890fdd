"""The rolling order of activations: inventory order, a canary first, then batches (a number of
hosts or a percentage), stopping at the first failure, for any number of hosts and any
``--parallel``.

pyinfra runs an operation on at most ``--parallel`` hosts at once and hands hosts to its pool in
no particular order, so a host cannot simply wait for its turn in its own greenlet: the pool may
be full of later hosts waiting for an earlier one it never started. Instead one driver greenlet
per operation activates the hosts itself, each over its own connection, in order, and each host's
greenlet only waits for its outcome. A host is activated once it is *ready*: every operation
before the activation has run on it. In pyinfra's default mode (each operation on every host
before the next) that is every host as soon as the first one arrives, so the order is exactly the
inventory's. With ``--serial`` or ``--no-wait`` hosts become ready one by one in pyinfra's order,
and the rollout follows it, still at its pace and stopping at the first failure.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent
from gevent.event import AsyncResult, Event
from pyinfra import logger

from ssmenv.pace import Pace


@dataclass(frozen=True)
class Outcome:
    ok: bool
    summary: str  # a line: "healthy", or why not


#: Activates one host and says how it went: ``activate(host, plan)``.
Activator = Callable[[Any, Any], Outcome]


class Rollout:
    """The activations of one operation in one run (pyinfra state)."""

    _of: weakref.WeakKeyDictionary[Any, dict[str, Rollout]] = weakref.WeakKeyDictionary()
    _enlisted: weakref.WeakKeyDictionary[Any, dict[tuple[str, str], Any]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, state, op_hash: str, pace: Pace, key: str, activate: Activator) -> None:
        self.state = state
        self.op_hash = op_hash
        self.pace = pace
        self.key = key
        self.activate = activate
        self.outcomes: dict[Any, AsyncResult] = {}
        self.arrived: dict[Any, Any] = {}  # host -> plan, as each host's greenlet arrives
        self.wake = Event()
        self.driver: gevent.Greenlet | None = None

    @classmethod
    def enlist(cls, state, host, key: str, plan: Any) -> None:
        """Before the run: ``host``'s plan for the activation named ``key`` (the app), so the
        driver can activate it before pyinfra's pool gets round to the host's own greenlet. By
        name: in deploy code ``host`` is pyinfra's context proxy, not the inventory's object."""
        cls._enlisted.setdefault(state, {})[(host.name, key)] = plan

    @classmethod
    def of(cls, state, op_hash: str, pace: Pace, key: str, activate: Activator) -> Rollout:
        rollouts = cls._of.setdefault(state, {})
        if op_hash not in rollouts:
            rollouts[op_hash] = cls(state, op_hash, pace, key, activate)
        return rollouts[op_hash]

    def participants(self) -> list:
        """The hosts, in inventory order, that have this operation."""
        return [h for h in self.state.inventory if self.op_hash in self.state.ops.get(h, {})]

    def take_turn(self, host, plan: Any) -> Outcome:
        """In ``host``'s greenlet: wait until the rollout has activated it (or stopped before
        it) and return how that went."""
        self.arrived[host] = plan
        self.outcomes.setdefault(host, AsyncResult())
        if self.driver is None:
            self.driver = gevent.spawn(self._drive)
        self.wake.set()
        return self.outcomes[host].get()

    def _plan(self, host) -> Any:
        if host in self.arrived:
            return self.arrived[host]
        return self._enlisted.get(self.state, {}).get((host.name, self.key))

    def _ready(self, host) -> bool:
        if host not in self.state.active_hosts or self._plan(host) is None:
            return False
        if host in self.arrived:
            return True
        order = host.op_hash_order
        for op_hash in order[: order.index(self.op_hash)]:
            data = self.state.ops.get(host, {}).get(op_hash)
            if data is not None and not data.operation_meta.is_complete():
                return False
        return True

    def _failed_before(self, host) -> bool:
        """Failed in an earlier operation (hosts still pending have not been activated)."""
        return host in self.state.failed_hosts

    def _settle(self, host, outcome: Outcome) -> None:
        self.outcomes.setdefault(host, AsyncResult()).set(outcome)

    def _drive(self) -> None:
        pending = self.participants()
        total = len(pending)
        try:
            while pending:
                head = pending[0]
                if self._failed_before(head):
                    # Failed in an earlier operation: it counts as failed where it stands.
                    self._stop(pending[1:], head.name)
                    return
                size = self.pace.wave(total - len(pending), total)
                batch = []
                for host in pending:
                    if len(batch) == size or self._failed_before(host):
                        break
                    if self._ready(host):
                        batch.append(host)
                if not batch:
                    # --serial or --no-wait: the next host is not there yet.
                    self.wake.clear()
                    self.wake.wait()
                    continue
                runs = {host: gevent.spawn(self.activate, host, self._plan(host)) for host in batch}
                gevent.joinall(list(runs.values()))
                failed = None
                for host, run in runs.items():
                    outcome = run.value if run.successful() else Outcome(
                        False, f"the activation failed: {type(run.exception).__name__}"
                    )
                    self._settle(host, outcome)
                    pending.remove(host)
                    if not outcome.ok and failed is None:
                        failed = host.name
                if failed is not None:
                    self._stop(pending, failed)
                    return
        finally:
            # Whatever happened, no host waits forever.
            for host in pending:
                result = self.outcomes.setdefault(host, AsyncResult())
                if not result.ready():
                    result.set(Outcome(False, "not activated: the rollout ended before it"))

    def _stop(self, hosts: list, failed: str) -> None:
        for host in hosts:
            summary = f"not activated: the rollout stopped after {failed} failed"
            if host not in self.state.failed_hosts:
                host.log_styled(summary, fg="red", log_func=logger.error)
            self._settle(host, Outcome(False, summary))
        hosts.clear()
