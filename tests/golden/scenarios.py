"""The golden scenarios: runs of ``deploy.py``, ``rotate.py`` and ``drift.py`` one after another on
the same hosts, each starting from what the one before left there (``tests.hostmodel``), with
changes in between (a value, a release, a unit stopped, an activation left unfinished...).

Every value is obviously fake.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from ssmenv.accounts import Account
from ssmenv.facts import HostState
from tests import hostmodel as hosts
from tests.golden.harness import Outcome, Run, run

SECURE, PLAIN = "SecureString", "String"


class Lab:
    """Hosts that keep what each run left on them."""

    def __init__(self, **systemd: int | None) -> None:
        self.systemd = systemd
        self.states: dict[tuple[str, str], HostState] = {}
        self.images: dict[str, frozenset[str]] = {}
        self.outcomes: list[Outcome] = []

    def _apps(self, data: Mapping[str, Any]) -> list[str]:
        if "apps" in data:
            return list(data["apps"])
        return [data.get("app_name", "example-app")]

    def run(
        self,
        script: str,
        data: Mapping[str, Mapping[str, Any]],
        parameters: Mapping[str, tuple[str, int, str]],
        title: str = "",
        healthy: bool = True,
    ) -> Outcome:
        for host, host_data in data.items():
            for app in self._apps(host_data):
                if (host, app) not in self.states:
                    self.states[(host, app)] = hosts.fresh(self.systemd.get(host, 252))
        states = {
            (host, app): self.states[(host, app)]
            for host, host_data in data.items() for app in self._apps(host_data)
        }  # fmt: skip
        outcome = run(Run(script, data, parameters, states, title, dict(self.images)))
        self.outcomes.append(outcome)
        if outcome.error is None:
            self._apply(outcome, states, healthy)
        return outcome

    def _apply(self, outcome: Outcome, states: dict, healthy: bool) -> None:
        for (host, app), state in states.items():
            pull = outcome.provisions.get((host, app)) and outcome.provisions[(host, app)].pull
            if pull:
                self.images[host] = self.images.get(host, frozenset()) | {pull.image}
            state = hosts.provisioned(state, outcome.provisions.get((host, app)),
                                      outcome.packages.get(host, ()))  # fmt: skip
            state = hosts.activated(state, outcome.activations.get((host, app)),
                                    f"/etc/{app}.env", healthy)  # fmt: skip
            write = outcome.manifests.get((host, app))
            state = hosts.manifest_installed(state, write, state.account.name
                                             if state.account else app)  # fmt: skip
            self.states[(host, app)] = state
        for host in {h for h, _ in states}:
            wide = hosts.host_wide(self.states, host)
            for key in [k for k in self.states if k[0] == host]:
                self.states[key] = replace(self.states[key], **wide)

    def change(self, host: str, app: str, **changes: Any) -> None:
        """Something changed on the host beside the toolkit."""
        self.states[(host, app)] = replace(self.states[(host, app)], **changes)

    def stopped(self, host: str, app: str, unit: str) -> None:
        state = self.states[(host, app)]
        services = {**state.services, unit: {"Id": unit, "ActiveState": "inactive",
                                             "UnitFileState": "enabled"}}  # fmt: skip
        self.change(host, app, services=services)


# --- the apps -----------------------------------------------------------------------------------

EXAMPLE = {
    "app_name": "example-app",
    "app_source": "examples/app",
    "app_runtime": "node",
    "app_version": "v1",
    "env_required": ["DATABASE_URL", "API_KEY", "SESSION_SECRET"],
    "ssm_path": "/example-app/staging",
    "env": {"NODE_ENV": "production", "LOG_LEVEL": "debug"},
    "credentials": ["SESSION_SECRET"],
}
EXAMPLE_PARAMETERS = {
    "/example-app/staging/DATABASE_URL": ("postgres://app:FAKE-db-1@db.internal/app", 1, SECURE),
    "/example-app/staging/API_KEY": ("FAKE-api-key-1", 1, SECURE),
    "/example-app/staging/SESSION_SECRET": ("FAKE-session-secret-1", 1, SECURE),
    "/example-app/staging/FEATURE_FLAGS": ("beta,search", 3, PLAIN),
}
PYTHON = {
    "app_name": "example-py",
    "app_source": "examples/python-app",
    "app_runtime": "python",
    "app_port": 3001,
    "ssm_path": "/example-py/staging",
    "env_required": ["DATABASE_URL"],
}
PYTHON_PARAMETERS = {
    "/example-py/staging/DATABASE_URL": ("postgres://py:FAKE-py-1@db.internal/py", 4, SECURE),
    "/example-py/staging/GREETING": ("hello, \"world\" $HOME 100%", 1, PLAIN),
}
DIGEST = "sha256:" + "5e" * 32
NEW_DIGEST = "sha256:" + "a7" * 32
CONTAINER = {
    "app_name": "shop",
    "app_runtime": "container",
    "app_image": f"registry.example.com/shop@{DIGEST}",
    "container_registry_username": "ci",
    "container_registry_password": "REGISTRY_PASSWORD",
    "ssm_path": "/shop/prod",
    "credentials": ["DB_PASSWORD"],
    "app_port": 8080,
}
CONTAINER_PARAMETERS = {
    "/shop/prod/DB_PASSWORD": ("FAKE-shop-db-1", 1, SECURE),
    "/shop/prod/API_KEY": ("FAKE-shop-key-1", 2, SECURE),
    "/shop/prod/REGISTRY_PASSWORD": ("FAKE-registry-pw", 1, SECURE),
}


def bump(parameters: Mapping, name: str, value: str) -> dict:
    """``parameters`` with ``name`` put again: its new value, one version up."""
    old = parameters.get(name, ("", 0, SECURE))
    return {**parameters, name: (value, old[1] + 1, old[2])}


# --- the scenarios ------------------------------------------------------------------------------


def example_app() -> list[Outcome]:
    lab = Lab()
    one = {"web-1": EXAMPLE}
    p = EXAMPLE_PARAMETERS
    lab.run("deploy.py", one, p, "first deploy")
    lab.run("deploy.py", one, p, "redeploy, nothing new")
    p = bump(p, "/example-app/staging/DATABASE_URL", "postgres://app:FAKE-db-2@db.internal/app")
    lab.run("deploy.py", one, p, "a changed value")
    p = bump(p, "/example-app/staging/SESSION_SECRET", "FAKE-session-secret-2")
    lab.run("rotate.py", one, p, "a rotated credential")
    lab.run("rotate.py", one, p, "a rotation, nothing new")
    lab.run("deploy.py", {"web-1": {**EXAMPLE, "app_version": "v2"}}, p, "a new release")
    lab.stopped("web-1", "example-app", "example-app-worker.service")
    lab.run("deploy.py", {"web-1": {**EXAMPLE, "app_version": "v2"}}, p, "a unit down")
    p = bump(p, "/example-app/staging/API_KEY", "FAKE-api-key-2")
    lab.run("drift.py", one, p, "drift: a value changed in SSM")
    lab.run("deploy.py", {"web-1": {**EXAMPLE, "env_keep_previous": False}}, p,
            "back to v1, no copy of the old values kept")
    return lab.outcomes


def python_twin() -> list[Outcome]:
    lab = Lab()
    one = {"web-1": PYTHON}
    p = PYTHON_PARAMETERS
    lab.run("deploy.py", one, p, "first deploy (release named by its content)")
    lab.run("deploy.py", {"web-1": {**PYTHON, "health_timeout": 45, "health_path": "/up"}}, p,
            "how the unit is checked changed")
    lab.run("deploy.py", {"web-1": {**PYTHON, "health_timeout": 45, "health_path": "/up"}}, p,
            "redeploy, nothing new")
    state = lab.states[("web-1", "example-py")]
    lab.change("web-1", "example-py", unit_files={
        name: replace(info, sha256="0" * 64) for name, info in state.unit_files.items()})
    lab.run("deploy.py", one, p, "a unit file edited on the host, the checks back")
    lab.change("web-1", "example-py", manifest=(lab.states[("web-1", "example-py")].manifest or "")
               .split('"units"')[0].rstrip().rstrip(",") + "\n}",
               manifest_file=replace(lab.states[("web-1", "example-py")].manifest_file,
                                     sha256="1" * 64))  # fmt: skip
    lab.run("rotate.py", one, p, "a manifest that predates the checks, in a rotation")
    lab.run("drift.py", one, p, "drift: nothing differs")
    return lab.outcomes


def several_apps() -> list[Outcome]:
    lab = Lab()
    apps = {**EXAMPLE, "apps": {"example-app": {}, "example-py": {
        k: v for k, v in PYTHON.items() if k != "app_name"} | {"credentials": []}}}
    two = {"web-1": apps, "web-2": apps}
    p = {**EXAMPLE_PARAMETERS, **PYTHON_PARAMETERS}
    lab.run("deploy.py", two, p, "first deploy of two apps on two hosts")
    p = bump(p, "/example-py/staging/GREETING", "hello again")
    lab.run("deploy.py", two, p, "a value of one app changed")
    p = bump(p, "/example-app/staging/API_KEY", "FAKE-api-key-2")
    lab.run("rotate.py", two, p, "a rotation of the other app")
    narrowed = {name: {**data, "app": "example-py"} for name, data in two.items()}
    p = bump(p, "/example-py/staging/DATABASE_URL", "postgres://py:FAKE-py-2@db.internal/py")
    lab.run("deploy.py", narrowed, p, "one app of two, by --data app=")
    return lab.outcomes


def processes() -> list[Outcome]:
    lab = Lab()
    p = EXAMPLE_PARAMETERS

    def placed(placement: Any) -> dict:
        return {"web-1": {**EXAMPLE, "app_processes": placement}}

    lab.run("deploy.py", placed({"web": 1, "worker": 2}), p, "web once, worker twice")
    lab.run("deploy.py", placed({"web": 1, "worker": 3}), p, "worker scaled up")
    lab.run("deploy.py", placed({"web": 1, "worker": 3}), p, "redeploy, nothing new")
    lab.run("rotate.py", placed({"web": 1, "worker": 3}),
            bump(p, "/example-app/staging/API_KEY", "FAKE-api-key-2"), "a rotation restarts all")
    p = bump(p, "/example-app/staging/API_KEY", "FAKE-api-key-2")
    lab.run("deploy.py", placed({"web": 1, "worker": 1}), p, "worker scaled down")
    lab.run("deploy.py", placed(["web"]), p, "worker removed")
    lab.run("deploy.py", placed(None), p, "worker added back, once")
    lab.run("deploy.py", placed({"web": {"port": 3100, "health_path": "/up"}, "worker": 1}), p,
            "web on a port of its own")
    return lab.outcomes


def credentials() -> list[Outcome]:
    lab = Lab()
    p = EXAMPLE_PARAMETERS

    def creds(names: Any) -> dict:
        return {"web-1": {**EXAMPLE, "credentials": names}}

    lab.run("deploy.py", creds([]), p, "every value in the env file")
    lab.run("deploy.py", creds(["SESSION_SECRET", "API_KEY"]), p, "two move to credentials")
    lab.run("deploy.py", creds(["API_KEY"]), p, "one moves back to the env file")
    lab.run("rotate.py", creds("secure"), p, "a rotation makes every SecureString a credential")
    lab.run("deploy.py", creds("secure"), p, "redeploy, nothing new")
    old = Lab(**{"old-1": 249})
    old.run("deploy.py", {"old-1": EXAMPLE}, p, "systemd 249: plain credentials")
    old.change("old-1", "example-app", systemd=252, packages={"systemd": "installed"})
    old.run("deploy.py", {"old-1": EXAMPLE}, p, "the host upgraded to 252: they move")
    ancient = Lab(**{"ancient-1": 246})
    ancient.run("deploy.py", {"ancient-1": EXAMPLE}, p, "systemd 246: none at all")
    return lab.outcomes + old.outcomes + ancient.outcomes


def container() -> list[Outcome]:
    lab = Lab()
    one = {"box-1": CONTAINER}
    p = CONTAINER_PARAMETERS
    lab.run("deploy.py", one, p, "first deploy: no engine, no image")
    lab.run("deploy.py", one, p, "redeploy, nothing new")
    new = {"box-1": {**CONTAINER, "app_image": f"registry.example.com/shop@{NEW_DIGEST}"}}
    lab.run("deploy.py", new, p, "a new image")
    p = {**p, "/shop/prod/LOG_LEVEL": ("debug", 1, PLAIN)}
    lab.run("rotate.py", new, p, "a new variable: the unit names it")
    lab.run("deploy.py", {"box-1": {**new["box-1"], "container_engine": "docker",
                                    "container_user": "image"}}, p, "docker, as the image's user")
    return lab.outcomes


def unfinished() -> list[Outcome]:
    lab = Lab()
    one = {"web-1": EXAMPLE}
    p = EXAMPLE_PARAMETERS
    lab.run("deploy.py", one, p, "first deploy, never seen healthy", healthy=False)
    lab.run("deploy.py", one, p, "redeploy: finish it")
    two = {"web-1": {**EXAMPLE, "app_version": "v2"}}
    p = bump(p, "/example-app/staging/API_KEY", "FAKE-api-key-2")
    lab.run("deploy.py", two, p, "a release and a value, never seen healthy", healthy=False)
    lab.run("rotate.py", two, p, "a rotation with nothing new: finish it")
    lab.run("deploy.py", two, bump(p, "/example-app/staging/API_KEY", "FAKE-api-key-3"),
            "a value changed again, never seen healthy", healthy=False)
    lab.run("deploy.py", one, bump(p, "/example-app/staging/API_KEY", "FAKE-api-key-3"),
            "back to v1 over the unfinished one")
    return lab.outcomes


def refusals() -> list[Outcome]:
    lab = Lab()
    one = {"web-1": EXAMPLE}
    lab.states[("web-1", "example-app")] = replace(
        hosts.fresh(), dirs={"/opt/example-app": "root root 777 symbolic link"})
    lab.run("deploy.py", one, EXAMPLE_PARAMETERS, "/opt/example-app is a link")
    other = Lab()
    other.states[("web-1", "example-app")] = replace(hosts.fresh(), account=Account(
        "example-app", 1001, 1001, "", "/home/example-app", "/bin/bash",
        ("example-app", "sudo")), user="example-app:1001:/home/example-app:/bin/bash",
        group="example-app:1001")  # fmt: skip
    other.run("deploy.py", one, EXAMPLE_PARAMETERS, "app_user is a sudoer")
    return lab.outcomes + other.outcomes


SCENARIOS: Mapping[str, Callable[[], list[Outcome]]] = {
    f.__name__: f
    for f in (example_app, python_twin, several_apps, processes, credentials, container,
              unfinished, refusals)
}
