"""Per-host reports over a pipe, from the deploy files to ``python -m ssmenv drift`` / ``plan``."""

from __future__ import annotations

import sys

import pytest

from ssmenv import report
from ssmenv.report import HostReport, ReportError

EMIT = "import sys; from ssmenv import report; {}"


def python(code: str) -> list[str]:
    return [sys.executable, "-c", EMIT.format(code)]


def test_each_host_report_comes_back_through_the_pipe_and_nothing_else_does():
    status, reports = report.run(
        python("report.emit('app-1', True, ['SESSION_SECRET']); report.emit('app-2', False);"
               "print('pyinfra output goes to ours')"),
    )  # fmt: skip
    assert status == 0
    assert reports == [HostReport("app-1", True, ("SESSION_SECRET",)), HostReport("app-2", False)]


def test_reports_larger_than_a_pipe_buffer_do_not_block_the_run():
    names = [f"NAME_{i:05d}" for i in range(200)]
    status, reports = report.run(
        python(f"[report.emit(f'host-{{i}}', True, {names!r}) for i in range(500)]")
    )
    assert status == 0 and len(reports) == 500  # 1.4 MB: 20 times a pipe's buffer
    assert all(r.names == tuple(names) for r in reports)


def test_the_childs_exit_status_is_returned_with_what_it_reported():
    status, reports = report.run(python("report.emit('app-1', False); sys.exit(1)"))
    assert (status, reports) == (1, [HostReport("app-1", False)])


def test_without_the_variable_nothing_is_written(monkeypatch):
    monkeypatch.delenv(report.ENV, raising=False)
    report.emit("app-1", True, ["A"])  # a plain pyinfra run: no pipe, no error


def test_an_unusable_descriptor_is_an_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv(report.ENV, "not-a-number")
    with pytest.raises(ReportError, match=report.ENV):
        report.emit("app-1", True, ["A"])


def test_a_line_that_is_not_a_host_report_is_an_error():
    assert report.parse([b'{"host": "a", "differs": false, "names": []}\n']) == [
        HostReport("a", False)
    ]
    for line in (b"drift: A v1->v2\n", b'{"host": "a"}\n', b'{"host": "a", "differs": "no", '
                 b'"names": []}\n'):  # fmt: skip
        with pytest.raises(ReportError, match="line 1 is not a host report"):
            report.parse([line])
