"""What a host should switch to, decided by the plan alone (``ssmenv.plan.app``): state in, plan
out, compared by equality. What restarts and what does not (a value, a unit, a credential, a
release, a process added or removed, a scale change, a move between the env file and a
credential, an unfinished activation), what is stopped, what only the manifest records; and a
plan applied to the state it was made from (``tests.hostmodel``) gives a state whose plan is
nothing.

Each is proven on real hosts too (tests/e2e): these say the same decision without one.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ssmenv.config import REPO_ROOT, AppConfig
from ssmenv.errors import ConfigError, HostError
from ssmenv.hoststate import FileInfo
from ssmenv.plan.app import AppPlan, Supply, deploy, rotate
from ssmenv.plan.notes import Note
from ssmenv.sources.base import Variable
from tests.hostmodel import Host, fresh

APP = "shop"
BASE = {"app_name": APP, "app_source": "examples/app", "app_version": "v1",
        "ssm_path": "/shop/prod", "credentials": ["DB_PASSWORD"]}  # fmt: skip
VALUES = {"DB_PASSWORD": "FAKE-db-1", "API_KEY": "FAKE-key-1", "LOG_LEVEL": "info"}
KEY = "ab" * 32
SUPPLY = Supply(archive=lambda: Path("/nonexistent/shop.tar.gz"), new_key=lambda: KEY)
WEB, WORKER, TARGET = f"{APP}-web.service", f"{APP}-worker.service", f"{APP}.target"
UNITS = "/etc/systemd/system"
ENV, MANIFEST = f"/etc/{APP}.env", f"/etc/{APP}.env.manifest"
STORE = f"/etc/credstore.encrypted/{APP}"


@cache
def _config(data: str) -> AppConfig:
    return AppConfig.from_data(json.loads(data))


def config(**changes) -> AppConfig:
    return _config(json.dumps({**BASE, **changes}, sort_keys=True))


def fetched(cfg: AppConfig, **values: str | tuple[str, int]) -> dict[str, Variable]:
    """The variables as the sources hand them over: each from SSM (a SecureString, version 1
    unless given), and ``PORT``."""
    found = {}
    for name, given_value in {**VALUES, **values}.items():
        value, version = given_value if isinstance(given_value, tuple) else (given_value, 1)
        found[name] = Variable(name, value, f"/shop/prod/{name}", version, True)
    found["PORT"] = Variable("PORT", str(cfg.port), "app_port")
    return found


def release(cfg: AppConfig) -> str:
    return f"{cfg.home}/releases/{cfg.version}" if cfg.container is None else ""


def plan(host: Host, cfg: AppConfig, variables: dict[str, Variable] | None = None) -> AppPlan:
    """The deploy's plan of ``cfg`` for what ``host`` has."""
    state = host.read(cfg, release(cfg))
    return deploy(cfg, variables or fetched(cfg), state, host="web-1", release=release(cfg),
                  supply=SUPPLY)  # fmt: skip


def rotation(host: Host, cfg: AppConfig, variables: dict[str, Variable]) -> AppPlan:
    return rotate(cfg, variables, host.read(cfg), host="web-1", supply=SUPPLY)


def deployed(cfg: AppConfig | None = None, variables=None, host: Host | None = None) -> Host:
    """A host ``cfg`` was deployed to (healthy)."""
    host = host or Host()
    cfg = cfg or config()
    host.apply(cfg, plan(host, cfg, variables))
    return host


def files(p: AppPlan) -> list[str]:
    """The activation's files, each as written (``+``), removed (``-``) or only tracked."""
    assert p.activation is not None
    return [("-" if f.remove else "+" if f.content is not None else " ") + f.path
            for f in p.activation.files]  # fmt: skip


def restarted(p: AppPlan) -> tuple[str, ...]:
    assert p.activation is not None
    return tuple(u.name for u in p.activation.units)


def test_a_redeploy_with_nothing_new_plans_nothing():
    host = deployed()
    assert plan(host, config()) == AppPlan(APP)
    assert rotation(host, config(), fetched(config())) == AppPlan(
        APP, notes=(Note(f"{ENV}: no value changed"),))


