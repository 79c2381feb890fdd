"""One sync of one app on this host: the pull driver (see ``ssmenv.agent``).

``sync`` reads the app's description, fetches and checks its variables, reads the host's state,
asks the plan and carries it out here: the provisioning command, then one activation (release and
configuration together, health-gated, rolled back on failure) or the manifest alone, or nothing.
Each step that fails says why in one line (names of parameters, files and units, never a value:
what the host's programs say back is masked as the push driver masks it) and the sync ends with
its status (``ssmenv.agent.status``). Only a sync that ends healthy keeps what it synced: the
description it read, and the values as the last known good configuration.

``boot`` is a sync at boot: while AWS cannot be reached it tries again (``BOOT_ATTEMPTS``, the
waits doubling from ``BOOT_BACKOFF``), then starts the app from its last known good configuration
when it is younger than ``pull_max_age``, checked again against the contract; past that age, or
with none, the app does not start, and the journal says why.
"""

from __future__ import annotations

import atexit
import grp
import hashlib
import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from ssmenv import aws, ecr, sources
from ssmenv.activation import BROKEN, HEALTHY, ROLLED_BACK, STALE, said
from ssmenv.activation import LOCKED as ACTIVATION_LOCKED
from ssmenv.agent import lastgood, status, units
from ssmenv.agent.host import RUN_DIR, AgentError, lock, private_dir, read_state, run, write
from ssmenv.config import AppConfig
from ssmenv.description import Description, DescriptionError, parse
from ssmenv.errors import ConfigError, SourceError, SsmEnvError
from ssmenv.plan import app as plans
from ssmenv.plan.image import registry_password
from ssmenv.plan.pull import STATE_DIR
from ssmenv.plan.state import query
from ssmenv.publication import Pull
from ssmenv.scrub import scrub
from ssmenv.sources import ssm_parameters
from ssmenv.sources.base import Variable
from ssmenv.sources.ssm import Parameter
from ssmenv.variables import compose, judged

#: Seconds a sync waits for another sync of the app to end.
LOCK_WAIT = 600
#: At boot: how many times a sync is tried while AWS cannot be reached, the first wait between
#: two (doubling each time), and the longest.
BOOT_ATTEMPTS = 4
BOOT_BACKOFF = 2.0
BOOT_BACKOFF_MAX = 30.0
#: Attempts per request (the first included) while SSM throttles a fleet syncing at once: with
#: botocore's backoff (up to 20 s a wait) about two minutes before a sync gives up.
BUDGET_ATTEMPTS = 10


class Unreachable(AgentError):
    """AWS could not be reached at all (no connection, no credentials): at boot, try again."""


@dataclass
class Said:
    """Where the agent's lines go (its stdout: the journal, under systemd), each naming the
    app."""

    app: str
    out: Callable[[str], None] = lambda line: print(line, flush=True)

    def __call__(self, text: str) -> None:
        for line in text.splitlines() or [""]:
            self.out(line if line.startswith(f"{self.app}: ") else f"{self.app}: {line}")


def cached(app: str) -> str:
    """Where the agent keeps the last description of ``app`` that synced healthy."""
    return f"{STATE_DIR}/{app}.description.json"


def sync(app: str, say: Said | None = None, *, boot: bool = False) -> int:
    """One sync of ``app`` (under its sync lock: another sync waits for this one); its status.
    ``boot``: ``boot``'s, which may start from the last known good configuration."""
    say = say or Said(app)
    with lock(f"{RUN_DIR}/{app}.sync.lock", LOCK_WAIT) as held:
        if not held:
            say(f"another sync of {app} has held its lock for {LOCK_WAIT} s: try again later")
            return _end(say, status.LOCKED)
        _pace(app)
        if not boot:
            return _end(say, _attempt(app, say))
        return _end(say, _boot(app, say))


