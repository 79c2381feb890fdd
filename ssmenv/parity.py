"""Parity: the variable names one environment has and another has not (staging against prod).

    python -m ssmenv parity staging prod

Each environment is a group of group data: ``group_data/all.py``, then ``group_data/<name>.py``
on top, as pyinfra layers them. Its sources are read as a deploy reads them and merged by the
same rules; only names (and where each comes from) are compared and printed, never values.

Exit status, as ``diff``: 0 when both have the same names, 2 when they differ, 1 when an
environment's settings are not valid or one of its sources could not be read (the comparison
would be wrong), or on bad usage.
"""

from __future__ import annotations

import argparse
import runpy
import sys
import types
from pathlib import Path
from typing import Any

from ssmenv import origins, report, sources
from ssmenv.config import REPO_ROOT, AppConfig
from ssmenv.errors import SsmEnvError
from ssmenv.variables import Composition, compose


class GroupData(dict[str, Any]):
    """Host data of a host in one group, and the file each key was set in (``origin``, for
    messages: "required by env_required in group_data/all.py")."""

    def __init__(self) -> None:
        super().__init__()
        self.files: dict[str, Path] = {}

    def origin(self, key: str) -> str | None:
        return origins.shown(self.files[key]) if key in self.files else None


def group_data(directory: Path, group: str) -> GroupData:
    """Host data of a host in ``group`` only: ``all.py`` then ``<group>.py``, later wins."""
    data = GroupData()
    for name in ("all", group):
        path = directory / f"{name}.py"
        if name == group and not path.is_file():
            raise SsmEnvError(f"{path}: no such group data file")
        if path.is_file():
            settings = {
                key: value
                for key, value in runpy.run_path(str(path)).items()
                # What pyinfra keeps: settings, not dunders or what the file imported.
                if not key.startswith("__")
                and not isinstance(value, types.ModuleType | type | types.FunctionType)
            }
            data.update(settings)
            data.files.update(dict.fromkeys(settings, path))
    return data


def environment(directory: Path, group: str) -> tuple[AppConfig, Composition]:
    config = AppConfig.from_data(group_data(directory, group))
    return config, compose(config, sources.fetch(config.sources))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("first", help="a group data name, e.g. staging")
    parser.add_argument("second", help="another, e.g. prod")
    parser.add_argument(
        "--group-data",
        type=Path,
        default=REPO_ROOT / "group_data",
        help="directory of group data files (default: the checkout's group_data; for an "
        "installed package, the working directory's)",
    )


def run(args: argparse.Namespace) -> int:
    """Compare ``args.first`` with ``args.second``; print names only; return the exit status."""
    found: dict[str, Composition] = {}
    status = 0
    for group in (args.first, args.second):
        try:
            config, composition = environment(args.group_data, group)
        except SsmEnvError as e:
            print(f"{group}: {e}", file=sys.stderr)
            return report.ERROR
        found[group] = composition
        print(f"{group}: {len(composition.variables)} variables ({config.sources_summary})")
        if composition.problems:
            # Not fatal for the comparison, unless a source was not read: then names are missing.
            print(f"{group}: would not deploy as is:", file=sys.stderr)
            for problem in composition.problems:
                print(f"  {problem}", file=sys.stderr)
            if not composition.complete:
                status = report.ERROR

    first, second = (found[args.first].variables, found[args.second].variables)
    differ = False
    for group, mine, theirs in ((args.first, first, second), (args.second, second, first)):
        only = sorted(set(mine) - set(theirs))
        differ = differ or bool(only)
        listed = ", ".join(f"{n} (from {mine[n].source})" for n in only) or "(none)"
        print(f"only in {group}: {listed}")
    return status or (report.DIFFERS if differ else report.CLEAN)



if __name__ == "__main__":
    # `python -m ssmenv.parity ARGS` is `python -m ssmenv parity ARGS`, run by the front door by
    # name: this module imports nothing of the CLI that lists it (no import cycle).
    sys.argv[1:1] = ["parity"]
    runpy.run_module("ssmenv", run_name="__main__", alter_sys=True)
