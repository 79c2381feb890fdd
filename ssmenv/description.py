"""An app's description: what a host that pulls needs to know of the app, and no secret.

Made on the control machine from the app's settings (``AppConfig.settings``: host data, never a
value of the app's variables), what the settings read of its source tree (``config.Tree``: the
Procfile's text, how a release's dependencies are installed), its release by name and sha256 (a
source tree's; an image is named by digest in its settings) and, for a host that fetches the
agent itself, the agent's bundle (``ssmenv.bundle``). A push deploy writes it to a root-only file on
the host; the publish step puts it in SSM as a plain ``String`` parameter (``pull_description``)
beside the release in S3. The agent reads it back (``parse``) and checks it again as host data is
checked (``Description.config``): whoever can write the parameter is trusted to name the release,
no more than the settings allow.

One JSON object, its keys sorted and no whitespace, so the same app gives the same text (and
sha256) on every run::

    {"agent": {"key": "ssmenv/shop/<sha256>.tar.gz", "sha256": "<sha256>"},
     "app": "shop",
     "release": {"key": "ssmenv/shop/<sha256>.tar.gz", "name": "1a2b3c4d5e6f", "sha256": "..."},
     "settings": {"app_name": "shop", "app_version": "1a2b3c4d5e6f", "ssm_path": "/shop/prod",
                  ...},
     "ssmenv-description": 1,
     "tree": {"install": null, "packages": [], "procfile": "web: node server.js\\n"}}
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ssmenv.config import DESCRIBED, NAME, AppConfig, Tree
from ssmenv.errors import ConfigError
from ssmenv.names import shown
from ssmenv.settings import Setting, refuse

FORMAT = 1
#: SSM's largest String parameter (an advanced one; a standard one holds 4096 characters).
LARGEST = 8192

_SHA256 = re.compile(r"[0-9a-f]{64}")
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*")
_RELEASE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]+")
_APP = Setting("app", NAME, None, "")


class DescriptionError(ConfigError):
    """A description that is not one this version makes, or whose settings are not valid."""


@dataclass(frozen=True)
class Blob:
    """An object of the release bucket, content-addressed: ``key`` (``None``: not published,
    a deploy ships it) and the ``sha256`` of its bytes, checked before it is used."""

    sha256: str
    key: str | None = None


@dataclass(frozen=True)
class Release:
    """A source tree's release: its directory's ``name`` under ``/opt/<app>/releases`` and its
    archive."""

    name: str
    archive: Blob


@dataclass(frozen=True)
class Description:
    """One app's description (see the module's docstring)."""

    app: str
    settings: Mapping[str, Any]
    tree: Tree = field(default_factory=Tree)
    release: Release | None = None
    #: The agent's bundle, for a host that fetches it itself (its platforms: ``pull_platforms``).
    agent: Blob | None = None

    def text(self) -> str:
        """Its JSON text: keys sorted, no whitespace, the same for the same description."""
        release = None if self.release is None else {
            "name": self.release.name, "sha256": self.release.archive.sha256,
            "key": self.release.archive.key}  # fmt: skip
        document = {
            "ssmenv-description": FORMAT,
            "app": self.app,
            "settings": dict(self.settings),
            "tree": {"procfile": self.tree.procfile, "install": self.tree.install,
                     "packages": list(self.tree.packages)},
            "release": release,
            "agent": None if self.agent is None else {"sha256": self.agent.sha256,
                                                      "key": self.agent.key},
        }
        try:
            return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False)  # fmt: skip
        except (TypeError, ValueError):
            odd = [k for k, v in self.settings.items() if not _json(v)]
            raise DescriptionError(f"{self.app}: settings a description cannot carry (not JSON "
                                   f"data): {', '.join(odd) or 'settings'}") from None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text().encode()).hexdigest()

    def config(self) -> AppConfig:
        """The app it describes, its settings checked as host data is (every problem at once, a
        line each naming the key, never a value); ``DescriptionError`` otherwise."""
        config, problems = AppConfig.collect(self.settings, tree=self.tree)
        refuse(problems, f"the description of {self.app}")
        assert config is not None
        if config.name != self.app:
            raise DescriptionError(f"the description of {self.app} describes {config.name}")
        if (self.release is None) != (config.container is not None):
            raise DescriptionError(f"the description of {self.app}: a source tree's app names its "
                                   "release, an image's none")  # fmt: skip
        return config


def _json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def describe(config: AppConfig, release: Release | None = None,
             agent: Blob | None = None) -> Description:  # fmt: skip
    """``config``'s description: its settings, its tree, ``release`` (a source tree's; its name
    becomes ``app_version``, so the host names the release as the control machine does) and the
    agent's bundle."""
    settings = dict(config.settings)
    settings["app_name"] = config.name
    settings.pop("app_version", None)
    if release is not None:
        settings["app_version"] = release.name
    return Description(config.name, settings, config.tree, release, agent)


