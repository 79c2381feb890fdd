"""The agent's configuration for an app and its systemd units.

The configuration (``ssmenv.plan.pull.config_file``, root's alone) says where the app's
description is: a file a deploy wrote (``take``) or an SSM parameter the publish step wrote
(``install``); while it is there the host pulls the app. The units, rendered from
``templates/agent-*.j2`` for the agent that runs and the app's ``pull_period`` and
``pull_jitter``: its boot unit (``ssmenv-pull-<app>.service``, enabled), its sync
(``ssmenv-sync-<app>.service``) and its timer (``.timer``, enabled and started). Each sync puts them
in place again when the description changes the timer, so a new period is published like any
setting. ``/usr/local/sbin/ssmenv-agent`` links to the agent that runs, for a person or Run
Command: ``ssmenv-agent sync APP``.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ssmenv import render
from ssmenv.agent.host import AgentError, private_dir, write
from ssmenv.config import AppConfig
from ssmenv.plan import pull

UNIT_DIR = "/etc/systemd/system"
#: The command on the PATH, linked to the agent that runs.
COMMAND = "/usr/local/sbin/ssmenv-agent"
#: A sync's and a boot's deadline: their own waits are shorter (an activation's, the boot's
#: retries); this only keeps a hung one from holding the app's lock for ever.
TIMEOUT = 1800


@dataclass(frozen=True)
class Where:
    """Where the agent finds an app's description: a ``file`` or an SSM ``parameter`` (in
    ``region``)."""

    file: str | None = None
    parameter: str | None = None
    region: str | None = None

    def text(self) -> str:
        found = {"file": self.file} if self.file else {"parameter": self.parameter,
                                                        "region": self.region}  # fmt: skip
        return json.dumps({"description": found}, sort_keys=True) + "\n"


def configured(app: str) -> Where | None:
    """The agent's configuration for ``app``; ``None``: the host does not pull it."""
    try:
        document = json.loads(Path(pull.config_file(app)).read_text())
        found = document["description"]
        where = Where(found.get("file"), found.get("parameter"), found.get("region"))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise AgentError(f"{pull.config_file(app)} is not the agent's configuration") from None
    if not (where.file or (where.parameter and where.region)):
        raise AgentError(f"{pull.config_file(app)} names no description")
    return where


def configure(app: str, where: Where) -> None:
    """``where`` the agent's configuration for ``app``: the host pulls it from now on."""
    private_dir(pull.CONFIG_DIR)
    write(pull.config_file(app), where.text().encode())


def agent_home() -> Path:
    """The bundle this agent runs from (``/opt/ssmenv-agent/<version>``)."""
    return Path(__file__).resolve().parents[3]


def launcher() -> str:
    home = agent_home()
    if home.parent != Path(pull.AGENT_HOME):
        raise AgentError(f"this agent runs from {home}, not from a bundle under "
                         f"{pull.AGENT_HOME}: its units would name no agent")  # fmt: skip
    return str(home / "bin" / "ssmenv-agent")


def rendered(config: AppConfig, agent: str) -> dict[str, str]:
    """The app's agent units, by name, for the agent ``agent`` (its launcher)."""
    app = config.name
    context = {"app": app, "launcher": agent, "timeout": TIMEOUT,
               "period": config.pull.period, "jitter": config.pull.jitter}  # fmt: skip
    return {
        pull.boot_unit(app): render.templates.get_template("agent-boot.service.j2").render(
            unit=pull.boot_unit(app), **context),
        pull.sync_unit(app): render.templates.get_template("agent-sync.service.j2").render(
            unit=pull.sync_unit(app), timer=pull.timer(app), **context),
        pull.timer(app): render.templates.get_template("agent-sync.timer.j2").render(
            unit=pull.sync_unit(app), timer=pull.timer(app), **context),
    }  # fmt: skip


def install(config: AppConfig, enable: bool = False) -> list[str]:
    """The app's agent units in place, for this agent: written where they differ (then systemd
    reloaded and the timer restarted, so a new period applies), and the command linked. The boot
    unit enabled and the timer enabled and started when one was written, or ``enable`` says so
    (the agent takes the app: each ``systemctl enable`` reads every unit directory, which a sync
    that changes nothing has no need to pay for). The units it wrote, by name."""
    agent = launcher()
    written = [name for name, text in rendered(config, agent).items()
               if write(f"{UNIT_DIR}/{name}", text.encode(), mode=0o644)]  # fmt: skip
    app = config.name
    if written:
        _systemctl("daemon-reload")
    if enable or pull.boot_unit(app) in written:
        _systemctl("enable", "--quiet", pull.boot_unit(app))
    if enable or pull.timer(app) in written:
        _systemctl("enable", "--quiet", pull.timer(app))
        _systemctl("restart", pull.timer(app))
    _link(agent)
    return written


def _link(agent: str) -> None:
    try:
        if os.readlink(COMMAND) == agent:
            return
    except OSError:
        pass
    os.makedirs(os.path.dirname(COMMAND), exist_ok=True)
    temp = f"{COMMAND}.ssmenv-new"
    if os.path.lexists(temp):
        os.unlink(temp)
    os.symlink(agent, temp)
    os.replace(temp, COMMAND)


def _systemctl(*arguments: str) -> None:
    done = subprocess.run(["systemctl", *arguments], capture_output=True, timeout=120,
                          check=False)  # fmt: skip
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise AgentError(f"systemctl {' '.join(arguments)} failed"
                         + (f": {said[-1]}" if said else ""))  # fmt: skip
