"""Pull mode in the plan (``ssmenv.plan.pull``): what the host's agent switches (the same plan,
its units not enabled: the agent starts them at boot), what a push deploy of an app in pull mode
does instead of activating it (provisions what the host lacks, the agent's bundle too, and hands
the app to the agent only when something would change), what a push rotation leaves to the
agent, and how a deploy in push mode takes an app back from it. State in, plan out; a plan
applied (``tests.hostmodel``) leaves nothing to do."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ssmenv.activation import sha256
from ssmenv.hoststate import FileInfo
from ssmenv.plan import pull
from ssmenv.plan.app import AppPlan, Supply, deploy, rotate
from ssmenv.plan.notes import Note
from ssmenv.plan.pull import Bundle
from tests.hostmodel import Host
from tests.unit.test_plan import (
    APP,
    ENV,
    KEY,
    TARGET,
    UNITS,
    WEB,
    WORKER,
    config,
    fetched,
    files,
    release,
    restarted,
)

BUNDLE = Bundle("0a1b2c3d4e5f", Path("/nonexistent/agent.tar.gz"))
DESCRIPTION = '{"app":"shop","ssmenv-description":1}'


def supply(description: str = DESCRIPTION) -> Supply:
    return Supply(archive=lambda: Path("/nonexistent/shop.tar.gz"), new_key=lambda: KEY,
                  bundle=lambda: BUNDLE, description=lambda: description)  # fmt: skip


def pushed(host: Host, cfg, variables=None, description: str = DESCRIPTION) -> AppPlan:
    """A push deploy's plan: asking about the agent's bundle when the app is pulled."""
    agent = pull.bundle_dir(BUNDLE.version) if cfg.pull.pulled else ""
    state = host.read(cfg, release(cfg), agent)
    return deploy(cfg, variables or fetched(cfg), state, host="web-1", release=release(cfg),
                  supply=supply(description))  # fmt: skip


def synced(host: Host, cfg, variables=None) -> AppPlan:
    """The host's agent's plan, made on the host."""
    state = host.read(cfg, release(cfg))
    return deploy(cfg, variables or fetched(cfg), state, host="web-1", release=release(cfg),
                  supply=supply(), by_agent=True)  # fmt: skip


def taken(host: Host, cfg, description: str = DESCRIPTION) -> Host:
    """``host`` once its agent took the app (``ssmenv-agent take``) and synced it healthy."""
    host.state = replace(host.state, pull_config=FileInfo("root", "root", "600", "c" * 64),
                         pull_description=FileInfo("root", "root", "600", sha256(description)))
    host.apply(cfg, synced(host, cfg))
    host.state = replace(host.state, last_good=FileInfo("root", "root", "600", "d" * 64))
    return host


PULLED = {"delivery": "pull"}


def test_the_agent_switches_the_app_as_a_push_would_its_units_left_to_it_at_boot():
    cfg = config(**PULLED)
    p = synced(Host(), cfg)
    assert restarted(p) == (WEB, WORKER, TARGET)
    assert p.activation.boot is False and "boot 0" in p.activation.plan()
    assert p.handover is None
    host = Host()
    host.apply(cfg, p)
    assert {s["UnitFileState"] for s in host.state.services.values()} == {"disabled"}
    assert synced(host, cfg) == AppPlan(APP)


def test_a_push_in_pull_mode_provisions_and_hands_the_app_to_the_agent_instead_of_activating():
    cfg = config(**PULLED)
    p = pushed(Host(), cfg)
    assert p.packages == ("nodejs", "npm", "python3", "python3-botocore")
    assert p.bare == ("npm",)
    assert p.provision.dirs == (f"/opt/{APP}", f"/opt/{APP}/releases", pull.AGENT_HOME)
    assert p.provision.agent.path == f"{pull.AGENT_HOME}/{BUNDLE.version}"
    assert p.provision.release.path == f"/opt/{APP}/releases/v1"
    assert p.activation is None and p.manifest is None
    assert p.handover.command == [pull.launcher(BUNDLE.version), "take", APP]
    assert p.handover.description == DESCRIPTION
    assert p.handover.reasons == ("not pulled yet", "agent", "configuration")
    assert "FAKE-db-1" in p.handover.secrets  # masks what the host says back
    assert p.notes[-1] == Note(f"{APP}: hand over to the host's agent (not pulled yet, agent, "
                               "configuration), which syncs it")


def test_a_push_to_a_host_whose_agent_has_it_all_does_nothing():
    cfg = config(**PULLED)
    host = Host()
    host.apply(cfg, replace(pushed(host, cfg), handover=None))
    taken(host, cfg)
    assert pushed(host, cfg) == AppPlan(APP)


def test_a_push_hands_over_again_for_a_new_description_or_a_new_value_alone():
    cfg = config(**PULLED)
    host = Host()
    host.apply(cfg, replace(pushed(host, cfg), handover=None))
    taken(host, cfg)
    assert pushed(host, cfg, description=DESCRIPTION + " ").handover.reasons == ("description",)
    rotated = fetched(cfg, API_KEY=("FAKE-key-2", 2))
    p = pushed(host, cfg, rotated)
    assert p.handover.reasons == ("configuration",)
    assert p.notes == (Note(f"{ENV}: changes API_KEY v1->v2"), Note(
        f"{APP}: hand over to the host's agent (configuration), which syncs it"))


def test_a_push_rotation_leaves_an_app_its_host_pulls_to_the_agent():
    cfg = config(**PULLED)
    host = Host()
    host.apply(cfg, replace(pushed(host, cfg), handover=None))
    taken(host, cfg)
    p = rotate(cfg, fetched(cfg, API_KEY=("FAKE-key-2", 2)), host.read(cfg), host="web-1",
               supply=supply())  # fmt: skip
    assert p.activation is None and p.manifest is None
    assert p.differing == ["API_KEY"]  # what plan and drift report
    assert p.notes[-1] == Note(f"{APP}: pulled by the host's agent, which rotates it (its timer, "
                               f"or ssmenv-agent sync {APP} there); not from here")


def test_a_push_deploy_takes_an_app_back_from_the_agent_and_enables_its_units():
    cfg = config(**PULLED)
    host = Host()
    host.apply(cfg, replace(pushed(host, cfg), handover=None))
    taken(host, cfg)
    back = config()
    p = pushed(host, back)
    assert p.activation.stop == (pull.timer(APP), pull.boot_unit(APP))
    assert files(p) == [f"-{path}" for path in pull.pull_files(APP)]
    assert all(f.transient for f in p.activation.files)
    assert p.activation.boot is True and restarted(p) == (WEB, WORKER, TARGET)
    assert p.notes[-1].text.endswith("(enabled again: shop-web.service, shop-worker.service, "
                                     "shop.target, stopping ssmenv-sync-shop.timer, "
                                     "ssmenv-pull-shop.service, taken back from the host's "
                                     "agent), then health check")
    host.apply(back, p)
    assert not host.state.pulled
    assert pushed(host, back) == AppPlan(APP)


def test_an_app_moved_from_push_to_pull_has_its_units_disabled_by_the_agents_first_sync():
    host = Host()
    host.apply(config(), pushed(host, config()))
    cfg = config(**PULLED)
    p = synced(host, cfg)
    assert files(p) == [] and restarted(p) == (WEB, WORKER, TARGET)
    assert p.activation.boot is False
    assert p.notes[-1].text == (f"{APP}: restart (started at boot by the host's agent, not by "
                                f"themselves: {WEB}, {WORKER}, {TARGET}), then health check")
    host.apply(cfg, p)
    assert synced(host, cfg) == AppPlan(APP)
    assert f"{UNITS}/{WEB}" in {f"{UNITS}/{u}" for u in host.state.unit_files}
