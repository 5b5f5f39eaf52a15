"""great-expectations in a worker process, so that its import overlaps the other layers.

Importing great-expectations takes 1.4 s even with scipy.stats and altair deferred
(`nkru.layers.expectations.DEFERRED_MODULES`; it imports SQLAlchemy, pandas and a dozen
connectors whatever it is used for), about as long as reading and checking 100,000 claims. `nkru.api` therefore
starts this worker as soon as it knows the expectations layer will run, and the worker imports
great-expectations while this process reads the tables and runs the structure and rules layers.
The expectations layer then sends each batch's frame (polars, as Arrow IPC) with its suite and
gets back the failed expectations as plain JSON: the same `GreatExpectations.validate` runs on the
same frame in either process, and the same `_findings` maps its outcome (tests/test_gx_worker.py
runs both paths and compares the reports).

Messages are length-prefixed: 16 bytes (the JSON header's length and the payload's, little
endian), the JSON header, then the payload (the frame) if any. The worker's answers follow a
MARKER, so that whatever the interpreter printed while starting is skipped. Nothing from the package reaches
the worker except through these frames and suites, which the layer builds as before.

The worker exits when its input closes, so it never outlives this process: on Linux it also asks
the kernel to kill it when this process dies (a kill -9 included). It ignores Ctrl-C, which this
process handles. A worker that cannot start leaves the layer to run in this process; one that
dies or fails mid-run is a `layer-error` finding naming its exit status and last words.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import queue
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

_HEADER = struct.Struct("<QQ")
#: The tables' total size (bytes of CSV) up to which `nkru.api` starts a worker by default: beyond it
#: the import is a small part of the run, and the worker's copy of a batch would add to the peak memory.
AUTO_LIMIT = 256 << 20
#: Environment variable: "1" runs great-expectations in this process (`nkru validate --in-process`).
IN_PROCESS_ENV = "NKRU_IN_PROCESS"


#: The folder this `nkru` was imported from. The worker imports the same `nkru` (looked for there
#: after the installed packages), never one from the folder `nkru` runs in: `-P` keeps the working
#: directory, which may be a stranger's package holding a folder called nkru, off the import path.
_HOME = str(Path(__file__).resolve().parents[2])
_BOOT = ("import sys; sys.path.append(sys.argv[1]); "
         "from nkru.layers.gx_worker import main; main(sys.argv[2:])")


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity where the system says, else all of them)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class WorkerFailed(RuntimeError):
    """The worker died or failed; `kind` is the error's kind (an exception name in the worker)."""

    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind = kind


def _send(stream: IO[bytes], header: dict[str, Any], payload: bytes = b"") -> None:
    data = json.dumps(header).encode()
    stream.write(_HEADER.pack(len(data), len(payload)))
    stream.write(data)
    if payload:
        stream.write(payload)
    stream.flush()


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


#: What the worker writes first on its replies stream. Anything before it (a `sitecustomize` that
#: prints while the interpreter starts, before the worker can redirect its standard output) is
#: skipped, up to MARKER_SEARCH bytes.
MARKER = b"\x00nkru-gx-worker-1\x00"
MARKER_SEARCH = 1 << 20
#: No message is larger (a batch of a package under AUTO_LIMIT is far smaller): a larger size means
#: the stream is not what the other side wrote.
MAX_MESSAGE = 8 << 30


def _skip_to_marker(stream: IO[bytes]) -> bool:
    """Read up to and including MARKER; False when the stream ends (or runs too long) first."""
    window = b""
    for _ in range(MARKER_SEARCH + len(MARKER)):
        byte = stream.read(1)
        if not byte:
            return False
        window = (window + byte)[-len(MARKER):]
        if window == MARKER:
            return True
    return False


def _receive(stream: IO[bytes]) -> tuple[dict[str, Any], bytes] | None:
    """The next message, or None when the stream ended."""
    sizes = _read_exactly(stream, _HEADER.size)
    if sizes is None:
        return None
    header_size, payload_size = _HEADER.unpack(sizes)
    if header_size > MAX_MESSAGE or payload_size > MAX_MESSAGE:
        raise ValueError(f"a message of {header_size} + {payload_size} bytes: the stream is not the worker's")
    header = _read_exactly(stream, header_size)
    payload = _read_exactly(stream, payload_size) if payload_size else b""
    if header is None or payload is None:
        return None
    return json.loads(header), payload


# -- this process's side ------------------------------------------------------

_REAPERS: list[threading.Thread] = []  # threads waiting for closed workers to exit


def wait_for_exits(timeout: float) -> None:
    """Wait (up to `timeout` seconds in all) until every closed worker has exited."""
    import time

    deadline = time.monotonic() + timeout
    while _REAPERS:
        _REAPERS.pop().join(max(0.0, deadline - time.monotonic()))


