"""Move a ``.env`` file into AWS: SSM SecureStrings, or one Secrets Manager JSON secret.

The file is read in python-dotenv's dialect (``dotenv_values``: quotes, ``export``, comments,
multi-line values, ``${VAR}`` references resolved as dotenv resolves them), so what lands in AWS is
what the app saw locally. Three steps, so nothing is written unless all of it can be:

1. :func:`read` the file; :func:`problems` lists everything the deploy (or SSM) would refuse;
2. :func:`plan` reads what exists already and classifies each variable as new, same or differing;
3. :func:`apply` writes the new ones (and the differing ones only when asked), tagged with their
   provenance.

Plans, reports and errors name variables, parameters and secrets; never a value, and never the
text of a line: a line is named by its number, and its name only when that is a valid variable
name on a line that holds more than the name (a key pasted without quotes reads as names).
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError
from dotenv import dotenv_values
from dotenv.parser import parse_stream
from dotenv.variables import Variable as Reference
from dotenv.variables import parse_variables

from ssmenv import aws, envfile
from ssmenv.errors import DotenvImportError
from ssmenv.names import is_variable

#: Largest value (UTF-8 bytes) each SSM parameter tier holds.
TIER_LIMITS = {"Standard": 4096, "Advanced": 8192, "Intelligent-Tiering": 8192}
#: Largest SecretString Secrets Manager takes.
SECRET_LIMIT = 65536
#: Names the deploy sets itself; an SSM parameter of that name would make it stop.
DEPLOY_SET = {"PORT": "the deploy sets PORT from app_port"}
#: Provenance tags put on everything written.
TAG_SOURCE, TAG_TIME = "ssmenv:source-file", "ssmenv:imported-at"

# SSM names: letters, digits and _.-/ (a leaf is a variable name, a subset of these).
_SSM_PATH = re.compile(r"/([A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*)?/?")
# A PEM block's first and last lines (RFC 7468), as in a private key or a certificate.
_PEM_BEGIN, _PEM_END = re.compile(r"-----BEGIN [A-Z0-9 ]+-----"), "-----END "
_PEM_PROBLEM = (
    "a PEM block without quotes ({}): dotenv takes its first line as the value and "
    "reads the others as lines of their own; put the whole block in double quotes"
)
_EMPTY_PROBLEM = (
    "empty, and SSM cannot store an empty parameter "
    "(set it in group data env, or leave it out with --exclude)"
)
_EQUALS_PROBLEM = (
    "nothing but a name and '=' signs (as a base64 token alone on a line reads); "
    "quote the value if '=' is meant"
)
# Characters AWS allows in a tag value; others are replaced by "_".
_TAG_UNSAFE = re.compile(r"[^\w\s.:/=+@-]")
# Writes are throttled sooner than reads (a few PutParameter a second by default): standard retries
# back off on ThrottlingException, with room for a long .env (the first try and 10 retries).
_ATTEMPTS = 11


class State(Enum):
    NEW = "new"
    SAME = "same"
    DIFFERS = "differs"


class PemBlock(NamedTuple):
    """A PEM block (a key, a certificate) given as a value without quotes."""

    name: str
    first: int  # the line of NAME=-----BEGIN ...-----
    last: int  # its -----END ...----- line (``first`` when there is none)


@dataclass(frozen=True)
class DotenvFile:
    """A ``.env`` file as python-dotenv reads it; ``repr`` shows no value and no name.

    A line of the file is named in messages by its number. Its name is printed too only when it
    is a valid variable name on a line that holds more than the name (see :meth:`label`): a
    secret pasted without quotes (a PEM block, a token alone on a line) reads as names.
    """

    path: Path
    #: Every name with a value, resolved as ``dotenv_values`` resolves it, in file order.
    values: dict[str, str] = field(repr=False)
    #: Name -> the line of the assignment that gives it its value (or none).
    lines: dict[str, int] = field(default_factory=dict, repr=False)
    #: Lines without ``=``: dotenv gives the name None and ``load_dotenv`` sets nothing for it.
    bare_lines: tuple[int, ...] = ()
    #: Lines python-dotenv cannot parse (it skips them with a warning).
    unparsed_lines: tuple[int, ...] = ()
    #: Each PEM block written without quotes: dotenv takes its first line as the value and reads
    #: each of the others as a line of its own.
    pem_blocks: tuple[PemBlock, ...] = ()
    #: Names never printed: invalid ones, and those of a line that is nothing but the name and
    #: ``=`` signs (``TOKEN``, ``TOKEN=``, ``TOKEN==``: what a token alone on a line reads as).
    unprintable: frozenset[str] = field(default_factory=frozenset, repr=False)
    #: Variable -> the ``${NAME}`` references it took from this process's environment.
    from_environment: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    #: Variable -> the ``${NAME}`` references defined nowhere (their default, or empty, was used).
    undefined: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)

    def in_pem_block(self, line: int) -> bool:
        """Whether ``line`` is inside a PEM block without quotes (after its first line)."""
        return any(block.first < line <= block.last for block in self.pem_blocks)

    def label(self, name: str) -> str:
        """How a message names the line of ``name``: ``line N: NAME``, or ``line N`` alone when
        the name may be a secret's text; a name not from the file (``(total)``) as it is."""
        line = self.lines.get(name)
        if line is None:
            return name
        if name in self.unprintable or self.in_pem_block(line):
            return f"line {line}"
        return f"line {line}: {name}"