def test_a_first_deploy_installs_provisions_and_starts_every_unit():
    p = plan(Host(), config())
    assert p.packages == ("nodejs", "npm")  # the example app has a package-lock.json
    assert p.bare == ("npm",)  # the lockfile's tool, without the compiler it recommends
    assert p.provision.user == APP
    assert p.provision.dirs == (f"/opt/{APP}", f"/opt/{APP}/releases")
    assert p.provision.release.path == f"/opt/{APP}/releases/v1"
    assert files(p) == [f"+{ENV}.key", f"+{ENV}", f"+{STORE}/DB_PASSWORD", f"+{MANIFEST}",
                        f"+{UNITS}/{WEB}", f"+{UNITS}/{WORKER}", f"+{UNITS}/{TARGET}"]
    assert restarted(p) == (WEB, WORKER, TARGET)
    assert (p.activation.previous, p.activation.back, p.activation.stop) == (False, (), ())
    assert p.activation.link.target == f"/opt/{APP}/releases/v1"


def test_a_changed_value_rewrites_the_env_file_and_manifest_and_restarts_every_unit_once():
    host = deployed()
    p = plan(host, config(), fetched(config(), API_KEY=("FAKE-key-2", 2)))
    assert (p.packages, p.provision, p.manifest) == ((), None, None)
    assert files(p) == [f"+{ENV}", f"+{MANIFEST}"]
    assert restarted(p) == (WEB, WORKER, TARGET) and p.activation.stop == ()
    assert p.activation.link is None
    assert p.notes == (Note(f"{ENV}: changes API_KEY v1->v2"),
                       Note(f"{APP}: restart (env file), then health check"))  # fmt: skip


def test_a_rotated_credential_rewrites_that_credential_alone():
    host = deployed()
    p = rotation(host, config(), fetched(config(), DB_PASSWORD=("FAKE-db-2", 2)))
    assert files(p) == [f"+{STORE}/DB_PASSWORD", f"+{MANIFEST}"]
    assert restarted(p) == (WEB, WORKER, TARGET)
    assert p.differing == ["DB_PASSWORD"] and p.differs


def test_a_rotation_restarts_what_the_host_runs_and_leaves_the_units_files():
    host = deployed(config(app_processes={"web": 1, "worker": 2}))
    # The settings now place one worker: a rotation restarts the two the host runs anyway.
    p = rotation(host, config(), fetched(config(), API_KEY=("FAKE-key-2", 2)))
    assert files(p) == [f"+{ENV}", f"+{MANIFEST}"]
    assert restarted(p) == (WEB, f"{APP}-worker@1.service", f"{APP}-worker@2.service", TARGET)


def test_a_unit_changed_on_the_host_is_written_again_and_restarts():
    host = deployed()
    host.state = replace(host.state, unit_files={**host.state.unit_files,
                                                 WORKER: FileInfo("root", "root", "644", "0" * 64)})
    p = plan(host, config())
    assert files(p) == [f"+{UNITS}/{WORKER}"]
    assert p.activation.reload and restarted(p) == (WEB, WORKER, TARGET)


def test_a_new_release_is_unpacked_then_switched_to_with_no_file_written():
    host = deployed()
    p = plan(host, config(app_version="v2"))
    assert p.provision == replace(p.provision, user=None, dirs=(), files=(), pull=None)
    assert p.provision.release.path == f"/opt/{APP}/releases/v2"
    assert p.activation.files == ()
    link = p.activation.link
    assert (link.previous, link.target) == (f"/opt/{APP}/releases/v1", f"/opt/{APP}/releases/v2")
    assert restarted(p) == (WEB, WORKER, TARGET)
    # Back to a release the host still has: switched to, nothing unpacked.
    host.apply(config(app_version="v2"), p)
    back = plan(host, config())
    assert back.provision is None and back.activation.link.target == f"/opt/{APP}/releases/v1"


def test_a_unit_that_is_down_is_started_with_the_others():
    host = deployed()
    services = {**host.state.services, WORKER: {"Id": WORKER, "ActiveState": "failed",
                                                "UnitFileState": "enabled"}}  # fmt: skip
    host.state = replace(host.state, services=services)
    p = plan(host, config())
    assert p.activation.files == () and restarted(p) == (WEB, WORKER, TARGET)
    assert p.notes == (Note(f"{APP}: restart (not running: {WORKER}), then health check"),)