class Worker:
    """A running worker: `submit` sends a call and returns at once, `result` gives its answer (calls are
    answered in order). Two threads move the bytes, so that neither side ever blocks on a full pipe
    while the other waits: one writes the calls, one reads the answers."""

    def __init__(self, process: subprocess.Popen, errors: IO[bytes]):
        self.process = process
        self.errors = errors  # the worker's stderr, a temporary file (a pipe nobody reads could fill and block it)
        self._calls: queue.Queue = queue.Queue()
        self._answers: queue.Queue = queue.Queue()
        self._sent = 0
        self._received: dict[int, dict[str, Any]] = {}
        self._next = 0  # the ticket of the next answer to arrive
        self._ended = False
        self._closing = False
        self._writer = threading.Thread(target=self._write, name="nkru-gx-calls", daemon=True)
        self._reader = threading.Thread(target=self._read, name="nkru-gx-answers", daemon=True)
        self._writer.start()
        self._reader.start()

    @classmethod
    def start(cls) -> "Worker | None":
        """Start a worker, or None when no process can be started here (then run in this process)."""
        if not sys.executable or getattr(sys, "frozen", False):  # no interpreter to start (a frozen app)
            return None
        errors = None
        try:
            errors = tempfile.TemporaryFile()
            process = subprocess.Popen([sys.executable, "-P", "-c", _BOOT, _HOME, str(os.getpid())],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors,
                                       close_fds=True)
        except OSError:  # no temporary file, no process: run in this one
            if errors is not None:
                errors.close()
            return None
        return cls(process, errors)

    def _write(self) -> None:
        while (call := self._calls.get()) is not None:
            try:
                _send(self.process.stdin, *call)
            except (OSError, ValueError):  # the worker is gone: the reader sees its output end
                break
        with contextlib.suppress(OSError, ValueError):
            self.process.stdin.close()  # the worker's input ends: it exits

    def _read(self) -> None:
        try:
            started = _skip_to_marker(self.process.stdout)
        except Exception:  # noqa: BLE001
            started = False
        while started:
            try:
                reply = _receive(self.process.stdout)
            except Exception:  # noqa: BLE001 -- a broken or garbled stream ends the worker's answers, never this thread silently
                reply = None
            self._answers.put(reply[0] if reply is not None else None)
            if reply is None:
                return
        self._answers.put(None)  # no marker: the worker never started

    def submit(self, call: str, **arguments: Any) -> int:
        payload = b""
        if "frame" in arguments:
            frame = arguments.pop("frame")
            frame = frame.take() if hasattr(frame, "take") else frame  # a Handover: this is its last holder
            buffer = io.BytesIO()
            frame.write_ipc(buffer, compression="uncompressed")
            del frame
            payload = buffer.getvalue()
        self._calls.put(({"call": call, **arguments}, payload))
        self._sent += 1
        return self._sent - 1

    def result(self, ticket: int, *, wait: bool = True) -> dict[str, Any] | None:
        """The answer to call `ticket`, or None when `wait` is false and it has not come yet; raises
        WorkerFailed when the worker died first or the call failed there."""
        while ticket not in self._received:
            if self._ended:
                raise WorkerFailed("WorkerDied", self._last_words())
            try:
                answer = self._answers.get(block=wait)
            except queue.Empty:
                return None
            if answer is None:
                self._ended = True
                continue
            self._received[self._next] = answer
            self._next += 1
        answer = self._received.pop(ticket)
        if "error" in answer:
            raise WorkerFailed(answer["error"]["kind"], answer["error"]["detail"])
        return answer

    def _last_words(self) -> str:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        status = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
        self.errors.seek(0)
        lines = [line for line in self.errors.read().decode("utf-8", "replace").splitlines() if line.strip()]
        said = f": {lines[-1].strip()[:200]}" if lines else ""
        return f"the great-expectations worker process ended ({status}){said}"

    def close(self, *, wait: bool = True) -> None:
        """Stop the worker: its input closes and it exits (killed if it has not within 5 s). With
        `wait` false a thread waits for that, and this returns at once: a worker that has answered
        every call has nothing left to say, and its exit (unmapping great-expectations' few hundred
        MB) need not delay the report."""
        if not self._closing:
            self._closing = True
            self._calls.put(None)
        if not wait:
            reaper = threading.Thread(target=self.close, name="nkru-gx-reaper", daemon=True)
            reaper.start()
            _REAPERS.append(reaper)
            return
        self._writer.join(timeout=5)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=5)
        for stream in (self.process.stdin, self.process.stdout, self.errors):
            with contextlib.suppress(OSError, ValueError):
                stream.close()


# -- the worker's side --------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this process when the parent dies (PR_SET_PDEATHSIG); elsewhere the
    closed input ends it once the import is done."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the line above
        os._exit(0)


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> int:
    """Answer calls until the input ends."""
    import polars as pl

    from nkru.layers.expectations import GreatExpectations

    runner = GreatExpectations()  # the import and the context: the slow part, done before the first call
    calls = {"open_site", "validate", "build_docs"}
    while (message := _receive(stdin)) is not None:
        header, payload = message
        try:
            call = header.pop("call")
            if call not in calls:
                raise ValueError(f"unknown call {call!r}")
            if payload:
                header["frame"] = pl.read_ipc(io.BytesIO(payload))
            del payload
            answer = getattr(runner, call)(**header)
        except Exception as exc:  # noqa: BLE001 -- the parent reports it as a layer-error, as it would its own
            answer = {"error": {"kind": type(exc).__name__, "detail": str(exc)}}
        _send(stdout, answer if isinstance(answer, dict) else {})
    return 0


def main(argv: list[str]) -> int:
    parent = int(argv[0]) if argv and argv[0].isdigit() else os.getppid()
    _die_with_parent(parent)
    # The replies get the real standard output; anything a library prints goes to standard error.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    replies.write(MARKER)
    replies.flush()
    import gc

    # No cyclic garbage collection for the worker's life (as in `nkru.api` while the layers run):
    # with great-expectations loaded each full collection walks some 300,000 objects, and the data
    # lives in Arrow buffers. Re-enabling it at the end would cost a full collection on the way out.
    gc.disable()
    code = serve(sys.stdin.buffer, replies)
    # Nothing is left to clean up (replies are flushed, Data Docs written): skip the interpreter's
    # shutdown, which would walk those objects again.
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # (started as `python -P -c _BOOT`, which calls main)
    sys.exit(main(sys.argv[1:]))