@dataclass(frozen=True)
class Destination:
    """Where the variables go: SSM under ``ssm_path``, some of them into one JSON secret."""

    ssm_path: str
    secret_id: str | None = None
    secret_names: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    tier: str = "Standard"
    kms_key_id: str | None = None

    def parameter_name(self, name: str) -> str:
        return f"{self.ssm_path.rstrip('/')}/{name}"

    def target(self, name: str) -> str:
        """Where ``name`` goes, as printed: a parameter name or ``secret <id> key <name>``."""
        if name in self.secret_names:
            return f"secret {self.secret_id} key {name}"
        return self.parameter_name(name)


@dataclass(frozen=True)
class Step:
    """One variable of the plan: where it goes and how that compares with what exists."""

    name: str
    target: str
    state: State
    detail: str = ""  # e.g. "exists as String"; never a value


@dataclass
class Plan:
    """What an import would do; holds the values to write, but ``repr`` shows none."""

    source: DotenvFile
    destination: Destination
    steps: list[Step]
    #: The secret's current JSON object (None: the secret does not exist yet).
    secret_current: dict[str, Any] | None = field(default=None, repr=False)

    def conflicts(self) -> list[Step]:
        return [s for s in self.steps if s.state is State.DIFFERS]

    def to_write(self, overwrite: bool) -> list[Step]:
        allowed = {State.NEW, State.DIFFERS} if overwrite else {State.NEW}
        return [s for s in self.steps if s.state in allowed]


def read(path: Path) -> DotenvFile:
    """Read ``path`` as python-dotenv does, and note what dotenv would do silently."""
    try:
        # Text mode, like dotenv itself: universal newlines, so CRLF files give the same values.
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DotenvImportError(f"{path}: not UTF-8 text (python-dotenv reads UTF-8)") from None
    except OSError as e:
        raise DotenvImportError(f"{path}: {e.strerror or e}") from None
    resolved = dotenv_values(stream=io.StringIO(text))  # dotenv's own parse and interpolation

    unparsed, blocks, defined = [], [], set()
    lines: dict[str, int] = {}
    alone: set[str] = set()
    from_environment: dict[str, tuple[str, ...]] = {}
    undefined: dict[str, tuple[str, ...]] = {}
    for binding in parse_stream(io.StringIO(text)):
        if binding.error:
            unparsed.append(binding.original.line)
            continue
        if binding.key is None:  # a comment or a blank line
            continue
        # A later assignment replaces an earlier one, notes included.
        lines[binding.key] = binding.original.line
        from_environment.pop(binding.key, None)
        undefined.pop(binding.key, None)
        alone.discard(binding.key)
        if binding.original.string.strip().rstrip("=") == binding.key:
            alone.add(binding.key)
        if binding.value is not None:
            if _PEM_BEGIN.match(binding.value) and _PEM_END not in binding.value:
                blocks.append(_pem_block(text, binding.key, binding.original.line))
            # dotenv resolves ${NAME} from the names above it first, then from os.environ.
            refs = [a.name for a in parse_variables(binding.value) if isinstance(a, Reference)]
            outside = [r for r in dict.fromkeys(refs) if r not in defined]
            if env := tuple(r for r in outside if r in os.environ):
                from_environment[binding.key] = env
            if missing := tuple(r for r in outside if r not in os.environ):
                undefined[binding.key] = missing
        defined.add(binding.key)
    values = {k: v for k, v in resolved.items() if v is not None}
    return DotenvFile(
        path=path,
        values=values,
        lines=lines,
        bare_lines=tuple(sorted(lines[k] for k, v in resolved.items() if v is None)),
        unparsed_lines=tuple(unparsed),
        pem_blocks=tuple(blocks),
        unprintable=frozenset(k for k in lines if k in alone or not is_variable(k)),
        from_environment={k: v for k, v in from_environment.items() if k in values},
        undefined={k: v for k, v in undefined.items() if k in values},
    )