def _pace(app: str) -> None:
    """This sync's requests within its budget, from the last description of ``app`` that synced
    healthy (the defaults before the first): ``pull_budget`` requests a second, botocore's
    adaptive retries (throttled, it slows down and tries again, up to ``BUDGET_ATTEMPTS`` unless
    ``AWS_MAX_ATTEMPTS`` says), after a random wait within ``pull_start_jitter``, so hosts told
    to sync at once spread their first requests."""
    pull = Pull()
    try:
        pull = parse(Path(cached(app)).read_text()).config().pull
    except (OSError, SsmEnvError):
        pass  # no description kept yet, or one no longer valid: the sync says why
    aws.configure(aws.Budget(pull.budget, "adaptive", BUDGET_ATTEMPTS))
    if pull.start_jitter:
        time.sleep(random.uniform(0, pull.start_jitter))  # noqa: S311 (a spread, not a secret)


def _end(say: Said, code: int) -> int:
    say(status.WORDS[code])
    return code


def _boot(app: str, say: Said) -> int:
    wait = BOOT_BACKOFF
    for attempt in range(1, BOOT_ATTEMPTS + 1):
        try:
            return _attempt(app, say, unreachable=True)
        except Unreachable as e:
            say(f"AWS cannot be reached ({e}); attempt {attempt} of {BOOT_ATTEMPTS}")
            if attempt < BOOT_ATTEMPTS:
                time.sleep(wait)
                wait = min(wait * 2, BOOT_BACKOFF_MAX)
    return _attempt(app, say, last_good=True)


def _attempt(app: str, say: Said, *, unreachable: bool = False, last_good: bool = False,
             again: bool = True) -> int:  # fmt: skip
    """One try. ``unreachable``: raise ``Unreachable`` when AWS cannot be reached (boot tries
    again); ``last_good``: the description and values this host kept, not AWS's."""
    try:
        where = units.configured(app)
        if where is None:
            say(f"this host does not pull {app}: no agent configuration for it")
            return status.ERROR
        text = _description_text(app, where, cached_only=last_good)
        description = parse(text)
        config = description.config()
        if not config.pull.pulled:
            raise DescriptionError(f"the description of {app} says delivery push: it is not "
                                   "pulled")  # fmt: skip
        if last_good:
            variables = _last_good(app, config, say)
            if variables is None:
                return status.ERROR
        else:
            variables = _variables(config, say)
        found = _plan(config, description, variables)
    except Unreachable:
        if unreachable:
            raise
        say("AWS cannot be reached")
        return status.ERROR
    except (ConfigError, DescriptionError) as e:
        say(str(e))
        return status.REFUSED
    except SsmEnvError as e:
        say(str(e))
        return status.ERROR
    for note in found.notes:
        say(note.text)
    if found.refusal is not None:
        say(str(found.refusal))
        if isinstance(found.refusal, SourceError) and found.refusal.unreachable and unreachable:
            raise Unreachable(str(found.refusal))
        return status.ERROR if isinstance(found.refusal, SourceError) else status.REFUSED
    code = _carry_out(config, found, say)
    if code == STALE_AGAIN and again:
        say("the host changed since it was read (another deploy?): syncing again")
        return _attempt(app, say, unreachable=unreachable, last_good=last_good, again=False)
    if code == STALE_AGAIN:
        return status.ERROR
    if code in (status.CHANGED, status.UNCHANGED):
        _kept(config, description, text, variables, code, from_last_good=last_good)
        units.install(config)
    return code


#: ``_carry_out``'s word for an activation that found the host changed since its state read.
STALE_AGAIN = -1


