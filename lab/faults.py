"""A fault-injecting HTTP proxy in front of the AWS stand-in, for tests and demonstrations.

boto3 reaches it like any endpoint (``AWS_ENDPOINT_URL=http://127.0.0.1:<port>``). It forwards
each request to moto unchanged, except those a :class:`Fault` matches: those it answers itself
with the error AWS would send (``ThrottlingException``, ``AccessDeniedException``...), in the JSON
protocol's shape botocore parses (HTTP 400, ``{"__type": ..., "message": ...}``), or, for
``BatchGetSecretValue``, it forwards the request and moves one secret from ``SecretValues`` to
``Errors``, as AWS reports a secret it cannot read. It counts what it forwarded and what it
injected, per operation: with no fault, it is the benchmark's counter of the API calls a run makes.

    python -m lab.faults --upstream http://127.0.0.1:5055 --port 5056 --throttle 3
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

# Headers that describe one hop, not the message: never forwarded.
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass
class Fault:
    """One injected failure.

    + operation: the API operation(s) it hits (``GetParametersByPath``), or ``None`` for all
    + code, message, status: the error AWS would answer
    + match: only requests whose JSON body mentions this (a parameter name or secret id)
    + times: only the first N matching requests; ``None`` for all of them
    + per_secret: for ``BatchGetSecretValue``: report ``match`` in ``Errors``, not fail the call
    """

    operation: str | tuple[str, ...] | None = None
    code: str = "ThrottlingException"
    message: str = "Rate exceeded"
    status: int = 400
    match: str | None = None
    times: int | None = None
    per_secret: bool = False

    def hits(self, operation: str, body: bytes) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        wanted = (self.operation,) if isinstance(self.operation, str) else self.operation
        if wanted is not None and operation not in wanted:
            return False
        return self.match is None or self.match.encode() in body


def throttling(times: int, operation: str | None = None) -> Fault:
    """``ThrottlingException`` to the first ``times`` requests (of ``operation``, or any)."""
    return Fault(operation, "ThrottlingException", "Rate exceeded", times=times)


def access_denied(operation: str, match: str | None = None) -> Fault:
    """``AccessDeniedException`` as IAM words it, to every request of ``operation``."""
    service = "secretsmanager" if "Secret" in operation else "ssm"
    message = (
        f"User: arn:aws:sts::123456789012:assumed-role/deploy/ci is not authorized to perform: "
        f"{service}:{operation} because no identity-based policy allows the "
        f"{service}:{operation} action"
    )
    return Fault(operation, "AccessDeniedException", message, match=match)


def decryption_failure(secret_id: str) -> Fault:
    """Secrets Manager cannot decrypt ``secret_id`` with its KMS key: an ``Errors`` entry of
    ``BatchGetSecretValue`` (and the ``DecryptionFailure`` error of ``GetSecretValue``)."""
    message = "Secrets Manager can't decrypt the protected secret text using the provided KMS key."
    operations = ("BatchGetSecretValue", "GetSecretValue")
    return Fault(operations, "DecryptionFailure", message, match=secret_id, per_secret=True)


def ssm_kms_denied(operation: str, match: str | None = None) -> Fault:
    """SSM cannot decrypt a SecureString: the caller may not use its KMS key."""
    message = (
        "User: arn:aws:sts::123456789012:assumed-role/deploy/ci is not authorized to perform: "
        "kms:Decrypt on resource: arn:aws:kms:us-east-1:123456789012:key/"
        "00000000-0000-0000-0000-000000000000 because no identity-based policy allows the "
        "kms:Decrypt action"
    )
    return Fault(operation, "AccessDeniedException", message, match=match)


class FaultProxy:
    """The proxy; a context manager that serves on 127.0.0.1 in a background thread."""

    def __init__(self, upstream: str, faults: Iterable[Fault] = (), port: int = 0):
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.faults: list[Fault] = list(faults)
        self.forwarded: Counter[str] = Counter()  # operation -> requests that reached upstream
        self.injected: Counter[str] = Counter()  # operation -> requests answered with a fault
        self.times: list[float] = []  # when each forwarded request arrived (time.monotonic)
        #: Every request as it arrived, when ``record``: (operation, body), in order.
        self.requests: list[tuple[str, bytes]] = []
        self.record = False
        #: At most this many requests a second (of ``limited`` operations, or all) reach the
        #: stand-in; the others are answered ThrottlingException, as SSM answers past its
        #: throughput (``rate_limit``).
        self.per_second: float | None = None
        self.limited: frozenset[str] | None = None
        self._admitted: deque[float] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_faults(self, *faults: Fault) -> None:
        """Replace the faults and reset the counts."""
        with self._lock:
            self.faults = list(faults)
        self.reset_counts()

    def reset_counts(self) -> None:
        """Start counting from zero, keeping the faults."""
        with self._lock:
            self.forwarded.clear()
            self.injected.clear()
            self.times.clear()
            self.requests.clear()

    def rate_limit(self, per_second: float | None, operations: Iterable[str] | None = None
                   ) -> None:  # fmt: skip
        """Let at most ``per_second`` requests (of ``operations``, default all) through in any
        one second, as a service's throughput quota does: the rest are throttled. ``None``: no
        limit."""
        with self._lock:
            self.per_second = per_second
            self.limited = frozenset(operations) if operations is not None else None
            self._admitted.clear()

    def _over_rate(self, operation: str, now: float) -> bool:
        """Whether a request of ``operation`` arriving ``now`` is beyond the rate (else it is
        admitted, and counted in the window)."""
        with self._lock:
            if self.per_second is None or (self.limited is not None
                                           and operation not in self.limited):  # fmt: skip
                return False
            while self._admitted and self._admitted[0] <= now - 1.0:
                self._admitted.popleft()
            if len(self._admitted) >= self.per_second:
                return True
            self._admitted.append(now)
            return False

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()

    def _pick(self, operation: str, body: bytes) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.hits(operation, body):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def _count(self, counter: Counter[str], operation: str, arrived: float | None = None) -> None:
        with self._lock:
            counter[operation] += 1
            if arrived is not None:
                self.times.append(arrived)


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as boto3 expects of AWS

        def log_message(self, *_: Any) -> None:  # quiet: tests read the counters instead
            pass

        def do_POST(self) -> None:
            arrived = time.monotonic()
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            # JSON-protocol services name the operation in X-Amz-Target: "AmazonSSM.GetParameters".
            operation = (self.headers.get("X-Amz-Target") or "").rpartition(".")[2]
            if not operation and body.startswith(b"Action="):  # the query protocol (EC2, IAM)
                operation = body[7:].split(b"&", 1)[0].decode(errors="replace")
            if proxy.record:
                with proxy._lock:
                    proxy.requests.append((operation, body))
            if proxy._over_rate(operation, arrived):
                proxy._count(proxy.injected, operation)
                error = {"__type": "ThrottlingException", "message": "Rate exceeded"}
                return self._answer(400, json.dumps(error).encode(), _JSON)
            fault = proxy._pick(operation, body)
            if fault is not None and not (fault.per_secret and operation == "BatchGetSecretValue"):
                proxy._count(proxy.injected, operation)
                error = {"__type": fault.code, "message": fault.message}
                return self._answer(fault.status, json.dumps(error).encode(), _JSON)
            status, headers, answer = self._forward(body)
            proxy._count(proxy.forwarded, operation, arrived)
            if fault is not None and status == 200:
                proxy._count(proxy.injected, operation)
                answer = _move_to_errors(answer, fault)
            self._answer(status, answer, headers.get("Content-Type", _JSON))

        do_GET = do_POST  # moto's own API and health checks pass straight through
        do_PUT = do_DELETE = do_POST  # S3's objects (a publish through the proxy)

        def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
            connection = http.client.HTTPConnection(*proxy.upstream, timeout=60)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                return response.status, dict(response.getheaders()), response.read()
            finally:
                connection.close()

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


_JSON = "application/x-amz-json-1.1"


def _move_to_errors(answer: bytes, fault: Fault) -> bytes:
    """Report the secret ``fault.match`` in ``Errors`` instead of ``SecretValues``."""
    page = json.loads(answer)
    kept = [s for s in page.get("SecretValues", []) if fault.match not in (s["Name"], s["ARN"])]
    page["SecretValues"] = kept
    error = {"SecretId": fault.match, "ErrorCode": fault.code, "Message": fault.message}
    page["Errors"] = [*page.get("Errors", []), error]
    return json.dumps(page).encode()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m lab.faults", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--upstream", default="http://127.0.0.1:5055", help="the stand-in's URL")
    parser.add_argument("--port", type=int, default=5056)
    parser.add_argument("--throttle", type=int, default=0, help="throttle the first N requests")
    parser.add_argument(
        "--deny",
        metavar="OPERATION",
        action="append",
        default=[],
        help="answer AccessDeniedException to OPERATION (repeatable)",
    )
    parser.add_argument(
        "--undecryptable",
        metavar="SECRET_ID",
        action="append",
        default=[],
        help="report SECRET_ID as DecryptionFailure (repeatable)",
    )
    args = parser.parse_args(argv)
    faults = [throttling(args.throttle)] if args.throttle else []
    faults += [access_denied(op) for op in args.deny]
    faults += [decryption_failure(s) for s in args.undecryptable]
    proxy = FaultProxy(args.upstream, faults, args.port)
    print(f"fault proxy on {proxy.url} -> {args.upstream}; AWS_ENDPOINT_URL={proxy.url}")
    try:
        proxy._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        print(f"forwarded {dict(proxy.forwarded)}, injected {dict(proxy.injected)}")


if __name__ == "__main__":
    main()