def test_scaling_a_process_up_starts_its_new_instances_and_down_stops_the_extra_ones():
    host = deployed(config(app_processes={"web": 1, "worker": 2}))
    up = plan(host, config(app_processes={"web": 1, "worker": 3}))
    # No unit file changes (a template's instances share it); the manifest records the checks
    # of each unit, so it goes with the activation.
    assert files(up) == [f"+{MANIFEST}"] and up.activation.stop == ()
    assert restarted(up)[1:4] == tuple(f"{APP}-worker@{i}.service" for i in (1, 2, 3))
    host.apply(config(app_processes={"web": 1, "worker": 3}), up)

    down = plan(host, config(app_processes={"web": 1, "worker": 1}))
    assert files(down) == [f"+{MANIFEST}"]
    assert down.activation.stop == (f"{APP}-worker@2.service", f"{APP}-worker@3.service")
    assert restarted(down) == (WEB, f"{APP}-worker@1.service", TARGET)


def test_a_process_placed_elsewhere_stops_and_its_unit_goes():
    host = deployed()
    p = plan(host, config(app_processes=["web"]))
    assert files(p) == [f"-{UNITS}/{WORKER}", f"+{MANIFEST}"]  # the manifest: one check less
    assert p.activation.stop == (WORKER,) and restarted(p) == (WEB, TARGET)


@pytest.fixture(scope="module")
def web_only(tmp_path_factory) -> str:
    source = tmp_path_factory.mktemp("web-only")
    shutil.copytree(REPO_ROOT / "examples" / "app", source, dirs_exist_ok=True)
    (source / "Procfile").write_text("web: /usr/bin/node server.js\n")
    return str(source)


def test_a_process_removed_from_the_procfile_stops_its_unit_goes_and_added_back_returns(web_only):
    host = deployed()
    removed = plan(host, config(app_source=web_only))
    assert files(removed) == [f"-{UNITS}/{WORKER}", f"+{MANIFEST}"]
    assert removed.activation.stop == (WORKER,) and restarted(removed) == (WEB, TARGET)
    host.apply(config(app_source=web_only), removed)

    added = plan(host, config())
    assert files(added) == [f"+{UNITS}/{WORKER}", f"+{MANIFEST}"] and added.activation.stop == ()
    assert restarted(added) == (WEB, WORKER, TARGET)


def test_a_value_moved_to_a_credential_and_back_is_written_where_it_goes_and_removed_where_not():
    host = deployed()
    to_file = plan(host, config(credentials=["DB_PASSWORD", "API_KEY"]))
    assert files(to_file) == [f"+{ENV}", f"+{STORE}/API_KEY", f"+{MANIFEST}",
                              f"+{UNITS}/{WEB}", f"+{UNITS}/{WORKER}"]  # fmt: skip
    assert restarted(to_file) == (WEB, WORKER, TARGET)
    host.apply(config(credentials=["DB_PASSWORD", "API_KEY"]), to_file)

    back = plan(host, config())
    assert files(back) == [f"+{ENV}", f"-{STORE}/API_KEY", f"+{MANIFEST}",
                           f"+{UNITS}/{WEB}", f"+{UNITS}/{WORKER}"]  # fmt: skip
    assert [f.transient for f in back.activation.files if f.remove] == [True]


def test_a_rotation_that_makes_a_value_a_credential_rewrites_the_units_that_load_it():
    host = deployed()
    p = rotation(host, config(credentials=["DB_PASSWORD", "API_KEY"]), fetched(config()))
    assert files(p) == [f"+{ENV}", f"+{STORE}/API_KEY", f"+{MANIFEST}",
                        f"+{UNITS}/{WEB}", f"+{UNITS}/{WORKER}"]  # fmt: skip


def test_new_health_settings_change_the_manifest_alone_and_restart_nothing():
    host = deployed()
    p = plan(host, config(health_timeout=45))
    assert (p.activation, p.provision, p.packages) == (None, None, ())
    assert p.manifest.path == MANIFEST and '"health_timeout": 45' in p.manifest.content


