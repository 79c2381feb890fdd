"""Container images: the app ships as an image built in CI, run by Podman or Docker on the host.

The image is named by digest (``app_image``): what was tested is what runs, on every host, and a
rollback goes back to the exact image before. The unit runs the container in the foreground under
the same ``EnvironmentFile=``, health gate, rollback and rotation as any app; the image's digest is
part of the unit, so the activation's unit switch (and its rollback) is the image switch. The
image is pulled before the activation, by the provisioning command, and the unit never pulls
(``--pull=never``): nothing slow or failing happens while the old version is stopped.

Values reach the container by name only: ``--env NAME`` for each variable, the engine reading each
value from its own environment, which systemd filled from the env file. Neither engine's
``--env-file`` could: both take a line's value literally (quotes included) and none spans lines.

A registry that needs a password gets it from the app's sources (``container_registry_password``
names the variable), or from Amazon ECR's authorization token (``ssmenv.ecr``) for an image in ECR
(``container_registry_login``): it goes to the pull only, on stdin into a root-only file that is
removed once the pull ends, never into the app's environment.

The container's process runs as the app's user (``container_user``), as a source tree's does: the
engine, which must be root, looks up that user's uid and gid on the host at each start and runs
the container with them (``--user``; the image need not know the user), and the unit's ``User=``
makes systemd hand the credentials to that user.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
from dataclasses import dataclass
from typing import Literal

from ssmenv.runtimes.base import Runtime
from ssmenv.settings import Line, Matching, Setting, Settings

#: Where a credential is inside the container: the service's credentials directory, read-only.
SECRETS_DIR = "/run/secrets"
#: The service's credentials directory (systemd's %d) read-only at ``SECRETS_DIR``.
CREDENTIALS_MOUNT = f"--volume=%d:{SECRETS_DIR}:ro"
#: Docker Hub's registry, for a reference without a registry host.
DEFAULT_REGISTRY = "docker.io"
#: The shell that runs the engine for a container run as the app's user (``Engine.command``):
#: ``$0`` is the engine, ``$@`` the rest of the command line. ``id`` fails for a user the host
#: lacks, and then nothing runs.
RUN_AS = 'u=$(id -u {user}) && g=$(id -g {user}) && exec "$0" run --user="$u:$g" "$@"'

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# A reference's name: an optional registry host (a dot, a colon or localhost), then the path.
_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*")
_HOST = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::[0-9]{1,5})?")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class Image:
    """An image reference pinned by digest: ``registry/repository[:tag]@sha256:...``.

    + registry: the registry's host (and port), ``docker.io`` when the reference names none
    + repository: the path inside it
    + tag: a label only (``None``): the digest decides what runs
    + digest: ``sha256:`` and 64 hex digits
    """

    registry: str
    repository: str
    tag: str | None
    digest: str
    #: The reference as written, which the engine pulls and runs.
    reference: str

    @classmethod
    def parse(cls, text: str) -> Image:
        """``text`` as a pinned reference, or ``ValueError`` saying what it lacks."""
        name, at, digest = text.partition("@")
        if not at:
            raise ValueError("must name the image by digest (REPOSITORY[:TAG]@sha256:...): a tag "
                             "can move, and a rollback must find the exact image it replaced")
        if not _DIGEST.fullmatch(digest):
            raise ValueError("must end in @sha256: and 64 lowercase hex digits")
        head, slash, rest = name.partition("/")
        if slash and (head == "localhost" or "." in head or ":" in head):
            registry, path = head, rest
            if not _HOST.fullmatch(registry):
                raise ValueError("must start with a registry host (and port) before its path")
        else:
            registry, path = DEFAULT_REGISTRY, name
        tag = None
        last = path.rsplit("/", 1)[-1]
        if ":" in last:
            path, tag = path.rsplit(":", 1)
            if not _TAG.fullmatch(tag):
                raise ValueError("must have a tag of letters, digits, '.', '_' and '-'")
        if not _NAME.fullmatch(path):
            raise ValueError("must have a repository path of lowercase letters, digits and "
                             "'.', '_', '-' between '/'")  # fmt: skip
        return cls(registry, path, tag, digest, text)


@dataclass(frozen=True)
class Engine:
    """A container engine: how its unit runs the image and how the provisioning pulls it.

    + name: ``container_engine``'s value
    + package: the Debian package that brings it, for a host that has no engine
    + binary: its command
    + run_options: what it needs beyond the options both share (Podman replaces a leftover
      container itself; its ``--http-proxy``, on by default, would pass the env file's proxy
      variables without their names being asked for)
    + remove_first: the container removed before each start (an engine without ``--replace``)
    """

    name: str
    package: str
    binary: str
    run_options: tuple[str, ...] = ()
    remove_first: bool = False

    def command(self, user: str | None = None) -> list[str]:
        """The first words of ``ExecStart=``: ``<engine> run``; for a container run as ``user``
        (the app's), a root shell (``+``: privileged although the unit has ``User=``) that looks
        up the user's uid and gid on the host at each start and runs ``<engine> run
        --user=UID:GID`` with the words that follow it: the image need not know the user, and the
        unit is the same on hosts that gave it different ids."""
        if user is None:
            return [self.binary, "run"]
        return ["+/bin/sh", "-c", RUN_AS.format(user=user), self.binary]

    def options(self, container: str, credentials: bool) -> list[str]:
        """The words of ``ExecStart=`` after ``command`` and before the variables' names and the
        image: the container ``container`` in the foreground, removed when it ends, on the host's
        network, with ``--init`` (a PID 1 that forwards the stop signal and reaps), never
        pulling, and the service's credentials directory read-only at ``/run/secrets`` when
        ``credentials``."""
        words = ["--rm", f"--name={container}", "--network=host", "--pull=never", "--init",
                 *self.run_options]  # fmt: skip
        return [*words, CREDENTIALS_MOUNT] if credentials else words


ENGINES: dict[str, Engine] = {
    "podman": Engine("podman", "podman", "/usr/bin/podman", ("--replace", "--http-proxy=false")),
    "docker": Engine("docker", "docker.io", "/usr/bin/docker", remove_first=True),
}


def _image(text: str) -> Image:
    return Image.parse(text)


SETTINGS = Settings("Container images", (
    Setting("app_image", Line, None, "With `app_runtime` `container`: the image to run, pinned "
            "by digest (`registry.example.com/shop@sha256:...`, a tag before `@` is a label), "
            "instead of `app_source`. Pulled before the activation; the container gets the "
            "env file's variables by name and `PORT`, on the host's network.", parse=_image),
    Setting("container_engine", Literal["podman", "docker"], None, "The engine that runs it; "
            "default: whichever the host has (Podman first), or Podman (Debian's `podman`) "
            "installed on a host without one."),
    Setting("container_user", Literal["app", "image"], "app", "Who the container's process "
            "runs as. `app`: the app's user (`app_user`), by the uid and gid it has on the host "
            "(`--user`, looked up at each start; the image need not know it), which also owns "
            "the unit's credentials. `image`: the image's own `USER`, root if it names none "
            "(the credentials are then root's alone)."),
    Setting("container_registry_login", Literal["password", "ecr"], None, "How the host logs "
            "in to the image's registry for the pull. `password`: `container_registry_username` "
            "and the variable `container_registry_password` names. `ecr`: an Amazon ECR "
            "authorization token (`ecr:GetAuthorizationToken`, user `AWS`), asked for once per "
            "run for every host, in the region of the image's ECR host, else `aws_region`. "
            "Default: `password` when `container_registry_username` is set, `ecr` for an image "
            "in ECR (`<account>.dkr.ecr.<region>.amazonaws.com/...`), else none (a public "
            "registry)."),
    Setting("container_registry_username", Line, None, "User name at the image's registry, "
            "when it needs a password."),
    Setting("container_registry_password", Matching(r"[A-Za-z_][A-Za-z0-9_]*", "a variable "
            "name"), None, "The variable of the app's sources (an SSM SecureString, a Secrets "
            "Manager key) holding the registry's password: fetched with the others, handed to "
            "the pull only (on stdin, into a root-only file removed after it), never in the "
            "app's environment."),
))  # fmt: skip


@dataclass(frozen=True)
class Container:
    """What a container app runs: its image, the engine asked for (``None``: the host's), the
    registry login (``login``: ``password``, with the user and the name of the variable holding
    the password; ``ecr``, with the ``region`` to ask for the token in; ``None``: none), and who
    the container's process runs as (``user``: ``app`` or ``image``)."""

    image: Image
    engine: str | None = None
    username: str | None = None
    password: str | None = None
    login: Literal["password", "ecr"] | None = None
    region: str | None = None
    user: Literal["app", "image"] = "app"

    def args(self, start: str) -> tuple[str, ...]:
        """``app_start`` as words after the image (the image's command; its entrypoint runs
        them)."""
        return tuple(shlex.split(start)) if start else ()


def engine_on(container: Container, found: str | None) -> Engine:
    """The engine a host runs the app with: the one the state read ``found`` there (the one asked
    for, or the host's), else the one asked for, else Podman (both to be installed)."""
    return ENGINES[found or container.engine or "podman"]


def auth_json(registry: str, username: str, password: str) -> str:
    """The login both engines read (Podman's ``--authfile``, Docker's ``config.json``)."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {registry: {"auth": token}}})


RUNTIME = Runtime(
    name="container",
    packages=(),
    start="",
    help="A container image (`app_image`, by digest) run by Podman or Docker under the same unit, "
    "env file and health gate; see Container images.",
    image=True,
)