def _description_text(app: str, where: units.Where, cached_only: bool = False) -> str:
    """The description's text: the file a deploy wrote, or the SSM parameter (``cached_only``:
    the copy of the last one that synced, as at boot without AWS)."""
    if where.file:
        try:
            return Path(where.file).read_text()
        except (OSError, UnicodeDecodeError) as e:
            raise AgentError(f"{where.file}: {e.strerror or 'not text'}") from None
    if cached_only:
        try:
            return Path(cached(app)).read_text()
        except FileNotFoundError:
            raise AgentError(f"no description of {app} kept on this host") from None
    assert where.parameter and where.region
    # In the same request as the parameters the last description read by name (SSM's
    # GetParameters takes ten names): a sync costs the same calls as a push's read of them.
    references = [where.parameter, *_pinned(app, where.region)][: ssm_parameters.NAMES_PER_CALL]
    try:
        answer = ssm_parameters.parameters_by_name(where.region, references)[where.parameter]
    except SourceError as e:
        if e.unreachable:
            raise Unreachable(str(e)) from None
        raise
    if not isinstance(answer, Parameter):
        raise AgentError(f"the description {where.parameter} ({where.region}) is not in SSM: "
                         "publish it (python -m ssmenv publish)")  # fmt: skip
    if answer.type != "String":
        raise DescriptionError(f"the description {where.parameter} is a {answer.type}: a "
                               "description is a plain String (it holds no secret)")  # fmt: skip
    return answer.value


def _pinned(app: str, region: str) -> list[str]:
    """The parameters the last description that synced reads by name, in ``region``."""
    try:
        config = parse(Path(cached(app)).read_text()).config()
    except (OSError, SsmEnvError, ValueError):
        return []
    spec = config.sources.get("ssm_parameters")
    if spec is None or spec.region != region:
        return []
    return [p.reference for p in spec.parameters]


def _variables(config: AppConfig, say: Said) -> dict[str, Variable]:
    """The app's variables from its sources, checked as a push checks them."""
    fetched = sources.fetch(config.sources)
    if fetched.unreachable:
        raise Unreachable("; ".join(fetched.failures))
    composition = compose(config, fetched)
    for note in composition.notes:
        say(note)
    if not composition.complete:
        raise SourceError("\n".join(composition.problems))
    variables = composition.check(f"{config.name} ({config.sources_summary})")
    registry_password(config, variables)
    return variables


def _last_good(app: str, config: AppConfig, say: Said) -> dict[str, Variable] | None:
    """The last known good configuration, if the app may start from it; ``None`` (and why, in
    the journal) when it may not: none, or older than ``pull_max_age``. Checked again against
    the contract: an app never starts with a required variable missing."""
    copy = lastgood.load(app)
    if copy is None:
        say(f"AWS cannot be reached and this host keeps no last known good configuration of "
            f"{app}: {app} does not start")  # fmt: skip
        return None
    if copy.age > config.pull.max_age:
        say(f"AWS cannot be reached and the last known good configuration of {app} is "
            f"{_span(copy.age)} old, more than pull_max_age ({_span(config.pull.max_age)}): "
            f"{app} does not start")  # fmt: skip
        return None
    variables = dict(copy.variables)
    problems = judged(config, variables)
    if problems:
        raise ConfigError(f"the last known good configuration of {app} is not valid, so "
                          f"{app} does not start:\n" + "\n".join(f"  {p}" for p in problems))
    say(f"AWS cannot be reached: {app} starts from its last known good configuration, "
        f"{_span(copy.age)} old (pull_max_age {_span(config.pull.max_age)})")  # fmt: skip
    return variables


def _span(seconds: float) -> str:
    """``3 h 12 min``, ``45 s``: an age for the journal."""
    seconds = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            parts.append(f"{seconds // size} {unit}")
            seconds %= size
    if seconds or not parts:
        parts.append(f"{seconds} s")
    return " ".join(parts[:2])


def _plan(config: AppConfig, description: Description, variables: dict[str, Variable]
          ) -> plans.AppPlan:  # fmt: skip
    """The plan for this host, as the push driver asks it, its state read here."""
    release = f"{config.home}/releases/{config.version}" if config.container is None else ""
    state = read_state(query(config, release))
    supply = plans.Supply(archive=lambda: _release_archive(config, description),
                          ecr_login=ecr.login)  # fmt: skip
    return plans.deploy(config, variables, state, host=socket.gethostname(), release=release,
                        supply=supply, by_agent=True)  # fmt: skip