def parse(text: str) -> Description:
    """The description ``text`` holds, its shape checked (what is in it is checked by
    ``Description.config``); ``DescriptionError`` naming what is wrong, never quoting it."""
    try:
        document = json.loads(text)
    except ValueError:
        raise DescriptionError("the description is not JSON") from None
    problems: list[str] = []
    if not isinstance(document, dict) or document.get("ssmenv-description") != FORMAT:
        raise DescriptionError(f"not a description of format {FORMAT} (ssmenv-description)")
    unknown = sorted(set(document) - {"ssmenv-description", "app", "settings", "tree", "release",
                                      "agent"})  # fmt: skip
    problems += [f"{shown(str(k))}: not a part of a description" for k in unknown]
    try:
        app = _APP.check(document.get("app"))
    except ValueError as e:
        raise DescriptionError(f"the description: {e}") from None
    settings = document.get("settings")
    if not isinstance(settings, dict):
        problems.append("settings: must be a map of setting to value")
        settings = {}
    problems += [f"settings.{shown(str(k))}: not a setting a description carries"
                 for k in settings if k not in DESCRIBED]  # fmt: skip
    tree = _tree(document.get("tree"), problems)
    release = _release(document.get("release"), problems)
    agent = _agent(document.get("agent"), problems)
    if problems:
        raise DescriptionError(f"the description of {app} is not valid:\n"
                               + "\n".join(f"  {p}" for p in problems))  # fmt: skip
    return Description(app, settings, tree, release, agent)


def _tree(value: Any, problems: list[str]) -> Tree:
    if not isinstance(value, dict) or set(value) != {"procfile", "install", "packages"}:
        problems.append("tree: must hold procfile, install and packages")
        return Tree()
    procfile, install, packages = value["procfile"], value["install"], value["packages"]
    if procfile is not None and not isinstance(procfile, str):
        problems.append("tree.procfile: must be the Procfile's text, or null")
        procfile = None
    if install is not None and (not isinstance(install, str) or not install.isprintable()):
        problems.append("tree.install: must be one line of text, or null")
        install = None
    if not isinstance(packages, list) or not all(
            isinstance(p, str) and _PACKAGE.fullmatch(p) for p in packages):  # fmt: skip
        problems.append("tree.packages: must be a list of Debian package names")
        packages = []
    return Tree(procfile, install, tuple(packages))


def _blob(value: Any, where: str, problems: list[str]) -> Blob | None:
    if not isinstance(value, dict) or not {"sha256", "key"} >= set(value) or "sha256" not in value:
        problems.append(f"{where}: must hold sha256 and key")
        return None
    digest, key = value["sha256"], value.get("key")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        problems.append(f"{where}.sha256: must be 64 hex digits")
        return None
    if key is not None and (not isinstance(key, str) or not _KEY.fullmatch(key)):
        problems.append(f"{where}.key: must be an object key of letters, digits, '.', '_', '-' "
                        "between single '/'")  # fmt: skip
        return None
    return Blob(digest, key)


def _release(value: Any, problems: list[str]) -> Release | None:
    if value is None:
        return None
    if not isinstance(value, dict) or "name" not in value:
        problems.append("release: must hold name, sha256 and key")
        return None
    name = value["name"]
    if not isinstance(name, str) or not _RELEASE.fullmatch(name):
        problems.append("release.name: must be letters, digits, dots, dashes and underscores")
        return None
    blob = _blob({k: v for k, v in value.items() if k != "name"}, "release", problems)
    return Release(name, blob) if blob else None


def _agent(value: Any, problems: list[str]) -> Blob | None:
    return None if value is None else _blob(value, "agent", problems)