def _pem_block(text: str, name: str, first: int) -> PemBlock:
    """The PEM block that starts at line ``first``: up to its END line, or that line alone when
    there is none."""
    following = text.split("\n")[first:]
    ends = (n for n, line in enumerate(following, first + 1) if _PEM_END in line)
    return PemBlock(name, first, next(ends, first))


def _given(name: str) -> str:
    """A name from the command line as printed: escaped unless it is a valid name."""
    return name if is_variable(name) else repr(name)


def _reference(name: str) -> str:
    """A ``${NAME}`` reference as printed: one whose name is not a name is not shown."""
    return f"${{{name}}}" if is_variable(name) else "${...}"


def selected(source: DotenvFile, destination: Destination) -> dict[str, str]:
    """The variables to import: all with a value, less the excluded ones."""
    return {k: v for k, v in source.values.items() if k not in destination.exclude}


def problems(
    source: DotenvFile, destination: Destination, systemd_version: int | None = None
) -> list[str]:
    """Every reason the import cannot be done, all at once; empty when it can.

    Covers what the deploy would refuse (``ssmenv.envfile.problems``: names, NUL, invalid UTF-8,
    noncharacters, sizes; and names the deploy sets itself), what SSM cannot store (empty
    values, values over the tier's size) and secrets pasted without quotes (a PEM block, a
    token alone on a line). Messages name lines by number and valid names (``DotenvFile.label``),
    never a value or a line's text.
    """
    found = []  # about the command line
    if not _SSM_PATH.fullmatch(destination.ssm_path):
        found.append(
            f"--ssm-path {destination.ssm_path!r}: must start with / and hold only "
            "letters, digits and _.-/"
        )
    if destination.tier not in TIER_LIMITS:
        found.append(f"--tier {destination.tier!r}: must be one of {', '.join(TIER_LIMITS)}")
    for name in destination.exclude:
        if name not in source.values:
            found.append(f"{_given(name)}: excluded, but {source.path.name} gives it no value")
    for name in destination.secret_names:
        if name not in source.values:
            found.append(
                f"{_given(name)}: declared for secret {destination.secret_id}, but not set"
            )
        elif name in destination.exclude:
            found.append(f"{_given(name)}: both excluded and declared for the secret")

    lines: list[tuple[int, str]] = [  # about the file's lines: (line, message), in line order
        (n, f"line {n}: python-dotenv cannot parse it (it skips it)")
        for n in source.unparsed_lines
        if not source.in_pem_block(n)
    ]
    for name, first, last in source.pem_blocks:
        # Named by its own line: a later assignment of the name may have replaced it.
        where = f"line {first}: {name}" if is_variable(name) else f"line {first}"
        span = f"lines {first}-{last}" if last > first else "no END line"
        lines.append((first, f"{where}: {_PEM_PROBLEM.format(span)}"))
    # A PEM block's other lines are its problem, reported above, not variables of their own.
    values = {
        k: v
        for k, v in selected(source, destination).items()
        if not source.in_pem_block(source.lines[k])
    }
    limit = TIER_LIMITS.get(destination.tier, TIER_LIMITS["Standard"])
    reasons = [(p.name, p.reason) for p in envfile.problems(values, systemd_version)]
    for name, value in values.items():
        if name in DEPLOY_SET:
            reasons.append((name, f"{DEPLOY_SET[name]}; leave it out (--exclude {name})"))
        if name in destination.secret_names:
            continue
        size = len(value.encode("utf-8", "surrogatepass"))
        if size == 0:
            reasons.append((name, _EMPTY_PROBLEM))
        elif name in source.unprintable and not value.strip("="):
            reasons.append((name, _EQUALS_PROBLEM))
        elif size > limit:
            reasons.append(
                (name, f"{size} bytes, over the {limit} an SSM {destination.tier} parameter holds")
            )
    lines += [(source.lines.get(n, 0), f"{source.label(n)}: {reason}") for n, reason in reasons]
    return found + [message for _, message in sorted(lines, key=lambda line: line[0])]