def test_an_unfinished_activation_is_finished_going_back_to_what_it_replaced():
    host = deployed()
    host.apply(config(app_version="v2"), plan(host, config(app_version="v2")), healthy=False)
    p = plan(host, config(app_version="v2"))
    assert p.activation.pending == host.state.pending
    assert p.activation.link.back == f"/opt/{APP}/releases/v1"  # the last healthy one
    assert restarted(p) == (WEB, WORKER, TARGET)
    assert "unfinished activation" in p.notes[-1].text
    # With nothing new, a rotation finishes it too.
    assert rotation(host, config(), fetched(config())).activation.pending == host.state.pending


def test_a_first_deploy_never_seen_healthy_has_no_version_to_go_back_to():
    host = Host()
    host.apply(config(), plan(host, config()), healthy=False)
    p = plan(host, config())
    assert p.activation.previous is False and p.activation.files
    assert all(f.content is None and f.back is None for f in p.activation.files)


def test_a_new_port_is_the_new_versions_and_a_rollback_checks_the_old_one_on_its_own():
    host = deployed()
    p = plan(host, config(app_port=3100), fetched(config(app_port=3100)))
    assert [(u.name, u.port) for u in p.activation.units][:1] == [(WEB, 3100)]
    assert [(u.name, u.port) for u in p.activation.back][:1] == [(WEB, 3000)]


def test_a_rotation_checks_the_units_as_they_were_deployed():
    host = deployed()  # health_timeout 30
    cfg = config(health_timeout=45)
    p = rotation(host, cfg, fetched(cfg, API_KEY=("FAKE-key-2", 2)))
    assert {u.timeout for u in (*p.activation.units, *p.activation.back)} == {30}


@pytest.fixture(scope="module")
def single_unit(tmp_path_factory) -> str:
    source = tmp_path_factory.mktemp("single-unit")
    shutil.copytree(REPO_ROOT / "examples" / "app", source, dirs_exist_ok=True)
    (source / "Procfile").unlink()  # one process, in <app>.service, as before Procfiles
    return str(source)


def test_a_host_on_the_single_unit_layout_moves_to_one_unit_per_process(single_unit):
    host = deployed(config(app_source=single_unit))
    p = plan(host, config())
    assert files(p) == [f"+{UNITS}/{WEB}", f"+{UNITS}/{WORKER}", f"+{UNITS}/{TARGET}",
                        f"-{UNITS}/{APP}.service", f"+{MANIFEST}"]  # fmt: skip
    assert p.activation.stop == (f"{APP}.service",) and restarted(p) == (WEB, WORKER, TARGET)
    # Rolled back, the old unit is checked as the web process it was.
    assert [(u.name, u.port, u.path) for u in p.activation.back] == [
        (f"{APP}.service", 3000, "/healthz")]


def test_two_apps_on_a_host_each_restart_for_their_own_values_alone():
    other = AppConfig.from_data({"app_name": "blog", "app_source": "examples/python-app",
                                 "app_runtime": "python", "app_port": 3001,
                                 "ssm_path": "/blog/prod", "app_version": "v1"})  # fmt: skip
    # Each app reads its own state; the host's packages and journald are the first app's.
    shop, blog = Host(), Host()
    shop.apply(config(), plan(shop, config()))
    blog_first = deploy(other, fetched(other), blog.read(other, release(other)), host="web-1",
                        release=release(other), others=(config(),), supply=SUPPLY)  # fmt: skip
    assert blog_first.provision.files == ()  # journald's drop-in: the first app's
    blog.apply(other, blog_first)

    changed = fetched(config(), API_KEY=("FAKE-key-2", 2))
    assert restarted(plan(shop, config(), changed)) == (WEB, WORKER, TARGET)
    assert deploy(other, fetched(other), blog.read(other, release(other)), host="web-1",
                  release=release(other), others=(config(),), supply=SUPPLY) == AppPlan("blog")


def test_a_container_app_pulls_a_new_image_and_switches_its_unit():
    digest = "sha256:" + "5e" * 32
    image = {"app_runtime": "container", "app_image": f"registry.example.com/shop@{digest}",
             "app_source": "examples/app", "app_version": None}  # fmt: skip
    cfg = config(**image)
    first = plan(Host(), cfg)
    assert first.packages == ("podman",) and first.provision.pull.engine == "podman"
    assert first.bare == ()  # an engine keeps its Recommends
    host = deployed(cfg)
    assert plan(host, cfg) == AppPlan(APP)
    new = config(**{**image, "app_image": f"registry.example.com/shop@sha256:{'a7' * 32}"})
    p = plan(host, new)
    assert p.packages == () and p.provision.pull.image == new.container.image.reference
    assert files(p) == [f"+{UNITS}/{APP}.service"] and restarted(p) == (f"{APP}.service",)