def _release_archive(config: AppConfig, description: Description) -> Path:
    """The release the description names, from the release bucket, checked by its sha256
    before it is used (the plan asks only when the host lacks it); in a root-only file removed
    when the agent ends."""
    release = description.release
    assert release is not None
    publication, key = config.publication, release.archive.key
    if key is None or publication is None or publication.bucket is None:
        raise ConfigError(f"release {release.name} is not on this host and the description names "
                          "no object to fetch it from (release_bucket)")  # fmt: skip
    if not key.startswith(publication.prefix + "/"):
        raise ConfigError(f"release {release.name}: {key} is not under release_prefix "
                          f"{publication.prefix}")  # fmt: skip
    where = f"release {release.name}: s3://{publication.bucket}/{key}"
    try:
        answer = aws.call("s3", publication.region, "GetObject", Bucket=publication.bucket,
                          Key=key)  # fmt: skip
        data = answer["Body"].read()
    except (ClientError, BotoCoreError) as e:
        # S3's refusal names no action, and answers a missing object so too without ListBucket.
        hint = (" (the host's role needs s3:GetObject on it; it may also not be there: publish "
                "it)") if isinstance(e, ClientError) and "AccessDenied" in aws.reason(e) else ""
        raise SourceError(f"{where}: {aws.reason(e)}{hint}",
                          unreachable=aws.unreachable(e)) from None  # fmt: skip
    if hashlib.sha256(data).hexdigest() != release.archive.sha256:
        raise ConfigError(f"{where} is not the release its description names (its sha256 "
                          "differs): refused")  # fmt: skip
    private_dir(STATE_DIR)
    path = f"{STATE_DIR}/.{config.name}.release.{os.getpid()}.tar.gz"
    write(path, data)
    atexit.register(lambda: os.path.exists(path) and os.unlink(path))
    return Path(path)


def _carry_out(config: AppConfig, found: plans.AppPlan, say: Said) -> int:
    """``found`` carried out here, in the push driver's order."""
    if found.packages:
        say(f"this host lacks {', '.join(found.packages)}: the agent installs no package (put "
            "them in the image; a deploy in pull mode installs them)")  # fmt: skip
        return status.REFUSED
    if found.provision:
        ran = run("provision", found.provision.plan(), found.provision.payload())
        text = "\n".join(line for line in (*ran.stdout, *ran.stderr) if line.strip())
        if text:
            say(scrub(text, found.provision.secrets))
        if ran.status == ACTIVATION_LOCKED:
            return status.LOCKED
        if ran.status != 0:
            say(f"the provisioning failed (status {ran.status})")
            return status.ERROR
    if found.activation is not None:
        plan = found.activation
        ran = run("activate", plan.plan(), plan.payload(), timeout=plan.timeout)
        for line in said(ran.stdout, ran.stderr, plan.secrets).lines:
            say(line)
        return {HEALTHY: status.CHANGED, ROLLED_BACK: status.ROLLED_BACK, BROKEN: status.BROKEN,
                ACTIVATION_LOCKED: status.LOCKED, STALE: STALE_AGAIN}.get(
                    ran.status, status.REFUSED if ran.status == 3 else status.ERROR)  # fmt: skip
    if found.manifest is not None and found.manifest.content is not None:
        write(found.manifest.path, found.manifest.content.encode(), mode=0o640,
              group=grp.getgrnam(config.user).gr_gid)  # fmt: skip
        say(f"{found.manifest.path}: written (versions moved; nothing the app reads changed)")
        return status.CHANGED
    return status.CHANGED if found.provision else status.UNCHANGED


def _kept(config: AppConfig, description: Description, text: str,
          variables: dict[str, Variable], code: int, *, from_last_good: bool) -> None:  # fmt: skip
    """After a healthy sync: the description it read, kept for a boot without AWS, and the
    values as the last known good configuration (written when they changed, else confirmed);
    neither when it started from that copy (AWS confirmed nothing)."""
    if from_last_good:
        return
    private_dir(STATE_DIR)
    write(cached(config.name), text.encode())
    if code == status.CHANGED or not lastgood.exists(config.name):
        lastgood.save(config.name, variables)
    else:
        lastgood.confirm(config.name)