def warnings(source: DotenvFile, destination: Destination) -> list[str]:
    """What the import does that the user may not expect; line numbers and valid names only."""
    notes = [
        f"line {n}: no '=' in {source.path.name}; dotenv sets nothing for it, so neither does "
        "this (the line is not shown: it may be a secret)"
        for n in source.bare_lines
        if not source.in_pem_block(n)
    ]
    values = selected(source, destination)
    for name, refs in source.from_environment.items():
        if name in values and not source.in_pem_block(source.lines[name]):
            taken = ", ".join(_reference(r) for r in refs)
            notes.append(
                f"{source.label(name)}: {taken} taken from this shell's environment, as dotenv does"
            )
    for name, refs in source.undefined.items():
        if name in values and not source.in_pem_block(source.lines[name]):
            missing = ", ".join(_reference(r) for r in refs)
            notes.append(
                f"{source.label(name)}: {missing} defined nowhere; dotenv used the default or ''"
            )
    return notes


def client(service: str, region: str | None = None):
    """A boto3 client the standard way: region from ``region`` or the standard chain, endpoint
    from ``AWS_ENDPOINT_URL`` (and ``AWS_ENDPOINT_URL_<SERVICE>``), credentials from the chain."""
    try:
        return aws.client(service, region, attempts=_ATTEMPTS, retry_mode="standard")
    except BotoCoreError as e:  # e.g. NoRegionError
        raise DotenvImportError(f"{service}: {e} (use --region or AWS_DEFAULT_REGION)") from None


def _aws_error(e: Exception, what: str, values: Iterable[str] = ()) -> DotenvImportError:
    """One line naming ``what`` and AWS's error code; AWS's message only when it holds no value."""
    return DotenvImportError(f"{what}: {aws.reason(e, withheld=values)}")


def _existing_parameters(ssm, names: Sequence[str]) -> dict[str, tuple[str, str]]:
    """Parameter name -> (value, type) for those of ``names`` that exist; 10 per request."""
    found: dict[str, tuple[str, str]] = {}
    for start in range(0, len(names), 10):
        batch = list(names[start : start + 10])
        try:
            page = ssm.get_parameters(Names=batch, WithDecryption=True)
        except (ClientError, BotoCoreError) as e:
            raise _aws_error(e, f"reading {', '.join(batch)}") from None
        for p in page.get("Parameters", []):
            found[p["Name"]] = (p["Value"], p["Type"])
    return found


def _existing_secret(sm, secret_id: str) -> dict[str, Any] | None:
    """The secret's JSON object, or None when there is no such secret."""
    try:
        current = sm.get_secret_value(SecretId=secret_id)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise _aws_error(e, f"secret {secret_id}") from None
    except BotoCoreError as e:
        raise _aws_error(e, f"secret {secret_id}") from None
    try:
        data = json.loads(current.get("SecretString") or "")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        # Merging keys into a plain-string or binary secret would destroy it.
        raise DotenvImportError(f"secret {secret_id}: exists but holds no JSON object; not touched")
    return data


def plan(
    source: DotenvFile, destination: Destination, ssm=None, secrets=None, region: str | None = None
) -> Plan:
    """Compare the variables with what exists in AWS; reads only, writes nothing."""
    values = selected(source, destination)
    to_ssm = [n for n in values if n not in destination.secret_names]
    steps: list[Step] = []
    if to_ssm:
        ssm = ssm or client("ssm", region)
        existing = _existing_parameters(ssm, [destination.parameter_name(n) for n in to_ssm])
        for name in to_ssm:
            target = destination.parameter_name(name)
            if target not in existing:
                steps.append(Step(name, target, State.NEW))
                continue
            value, kind = existing[target]
            if value == values[name] and kind == "SecureString":
                steps.append(Step(name, target, State.SAME))
            else:
                detail = "exists as String" if kind != "SecureString" else ""
                steps.append(Step(name, target, State.DIFFERS, detail))
    current = None
    if destination.secret_names:
        secrets = secrets or client("secretsmanager", region)
        current = _existing_secret(secrets, destination.secret_id or "")
        for name in destination.secret_names:
            target = destination.target(name)
            if current is None or name not in current:
                steps.append(Step(name, target, State.NEW))
            elif current[name] == values[name]:
                steps.append(Step(name, target, State.SAME))
            else:
                steps.append(Step(name, target, State.DIFFERS))
    result = Plan(source, destination, steps, current)
    if destination.secret_names:
        size = len(_secret_string(result, overwrite=True).encode("utf-8", "surrogatepass"))
        if size > SECRET_LIMIT:
            raise DotenvImportError(
                f"secret {destination.secret_id}: the JSON would be {size} bytes, "
                f"over the {SECRET_LIMIT} Secrets Manager takes"
            )
    return result