def test_a_variable_added_reaches_a_container_at_the_next_rotation_through_its_unit():
    digest = "sha256:" + "5e" * 32
    cfg = config(app_runtime="container", app_image=f"registry.example.com/shop@{digest}",
                 app_version=None)  # fmt: skip
    host = deployed(cfg)
    p = rotation(host, cfg, {**fetched(cfg), "NEW": Variable("NEW", "1", "/shop/prod/NEW", 1)})
    # The container is given each variable by name: its unit names the new one.
    assert files(p) == [f"+{ENV}", f"+{MANIFEST}", f"+{UNITS}/{APP}.service"]
    assert "--env=NEW" in p.activation.files[-1].content


def test_a_refused_host_has_nothing_planned_and_what_was_said_before():
    host = Host(replace(fresh(), dirs={f"/opt/{APP}": "root root 777 symbolic link"}))
    p = plan(host, config())
    assert isinstance(p.refusal, HostError) and p.empty
    assert p.notes == (Note("release v1 (live: none)"),)
    old = plan(Host(fresh(246)), config())
    assert isinstance(old.refusal, ConfigError) and "runs systemd 246" in str(old.refusal)


# --- a plan applied gives a state whose plan is nothing ------------------------------------------

PLACEMENTS = [None, ["web"], {"web": 1, "worker": 2}, {"web": 1, "worker": 3},
              {"web": {"port": 3100, "health_path": "/up"}, "worker": 1}]  # fmt: skip
CREDENTIALS = [[], ["DB_PASSWORD"], ["DB_PASSWORD", "API_KEY"], "secure"]

settings_ = st.fixed_dictionaries({
    "app_processes": st.sampled_from(PLACEMENTS),
    "credentials": st.sampled_from(CREDENTIALS),
    "app_version": st.sampled_from(["v1", "v2"]),
    "health_timeout": st.sampled_from([30, 45]),
    "env_keep_previous": st.booleans(),
})  # fmt: skip
values_ = st.fixed_dictionaries({
    "API_KEY": st.tuples(st.sampled_from(["FAKE-key-1", "FAKE-key-2"]), st.integers(1, 3)),
    "DB_PASSWORD": st.tuples(st.sampled_from(["FAKE-db-1", "FAKE-db-2"]), st.integers(1, 3)),
    "LOG_LEVEL": st.sampled_from(["info", "debug"]),
})


@settings(max_examples=200)
@given(before=st.none() | st.tuples(settings_, values_), after=settings_, values=values_,
       healthy=st.booleans(), systemd=st.sampled_from([249, 252]))  # fmt: skip
def test_a_deploy_applied_leaves_nothing_to_deploy_nor_to_rotate(
    before, after, values, healthy, systemd
):
    host = Host(fresh(systemd))
    if before is not None:  # what an earlier deploy left, seen healthy or not
        cfg = config(**before[0])
        host.apply(cfg, plan(host, cfg, fetched(cfg, **before[1])), healthy=healthy)
    cfg = config(**after)
    variables = fetched(cfg, **values)
    first = plan(host, cfg, variables)
    assert first.refusal is None
    host.apply(cfg, first)

    again = plan(host, cfg, variables)
    assert again.empty and [n for n in again.notes if not n.warning] == []  # systemd 249 warns
    assert rotation(host, cfg, variables).empty


@settings(max_examples=100)
@given(deployed_=settings_, values=values_, rotated=values_)
def test_a_rotation_applied_leaves_nothing_to_rotate_nor_to_deploy(deployed_, values, rotated):
    cfg = config(**deployed_)
    host = deployed(cfg, fetched(cfg, **values))
    p = rotation(host, cfg, fetched(cfg, **rotated))
    host.apply(cfg, p)
    assert rotation(host, cfg, fetched(cfg, **rotated)).empty
    assert plan(host, cfg, fetched(cfg, **rotated)) == AppPlan(APP)  # the host runs systemd 252
