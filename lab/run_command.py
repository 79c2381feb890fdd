"""The part of Run Command AWS plays, for the lab: the AWS stand-in (moto) records a
``SendCommand`` but runs nothing. Started beside it, this finds the commands of the documents it
is told to carry out (held ``Pending`` by ``lab.moto_server``), reads each command's document
version, and on each instance's host runs the document's ``aws:runShellScript`` lines as the SSM
Agent does (a script file run by ``sh``, as root), ``MaxConcurrency`` hosts at a time in the
command's order, stopping once more than ``MaxErrors`` failed (the rest ``Cancelled``, as is what
``CancelCommand`` left); it reports each invocation to the stand-in as the SSM Agent reports it
(0 ``Success``, else ``Failed`` with the code, the output).

How the command reaches a host is the lab's (SSH, through ``run``), not the SSM Agent's channel.
"""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lab import aws

#: Runs ``script`` as root on the host of an instance: its exit status and output.
Runner = Callable[[str, str], tuple[int, str]]


class RunCommand:
    """A background thread carrying out the held documents' commands on ``hosts`` (instance id
    to whatever ``run`` takes)."""

    def __init__(self, port: int, documents: list[str], run: Runner, every: float = 0.2):
        self.port, self.documents, self.run, self.every = port, documents, run, every
        self.ran: list[tuple[str, str]] = []  # (command, instance), in the order they started
        self._seen: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._errors: list[BaseException] = []

    def _api(self, body: Mapping[str, Any]) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/moto-api/lab/run-command", method="POST",
            data=json.dumps(body).encode(), headers={"Content-Type": "text/plain"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=10):
            pass

    def __enter__(self) -> RunCommand:
        self._api({"hold": self.documents})
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._api({"hold": []})
        if self._errors:
            raise self._errors[0]

    def _loop(self) -> None:
        ssm = aws.client("ssm", self.port)
        while not self._stop.is_set():
            try:
                for command in ssm.list_commands().get("Commands", []):
                    if command["DocumentName"] in self.documents and \
                            command["Status"] == "Pending" and \
                            command["CommandId"] not in self._seen:  # fmt: skip
                        self._seen.add(command["CommandId"])
                        threading.Thread(target=self._carry_out, args=(ssm, command),
                                         daemon=True).start()  # fmt: skip
            except Exception as e:
                self._errors.append(e)
            time.sleep(self.every)

    def _carry_out(self, ssm: Any, command: Mapping[str, Any]) -> None:
        try:
            document = ssm.get_document(Name=command["DocumentName"],
                                        DocumentVersion=command["DocumentVersion"])  # fmt: skip
            steps = json.loads(document["Content"])["mainSteps"]
            script = "".join(f"{line}\n" for step in steps
                             for line in step["inputs"]["runCommand"])  # fmt: skip
            ids = list(command["InstanceIds"])
            at_once = _count(command["MaxConcurrency"], len(ids), least=1, up=True)
            allowed = _count(command["MaxErrors"], len(ids), least=0)
            failed = 0
            for start in range(0, len(ids), at_once):
                group = ids[start : start + at_once]
                if failed > allowed or self._cancelled(ssm, command["CommandId"], group):
                    for instance in group:
                        self._report(command["CommandId"], instance, "Cancelled", -1, "")
                    continue
                for instance in group:
                    self.ran.append((command["CommandId"], instance))
                    self._report(command["CommandId"], instance, "InProgress", -1, "")
                with ThreadPoolExecutor(len(group)) as pool:
                    results = list(pool.map(lambda i: self.run(i, script), group))
                for instance, (code, output) in zip(group, results, strict=True):
                    status = "Success" if code == 0 else "Failed"
                    failed += status != "Success"
                    self._report(command["CommandId"], instance, status, code, output)
        except Exception as e:
            self._errors.append(e)

    def _cancelled(self, ssm: Any, command_id: str, group: list[str]) -> bool:
        listed = ssm.list_command_invocations(CommandId=command_id)["CommandInvocations"]
        return any(i["Status"] == "Cancelled" for i in listed if i["InstanceId"] in group)

    def _report(self, command: str, instance: str, status: str, code: int, output: str) -> None:
        self._api({"command": command, "instance": instance, "status": status, "code": code,
                   "output": output[-2500:]})  # Run Command lists 2,500 characters of it


def _count(value: str, total: int, least: int, up: bool = False) -> int:
    """``MaxConcurrency`` or ``MaxErrors`` (a number or a percentage of ``total``, rounded
    ``up`` or down) as a count."""
    if value.endswith("%"):
        share = int(value[:-1]) * total / 100
        return max(least, math.ceil(share) if up else math.floor(share))
    return max(least, int(value))