def _secret_string(plan: Plan, overwrite: bool) -> str:
    """The secret's new JSON: its current keys, plus the imported ones (replaced if allowed)."""
    merged = dict(plan.secret_current or {})
    values = plan.source.values
    for step in plan.steps:
        if step.name in plan.destination.secret_names and step in plan.to_write(overwrite):
            merged[step.name] = values[step.name]
    return json.dumps(merged, ensure_ascii=False, indent=2)


def _tag_value(text: str) -> str:
    return _TAG_UNSAFE.sub("_", text)[:256]


def provenance(source: Path, when: datetime) -> list[dict[str, str]]:
    """Tags saying where a value came from and when: file name and UTC import time."""
    return [
        {"Key": TAG_SOURCE, "Value": _tag_value(source.name)},
        {"Key": TAG_TIME, "Value": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
    ]


def apply(
    plan: Plan,
    overwrite: bool = False,
    ssm=None,
    secrets=None,
    region: str | None = None,
    now: datetime | None = None,
) -> list[Step]:
    """Write what the plan calls for and return the steps written.

    Differing values are replaced only with ``overwrite``; without it the caller should have
    stopped on :meth:`Plan.conflicts`, and they are left as they are. A failure part-way raises,
    naming what was written already and what was not.
    """
    destination, values = plan.destination, plan.source.values
    tags = provenance(plan.source.path, now or datetime.now(UTC))
    steps = plan.to_write(overwrite)
    done: list[Step] = []
    to_ssm = [s for s in steps if s.name not in destination.secret_names]
    to_secret = [s for s in steps if s.name in destination.secret_names]
    try:
        if to_ssm:
            ssm = ssm or client("ssm", region)
        for step in to_ssm:
            _put_parameter(ssm, step, values[step.name], destination, tags)
            done.append(step)
        if to_secret:
            secrets = secrets or client("secretsmanager", region)
            _put_secret(secrets, plan, _secret_string(plan, overwrite), tags)
            done += to_secret
    except (ClientError, BotoCoreError) as e:
        failed = next(s for s in steps if s not in done)
        error = _aws_error(e, f"writing {failed.target}", values.values())
        written = ", ".join(s.name for s in done) or "nothing"
        left = ", ".join(s.name for s in steps if s not in done)
        raise DotenvImportError(f"{error}\n  written: {written}\n  not written: {left}") from None
    return done


def _put_parameter(ssm, step: Step, value: str, destination: Destination, tags) -> None:
    kwargs: dict[str, Any] = {
        "Name": step.target,
        "Value": value,
        "Type": "SecureString",
        "Tier": destination.tier,
    }
    if destination.kms_key_id:
        kwargs["KeyId"] = destination.kms_key_id
    if step.state is State.NEW:
        ssm.put_parameter(**kwargs, Tags=tags)
    else:
        # PutParameter refuses Tags together with Overwrite: tag in a second call.
        ssm.put_parameter(**kwargs, Overwrite=True)
        ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=step.target, Tags=tags)


def _put_secret(sm, plan: Plan, secret_string: str, tags) -> None:
    secret_id = plan.destination.secret_id
    kms = {"KmsKeyId": plan.destination.kms_key_id} if plan.destination.kms_key_id else {}
    if plan.secret_current is None:
        sm.create_secret(Name=secret_id, SecretString=secret_string, Tags=tags, **kms)
    else:
        # A new version (AWSCURRENT); keys not in this import are kept as they were.
        sm.update_secret(SecretId=secret_id, SecretString=secret_string, **kms)
        sm.tag_resource(SecretId=secret_id, Tags=tags)


def describe(plan: Plan, overwrite: bool, done: bool) -> list[str]:
    """One line per variable: name, target, and what happens (``done``: what happened) to it."""
    width = max((len(s.name) for s in plan.steps), default=0)
    lines = []
    for step in plan.steps:
        if step.state is State.NEW:
            what = "created" if done else "new, would be created"
        elif step.state is State.SAME:
            what = "exists, same value"
        elif overwrite:
            what = "replaced" if done else "differs, would be replaced"
        else:
            what = "differs, kept (--overwrite replaces it)"
        detail = f" ({step.detail})" if step.detail else ""
        lines.append(f"  {step.name:<{width}}  {step.target}: {what}{detail}")
    return lines
