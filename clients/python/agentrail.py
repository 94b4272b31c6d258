"""agentrail: record what an AI agent does in an agentrail audit trail.

One file, standard library only, Python 3.9 or later. Copy it next to your
agent and::

    from agentrail import Trail

    with Trail("http://127.0.0.1:8081", token, actor="agent-1") as trail:
        with trail.session("s-42") as s:
            call = s.llm_call("m-large", input_tokens=812, output_tokens=64)
            s.tool_call("search", arguments={"q": "x"}, result=[...],
                        parent_event_id=call)

Events get a client-side UUIDv7 ``event_id`` (so every retry is idempotent)
and a client-side ``ts``, are sent in batches by a background thread
(``POST /api/v1/events``, gzip when large), retried with exponential back-off
that honours ``Retry-After``, and, while the server cannot take them, kept
in an on-disk spool (append-only NDJSON, fsync'd) that is replayed in order,
before anything newer, when it can. See README.md beside this file.
"""

from __future__ import annotations

import atexit
import datetime as _dt
import email.utils
import errno
import fcntl
import gzip
import hashlib
import http.client
import json
import logging
import os
import random
import re
import threading
import time
import traceback
import urllib.parse
import uuid
import weakref
from collections import deque
from typing import Any, Callable, Dict, Iterable, List, Optional

__version__ = "0.1.0"
__all__ = [
    "Trail",
    "Session",
    "TrailError",
    "DeliveryError",
    "AuthError",
    "uuid7",
    "KNOWN_FIELDS",
]

log = logging.getLogger("agentrail")

# The top-level fields of an event (docs/events.md); anything else belongs in
# 'detail'. The server refuses unknown keys; we refuse them at the call, where
# the typo is.
KNOWN_FIELDS = frozenset(
    (
        "event_id", "ts", "type", "level", "actor", "user_id", "agent_id",
        "agent_version", "model", "system_prompt_hash", "rules_hash",
        "trace_id", "session_id", "run_id", "workflow_step_id", "job_id",
        "parent_event_id", "step", "target", "reason", "outcome", "exit_code",
        "usage", "policy", "approval", "detail",
    )
)
_POLICY_DECISIONS = ("ALLOW", "DENY", "REQUIRE_APPROVAL")

MAX_EVENTS_PER_REQUEST = 10000  # the server's limit (docs/server.md)
_BODY_BUDGET = 4 << 20          # bytes of JSON per request before gzip
_SEGMENT_MAX = 8 << 20          # a spool segment is rotated past this size
_ADOPT_INTERVAL = 10.0          # seconds between looks for orphaned spool files
_ADOPT_MAX = 64                 # spool files taken over at a time (one fd each)
_MAX_ERRORS = 1000              # Trail.errors keeps the newest this many


# ---------------------------------------------------------------- errors


class TrailError(Exception):
    """Base of the errors this module raises."""


class DeliveryError(TrailError):
    """The server refused something, or the spool failed.

    ``kind`` is ``rejected`` (the event is invalid or too big: 400/413, never
    retried), ``conflict`` (its ``event_id`` is logged with other content:
    409, never retried), ``auth`` (401/403: the events stay in the spool),
    ``server`` (another answer the client cannot act on, such as a 404 for a
    wrong URL: the events stay in the spool) or ``spool`` (a spool file could
    not be written or read). ``status``, ``code``, ``at`` and the message come
    from the server's JSON error when there is one; ``event_id`` and
    ``event`` (a dict) name the event when one event is at fault.
    """

    def __init__(self, kind: str, message: str, *, status: Optional[int] = None,
                 code: Optional[str] = None, at: Optional[str] = None,
                 event_id: Optional[str] = None, event: Optional[dict] = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status
        self.code = code
        self.at = at
        self.event_id = event_id
        self.event = event

    def __str__(self) -> str:
        s = self.message
        if self.status is not None:
            s = "%d %s: %s" % (self.status, self.code or "error", s)
        if self.event_id:
            s += " (event %s)" % self.event_id
        return s


class AuthError(DeliveryError):
    """The server refused the token (401: missing or not live; 403: its
    role may not append). The events are kept in the spool."""


# ---------------------------------------------------------------- ids and times

_uuid_lock = threading.Lock()
_uuid_last_ms = 0
_uuid_counter = 0


def uuid7() -> str:
    """A new UUIDv7 string (RFC 9562): 48-bit Unix time in milliseconds,
    version 7, a 12-bit counter (randomly seeded each millisecond, so ids made
    in one process sort in creation order), variant 0b10, 62 random bits."""
    global _uuid_last_ms, _uuid_counter
    with _uuid_lock:
        ms = time.time_ns() // 1_000_000
        if ms > _uuid_last_ms:
            _uuid_last_ms = ms
            _uuid_counter = random.getrandbits(11)  # leaves room to count up
        else:  # the same millisecond, or the clock stepped back: stay monotonic
            _uuid_counter += 1
            if _uuid_counter > 0xFFF:
                _uuid_last_ms += 1
                _uuid_counter = random.getrandbits(11)
        ms, counter = _uuid_last_ms, _uuid_counter
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = ((ms & ((1 << 48) - 1)) << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand_b
    return str(uuid.UUID(int=value))


def _now_rfc3339() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _rfc3339(ts: Any) -> str:
    if isinstance(ts, str):
        return ts
    if isinstance(ts, _dt.datetime):
        if ts.tzinfo is None:
            raise ValueError("field 'ts' is a naive datetime; give it a time zone")
        return ts.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(ts, (int, float)):
        return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    raise ValueError("field 'ts' must be an RFC 3339 string, a datetime or a Unix time")


def _json_default(o: Any) -> Any:
    """What json cannot encode, made into something it can (agent payloads
    hold datetimes, paths, bytes and sets)."""
    if isinstance(o, _dt.datetime):
        return o.isoformat()
    if isinstance(o, (_dt.date, _dt.time)):
        return o.isoformat()
    if isinstance(o, (bytes, bytearray)):
        return bytes(o).decode("utf-8", "replace")
    if isinstance(o, (set, frozenset)):
        return sorted(o, key=repr)
    if isinstance(o, uuid.UUID):
        return str(o)
    return str(o)


def _dumps(ev: dict) -> bytes:
    try:
        return json.dumps(ev, ensure_ascii=False, separators=(",", ":"),
                          allow_nan=False, default=_json_default).encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: escape them, the server judges
        return json.dumps(ev, ensure_ascii=True, separators=(",", ":"),
                          allow_nan=False, default=_json_default).encode("ascii")


def _default_spool_dir() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "agentrail", "py-spool")


def _retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds from a Retry-After header (delta-seconds or an HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    return max(0.0, when.timestamp() - time.time())


_EVENT_INDEX = re.compile(r"^event (\d+)\b")


# ---------------------------------------------------------------- the spool


class _Item:
    """One serialized event on its way. 'n' orders this Trail's own events
    (None for the events of a spool file taken over from another Trail)."""

    __slots__ = ("line", "event_id", "n")

    def __init__(self, line: bytes, event_id: str, n: Optional[int]):
        self.line = line
        self.event_id = event_id
        self.n = n


class _Segment:
    """A spool file: 'seg-<url hash>-<ms>-<pid>-<counter>-<random>.ndjson',
    one event per line, written only by the Trail that created it. Whoever replays it
    holds flock(LOCK_EX) on it for as long as it has it; 'PATH.ack' holds
    the number of bytes already delivered."""

    def __init__(self, path: str, fd: int, own: bool, offset: int, size: int):
        self.path = path
        self.fd = fd            # holds the flock; O_APPEND writes when 'writable'
        self.own = own
        self.writable = own
        self.offset = offset    # bytes delivered (or rejected) so far
        self.size = size        # bytes in the file (complete lines)
        self.n_at = {}          # type: Dict[int, int]  # line end offset -> n

    def write_ack(self) -> None:
        tmp = self.path + ".ack.tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % self.offset)
        os.replace(tmp, self.path + ".ack")

    def release(self, delete: bool) -> None:
        if delete:
            for p in (self.path, self.path + ".ack"):
                try:
                    os.unlink(p)
                except FileNotFoundError:
                    pass
        elif self.offset > 0:
            try:
                self.write_ack()
            except OSError:
                pass
        try:
            os.close(self.fd)  # releases the flock
        except OSError:
            pass
        self.fd = -1


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _lock_nb(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise


# ---------------------------------------------------------------- emitting


class _Emitter:
    """The event helpers, shared by Trail and Session. Every helper returns
    the new event's event_id (use it as another event's parent_event_id)."""

    def _emit(self, type_: str, fields: Dict[str, Any]) -> str:  # pragma: no cover
        raise NotImplementedError

    def event(self, type: str, **fields: Any) -> str:
        """Record one event of 'type' (a known type, or a custom 'x_…' one
        with 'level'). 'fields' are top-level event fields (docs/events.md);
        None values are left out; free-form data goes in 'detail'."""
        return self._emit(type, fields)

    def llm_call(self, model: str, *, input_tokens: Optional[int] = None,
                 output_tokens: Optional[int] = None, cost_micro_usd: Optional[int] = None,
                 prompt: Any = None, response: Any = None, provider: Optional[str] = None,
                 latency_ms: Optional[int] = None, detail: Optional[dict] = None,
                 **fields: Any) -> str:
        """A model call: 'model', token usage (integers), and the prompt,
        response, provider and latency in 'detail'."""
        usage = {k: v for k, v in (("input_tokens", input_tokens), ("output_tokens", output_tokens),
                                   ("cost_micro_usd", cost_micro_usd)) if v is not None}
        d = dict(detail or {})
        for k, v in (("prompt", prompt), ("response", response), ("provider", provider),
                     ("latency_ms", latency_ms)):
            if v is not None:
                d[k] = v
        fields.setdefault("usage", usage or None)
        return self._emit("llm_call", dict(fields, model=model, detail=d or None))

    def tool_call(self, name: str, *, arguments: Any = None, result: Any = None,
                  error: Any = None, call_id: Optional[str] = None,
                  latency_ms: Optional[int] = None, detail: Optional[dict] = None,
                  **fields: Any) -> str:
        """A tool call: the tool's 'name' as 'target', its 'arguments' and
        its 'result' (or 'error') in 'detail'. 'outcome' defaults to 'error'
        with an error and 'success' with a result."""
        d = dict(detail or {})
        for k, v in (("arguments", arguments), ("result", result), ("error", error),
                     ("call_id", call_id), ("latency_ms", latency_ms)):
            if v is not None:
                d[k] = v
        if "outcome" not in fields:
            fields["outcome"] = "error" if error is not None else ("success" if result is not None else None)
        return self._emit("tool_call", dict(fields, target=name, detail=d or None))

    def tool_result(self, name: str, *, result: Any = None, error: Any = None,
                    call_id: Optional[str] = None, detail: Optional[dict] = None,
                    **fields: Any) -> str:
        """A tool's result recorded apart from its call (pass the call's id
        as 'parent_event_id')."""
        d = dict(detail or {})
        for k, v in (("result", result), ("error", error), ("call_id", call_id)):
            if v is not None:
                d[k] = v
        if "outcome" not in fields:
            fields["outcome"] = "error" if error is not None else "success"
        return self._emit("tool_result", dict(fields, target=name, detail=d or None))

    def decision(self, decision: str, *, reason: str, rule_id: Optional[str] = None,
                 snapshot: Optional[str] = None, policy_reason: Optional[str] = None,
                 detail: Optional[dict] = None, **fields: Any) -> str:
        """A policy decision: 'decision' is ALLOW, DENY or REQUIRE_APPROVAL
        ('policy.decision'), 'reason' says why (required), 'rule_id' and
        'snapshot' name the rule and the policy version in force."""
        dec = str(decision).upper()
        if dec not in _POLICY_DECISIONS:
            raise ValueError("decision must be 'ALLOW', 'DENY' or 'REQUIRE_APPROVAL', not %r" % (decision,))
        if not reason:
            raise ValueError("a decision needs a non-empty 'reason'")
        policy = {"decision": dec}
        for k, v in (("rule_id", rule_id), ("snapshot", snapshot), ("reason", policy_reason)):
            if v is not None:
                policy[k] = v
        return self._emit("decision", dict(fields, reason=reason, policy=policy, detail=detail))

    def approval_request(self, approval_id: Optional[str] = None, *, reason: str,
                         rule_id: Optional[str] = None, job_hash: Optional[str] = None,
                         required: bool = True, detail: Optional[dict] = None,
                         **fields: Any) -> str:
        """Ask for a human's approval. 'approval_id' defaults to the event's
        own id (the return value); pass the decision that asked for it as
        'parent_event_id' so the job's decisions join it."""
        if not reason:
            raise ValueError("an approval request needs a non-empty 'reason'")
        event_id = fields.get("event_id") or uuid7()
        approval = {"id": approval_id or event_id, "required": bool(required)}
        if job_hash is not None:
            approval["job_hash"] = job_hash
        policy = {"rule_id": rule_id} if rule_id is not None else None
        return self._emit("approval_request", dict(fields, event_id=event_id, reason=reason,
                                                   approval=approval, policy=policy, detail=detail))

    def approval_resolved(self, approval_id: str, resolution: str, *, resolved_by: str,
                          reason: str, comment: Optional[str] = None,
                          detail: Optional[dict] = None, **fields: Any) -> str:
        """A human's answer to an approval request: 'resolution' is
        'approved' or 'rejected'. 'actor' defaults to 'resolved_by'."""
        if resolution not in ("approved", "rejected"):
            raise ValueError("resolution must be 'approved' or 'rejected', not %r" % (resolution,))
        approval = {"id": approval_id, "resolution": resolution, "resolved_by": resolved_by}
        if comment is not None:
            approval["comment"] = comment
        fields.setdefault("actor", resolved_by)
        return self._emit("approval_resolved", dict(fields, reason=reason, approval=approval,
                                                    detail=detail))


class Session(_Emitter):
    """Events of one agent session: each carries 'session_id' and the
    session's fields (actor, agent_id, job_id, ...), and unless told
    otherwise has the session_start event as its parent_event_id.

    As a context manager it records 'session_start' on entry and
    'session_end' on exit, with outcome 'success', or 'error' (and the
    exception in 'detail') when the block raises; the exception propagates.
    """

    def __init__(self, trail: "Trail", session_id: str, fields: Dict[str, Any]):
        self.trail = trail
        self.session_id = session_id
        self.start_event_id = None  # type: Optional[str]
        self.ended = False
        self._fields = dict(fields, session_id=session_id)

    def _emit(self, type_: str, fields: Dict[str, Any]) -> str:
        merged = dict(self._fields)
        if self.start_event_id is not None:
            merged["parent_event_id"] = self.start_event_id
        merged.update({k: v for k, v in fields.items() if v is not None})
        return self.trail._emit(type_, merged)

    def start(self, **fields: Any) -> str:
        """Record session_start (once)."""
        if self.start_event_id is None:
            self.start_event_id = self._emit("session_start", fields)
        return self.start_event_id

    def end(self, outcome: str = "success", **fields: Any) -> str:
        """Record session_end with 'outcome' (once; later calls do nothing
        and return None)."""
        if self.ended:
            return None  # type: ignore[return-value]
        self.ended = True
        return self._emit("session_end", dict(fields, outcome=outcome))

    def __enter__(self) -> "Session":
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if self.ended:
            return False
        if exc_type is None:
            self.end("success")
        else:
            tb_text = "".join(traceback.format_exception(exc_type, exc, tb))
            self.end("error", detail={"error_type": exc_type.__name__, "error": str(exc),
                                      "traceback": tb_text[-8000:]})
        return False


# ---------------------------------------------------------------- the trail


class Trail(_Emitter):
    """A connection to an agentrail server that never blocks the agent.

    url             the server ('http://127.0.0.1:8081', 'https://host/prefix')
    token           a bearer token with the writer (or admin) role, if the
                    server has tokens; default $AGENTRAIL_TOKEN
    actor           the default 'actor' of every event
    defaults        other fields every event gets (agent_id, model, ...)
    batch_size      events per request (at most 10,000)
    flush_interval  seconds an event may wait for its batch to fill
    spool_dir       where events wait while the server cannot take them
                    (default $XDG_STATE_HOME/agentrail/py-spool, else
                    ~/.local/state/agentrail/py-spool)
    timeout         seconds for each HTTP request
    max_queue       events held in memory before they go to the spool
    max_backoff     the longest wait between two attempts, in seconds
    gzip_min        request bodies of at least this many bytes are gzipped
    close_timeout   how long close() (and interpreter exit) waits for delivery
    on_error        called with a DeliveryError from the sender thread for
                    each event refused for good, and for auth and spool
                    failures; they are also kept in 'errors'
    """

    def __init__(self, url: str, token: Optional[str] = None, *, actor: Optional[str] = None,
                 batch_size: int = 100, flush_interval: float = 1.0,
                 spool_dir: Optional[str] = None, timeout: float = 10,
                 defaults: Optional[Dict[str, Any]] = None, max_queue: int = 10000,
                 max_backoff: float = 30.0, gzip_min: int = 16384, close_timeout: float = 5.0,
                 on_error: Optional[Callable[[DeliveryError], None]] = None):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("url must be http://HOST[:PORT] or https://HOST[:PORT][/PATH], not %r" % (url,))
        if not 1 <= batch_size <= MAX_EVENTS_PER_REQUEST:
            raise ValueError("batch_size must be 1 to %d" % MAX_EVENTS_PER_REQUEST)
        self.url = url.rstrip("/")
        self._scheme = parsed.scheme
        self._host = parsed.hostname
        self._port = parsed.port
        self._events_path = parsed.path.rstrip("/") + "/api/v1/events"
        token = token if token is not None else os.environ.get("AGENTRAIL_TOKEN") or None
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": "agentrail-python/" + __version__,
        }
        if token:
            self._headers["Authorization"] = "Bearer " + token
        self._defaults = {k: v for k, v in (defaults or {}).items() if v is not None}
        if actor is not None:
            self._defaults["actor"] = actor
        bad = sorted(set(self._defaults) - KNOWN_FIELDS)
        if bad:
            raise ValueError("unknown field %r in defaults; put free-form data in 'detail'" % bad[0])
        self.batch_size = batch_size
        self.flush_interval = float(flush_interval)
        self.timeout = timeout
        self.max_queue = max(1, int(max_queue))
        self.max_backoff = float(max_backoff)
        self.gzip_min = int(gzip_min)
        self.close_timeout = float(close_timeout)
        self.on_error = on_error
        self.errors = []  # type: List[DeliveryError]
        self.spool_dir = os.path.abspath(spool_dir or _default_spool_dir())

        self._cv = threading.Condition(threading.Lock())
        self._mem = deque()              # type: deque  # of (_Item, time queued)
        self._emitted = 0                # n of the newest own event
        self._done_n = 0                 # own events up to this n are settled
        self._flush_upto = 0             # send at once up to this n
        self._inflight = []              # type: List[_Item]
        self._inflight_seg = None        # type: Optional[_Segment]  # None: from memory
        self._inflight_end = 0           # segment offset past the in-flight lines
        self._inflight_spooled = False   # a memory batch also written to the spool
        self._inflight_settled = set()   # ids of the in-flight batch already settled
        self._skip_ids = set()           # spooled copies of events already settled
        self._segs = []                  # type: List[_Segment]  # to replay, in order
        self._wseg = None                # type: Optional[_Segment]  # own, open for append
        self._seg_counter = 0
        self._backoff_until = 0.0
        self._fails = 0
        self._auth_error = None          # type: Optional[AuthError]
        self._max_batch = batch_size
        self._closing = False
        self._closed = False
        self._close_result = False
        self._conn = None                # type: Optional[http.client.HTTPConnection]
        self.stats = {
            "events": 0, "sent": 0, "duplicates": 0, "rejected": 0, "requests": 0,
            "gzip_requests": 0, "retries": 0, "spooled": 0, "replayed": 0,
            "adopted_segments": 0, "splits": 0,
        }  # type: Dict[str, int]
        self.status_counts = {}  # type: Dict[int, int]
        self._pending_callbacks = []  # type: List[DeliveryError]
        self._url_tag = hashlib.sha256(self.url.encode("utf-8")).hexdigest()[:8]

        os.makedirs(self.spool_dir, mode=0o700, exist_ok=True)
        self._lock_path = os.path.join(self.spool_dir, ".lock")
        self._adopt()  # what an earlier Trail left goes first

        self._thread = threading.Thread(target=self._run, name="agentrail-sender", daemon=True)
        self._thread.start()
        ref = weakref.ref(self)

        def _at_exit() -> None:
            t = ref()
            if t is not None:
                t.close()

        self._atexit = _at_exit
        atexit.register(_at_exit)

    # ------------------------------------------------------------ public

    def session(self, session_id: Optional[str] = None, **fields: Any) -> Session:
        """A Session (a context manager) whose events carry 'session_id'
        (default: a new UUIDv7) and 'fields' (actor, agent_id, job_id, ...)."""
        bad = sorted(set(fields) - KNOWN_FIELDS)
        if bad:
            raise ValueError("unknown field %r; put free-form data in 'detail'" % bad[0])
        return Session(self, session_id or uuid7(), {k: v for k, v in fields.items() if v is not None})

    def flush(self, timeout: Optional[float] = 30.0) -> bool:
        """Send everything recorded so far and wait until the server has it
        (or refused it for good), at most 'timeout' seconds (None: no limit).
        True when all of it is settled; False when some is still waiting: it
        is then in the spool, and is sent when the server is back. Raises
        AuthError when the server refuses the token (the events are then in
        the spool too)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            target = self._emitted
            self._flush_upto = max(self._flush_upto, target)
            self._cv.notify_all()
            try:
                done = self._wait_settled_locked(target, deadline, raise_auth=True)
            except AuthError:
                self._spool_mem_locked()
                raise
            if not done:
                self._spool_mem_locked()  # what waits, waits on disk
            return done

    def close(self, timeout: Optional[float] = None) -> bool:
        """Flush for at most 'timeout' seconds (default close_timeout), then
        put whatever is left in the spool and stop. True when everything was
        delivered. A new Trail on the same spool_dir sends the rest first.
        Calling it again does nothing."""
        timeout = self.close_timeout if timeout is None else timeout
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cv:
            if self._closed:
                return self._close_result
            self._closing = True
            target = self._emitted
            self._flush_upto = max(self._flush_upto, target)
            self._cv.notify_all()
            self._wait_settled_locked(target, deadline, raise_auth=False)
            self._spool_mem_locked()  # also what was recorded while we waited
            done = self._settled_locked(self._emitted)
            self._close_result = done
            self._closed = True
            for seg in self._segs:
                seg.release(delete=seg.offset >= seg.size)
            self._segs = []
            self._wseg = None
            self._cv.notify_all()
        self._thread.join(0.2)
        if self._conn is not None and not self._thread.is_alive():
            self._conn.close()
            self._conn = None
        try:
            atexit.unregister(self._atexit)
        except Exception:  # pragma: no cover - interpreter shutting down
            pass
        if not done:
            log.warning("%d event(s) left in the spool '%s'; they are sent when a "
                        "Trail on it next reaches the server", self._emitted - self._done_n,
                        self.spool_dir)
        return done

    def __enter__(self) -> "Trail":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.close()
        return False

    @property
    def pending(self) -> int:
        """This Trail's events not yet settled (in memory, in flight or
        in the spool)."""
        with self._cv:
            return self._emitted - self._done_n

    # ------------------------------------------------------------ emitting

    def _emit(self, type_: str, fields: Dict[str, Any]) -> str:
        ev = dict(self._defaults)
        ev.update({k: v for k, v in fields.items() if v is not None})
        ev["type"] = type_
        bad = sorted(set(ev) - KNOWN_FIELDS)
        if bad:
            raise ValueError("unknown field %r; put free-form data in 'detail'" % bad[0])
        if not isinstance(type_, str) or not type_:
            raise ValueError("an event needs a 'type'")
        if not ev.get("actor"):
            raise ValueError("missing required field 'actor' (give it to Trail, session() or the call)")
        if "detail" in ev and not isinstance(ev["detail"], dict):
            raise ValueError("field 'detail' must be a dict")
        ev.setdefault("event_id", uuid7())
        ev["ts"] = _rfc3339(ev["ts"]) if "ts" in ev else _now_rfc3339()
        line = _dumps(ev)
        with self._cv:
            if self._closed:
                raise TrailError("this Trail is closed")
            self._emitted += 1
            self.stats["events"] += 1
            self._mem.append((_Item(line, ev["event_id"], self._emitted), time.monotonic()))
            if len(self._mem) >= self.max_queue:
                self._spool_mem_locked()  # bounded memory; order kept
            if len(self._mem) >= self._max_batch or len(self._mem) == 1:
                self._cv.notify_all()
        return ev["event_id"]

    # ------------------------------------------------------------ waiting

    def _settled_locked(self, target: int) -> bool:
        return self._done_n >= target and all(seg.own for seg in self._segs)

    def _wait_settled_locked(self, target: int, deadline: Optional[float], raise_auth: bool) -> bool:
        """Wait until this Trail's events up to 'target', and the spool files
        it took over from earlier Trails, are settled. Gives up early when the
        server refuses the token (raising AuthError if 'raise_auth') or when
        the next attempt would come after 'deadline'."""
        while not self._settled_locked(target):
            if self._auth_error is not None:
                if raise_auth:
                    raise self._auth_error
                return False
            if self._closed:
                return False
            now = time.monotonic()
            if deadline is not None and (now >= deadline or self._backoff_until > deadline):
                return False
            self._cv.wait(None if deadline is None else min(deadline - now, 1.0))
        return True

    # ------------------------------------------------------------ the spool

    def _new_segment_locked(self) -> _Segment:
        self._seg_counter += 1
        name = "seg-%s-%013d-%d-%06d-%s.ndjson" % (self._url_tag, int(time.time() * 1000), os.getpid(),
                                                  self._seg_counter, os.urandom(4).hex())
        path = os.path.join(self.spool_dir, name)
        tmp = os.path.join(self.spool_dir, ".new-" + name)
        fd = os.open(tmp, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # before the name is visible to adopters
            os.rename(tmp, path)
        except OSError:
            os.close(fd)
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        _fsync_dir(self.spool_dir)
        seg = _Segment(path, fd, own=True, offset=0, size=0)
        self._segs.append(seg)
        return seg

    def _spool_mem_locked(self) -> bool:
        """Append the in-flight memory batch (what of it is unsettled) and
        the memory queue to this Trail's spool segment, fsync, and empty the
        queue. On failure everything stays in memory."""
        items = []  # type: List[_Item]
        take_inflight = (self._inflight and self._inflight_seg is None and not self._inflight_spooled)
        if take_inflight:
            items.extend(it for it in self._inflight if it.event_id not in self._inflight_settled)
        items.extend(it for it, _ in self._mem)
        if not items:
            if take_inflight:
                self._inflight_spooled = True
            return True
        try:
            if self._wseg is None or self._wseg.size >= _SEGMENT_MAX:
                if self._wseg is not None:
                    self._wseg.writable = False
                self._wseg = self._new_segment_locked()
            seg = self._wseg
        except OSError as e:
            self._report_locked(DeliveryError("spool", "cannot create a spool file in '%s': %s"
                                              % (self.spool_dir, e.strerror or e)))
            return False
        data = b"".join(it.line + b"\n" for it in items)
        start = seg.size
        try:
            view = memoryview(data)
            while view:
                n = os.write(seg.fd, view)
                view = view[n:]
            os.fsync(seg.fd)
        except OSError as e:
            try:
                os.ftruncate(seg.fd, start)
            except OSError:
                pass
            self._report_locked(DeliveryError("spool", "cannot write the spool file '%s': %s"
                                              % (seg.path, e.strerror or e)))
            return False
        end = start
        for it in items:
            end += len(it.line) + 1
            if it.n is not None:
                seg.n_at[end] = it.n
        seg.size = end
        self.stats["spooled"] += len(items)
        self._mem.clear()
        if take_inflight:
            self._inflight_spooled = True
        return True

    def _adopt(self) -> None:
        """Take over the spool files nobody holds (left by an earlier or a
        dead Trail), oldest first. The lock file makes one Trail at a time do
        this; the flock on each file makes sure one replays it."""
        try:
            lfd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            log.warning("cannot open the spool lock '%s': %s", self._lock_path, e)
            return
        try:
            if not _lock_nb(lfd):
                return  # another Trail is looking; it takes them
            try:
                names = sorted(os.listdir(self.spool_dir))
            except OSError:
                return
            with self._cv:
                held = {s.path for s in self._segs}
            names_set = set(names)
            mine = "seg-%s-" % self._url_tag  # only files meant for this server
            for name in names:
                path = os.path.join(self.spool_dir, name)
                if name.startswith(".new-" + mine):
                    self._remove_if_unlocked(path)
                    continue
                if name.startswith(mine) and (
                        (name.endswith(".ndjson.ack") and name[:-4] not in names_set)
                        or (name.endswith(".ndjson.ack.tmp") and name[:-8] not in names_set)):
                    try:
                        os.unlink(path)
                    except OSError:
                        pass
                    continue
                if not (name.startswith(mine) and name.endswith(".ndjson")) or path in held:
                    continue
                if sum(1 for s in self._segs if not s.own) >= _ADOPT_MAX:
                    break  # the rest when these are sent
                seg = self._open_orphan(path)
                if seg is not None:
                    with self._cv:
                        if self._closed:
                            seg.release(delete=False)
                            return
                        self._segs.append(seg)
                        self.stats["adopted_segments"] += 1
                        self._cv.notify_all()
        finally:
            os.close(lfd)  # releases the lock

    @staticmethod
    def _remove_if_unlocked(path: str) -> None:
        """A '.new-' file lives only between its creation and its rename; one
        older than a minute that nobody holds was left by a dead process."""
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return
        try:
            if time.time() - os.fstat(fd).st_mtime > 60 and _lock_nb(fd):
                os.unlink(path)
        except OSError:
            pass
        finally:
            os.close(fd)

    @staticmethod
    def _open_orphan(path: str) -> Optional[_Segment]:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return None
        try:
            if not _lock_nb(fd):
                os.close(fd)
                return None  # someone holds it
            st = os.fstat(fd)
            try:
                if os.stat(path).st_ino != st.st_ino:
                    raise FileNotFoundError(path)
            except FileNotFoundError:  # replayed and removed meanwhile
                os.close(fd)
                return None
            offset = 0
            try:
                with open(path + ".ack") as f:
                    offset = int(f.read().strip() or 0)
            except (OSError, ValueError):
                offset = 0
            offset = min(max(offset, 0), st.st_size)
            seg = _Segment(path, fd, own=False, offset=offset, size=st.st_size)
            seg.writable = False
            return seg
        except OSError:
            os.close(fd)
            return None

    def _load_from_spool_locked(self) -> None:
        """Make the next lines of the oldest spool file the in-flight batch,
        retiring files that are all delivered. Returns with an in-flight
        batch, with no spool files left, or backing off (a read failed)."""
        while self._segs and not self._inflight:
            seg = self._segs[0]
            items = []  # type: List[_Item]
            budget = _BODY_BUDGET
            pos = seg.offset
            try:
                with open(seg.path, "rb") as f:
                    f.seek(pos)
                    while len(items) < self._max_batch and budget > 0 and pos < seg.size:
                        line = f.readline(seg.size - pos)
                        if not line:  # shorter than we wrote: someone truncated it
                            self._report_locked(DeliveryError(
                                "spool", "the spool file '%s' ends at byte %d, not %d"
                                % (seg.path, pos, seg.size)))
                            seg.size = pos
                            break
                        pos += len(line)
                        if not line.endswith(b"\n"):
                            # Only an adopted file can end in a torn line (its
                            # writer died mid-write): it can never be completed.
                            self._report_locked(DeliveryError(
                                "spool", "skipped an incomplete last line (%d bytes) of the spool "
                                "file '%s'" % (len(line), seg.path)))
                            continue
                        body = line[:-1]
                        n = seg.n_at.get(pos)
                        try:
                            ev = json.loads(body)
                            eid = ev.get("event_id") if isinstance(ev, dict) else None
                            if not isinstance(eid, str):
                                raise ValueError("no event_id")
                        except ValueError:
                            self._report_locked(DeliveryError(
                                "spool", "skipped a line of the spool file '%s' that is not an "
                                "event: %r" % (seg.path, body[:200])))
                            self._settle_n_locked(n)
                            continue
                        if eid in self._skip_ids:  # delivered from memory meanwhile
                            self._skip_ids.discard(eid)
                            self._settle_n_locked(n)
                            continue
                        items.append(_Item(body, eid, n))
                        budget -= len(line)
            except OSError as e:
                if isinstance(e, FileNotFoundError):
                    self._report_locked(DeliveryError("spool", "the spool file '%s' disappeared; "
                                                      "its undelivered events are lost" % seg.path))
                    self._retire_locked(seg)
                    continue
                self._report_locked(DeliveryError("spool", "cannot read the spool file '%s': %s"
                                                  % (seg.path, e.strerror or e)))
                self._set_backoff_locked(None)
                return
            if items:
                self._inflight = items
                self._inflight_seg = seg
                self._inflight_end = pos
                self._inflight_spooled = False
                self._inflight_settled = set()
                return
            self._advance_locked(seg, pos)
            if seg.offset >= seg.size:
                self._retire_locked(seg)

    def _advance_locked(self, seg: _Segment, pos: int) -> None:
        if pos <= seg.offset:
            return
        for end in [e for e in seg.n_at if e <= pos]:
            self._settle_n_locked(seg.n_at.pop(end))
        seg.offset = pos
        if seg.offset < seg.size:
            try:
                seg.write_ack()
            except OSError as e:  # only costs a resend (a duplicate) after a crash
                log.debug("cannot write '%s.ack': %s", seg.path, e)

    def _retire_locked(self, seg: _Segment) -> None:
        seg.release(delete=True)
        self._segs.remove(seg)
        if seg is self._wseg:
            self._wseg = None

    def _settle_n_locked(self, n: Optional[int]) -> None:
        if n is not None and n > self._done_n:
            self._done_n = n
            self._cv.notify_all()

    # ------------------------------------------------------------ the sender

    def _report_locked(self, err: DeliveryError) -> None:
        self.errors.append(err)
        if len(self.errors) > _MAX_ERRORS:
            del self.errors[: len(self.errors) - _MAX_ERRORS]
        if err.kind in ("rejected", "conflict"):
            log.warning("the server refused an event for good: %s", err)
        else:
            log.warning("%s", err)
        self._pending_callbacks.append(err)

    def _run_callbacks(self) -> None:
        with self._cv:
            errs = list(self._pending_callbacks)
            self._pending_callbacks.clear()
        if self.on_error is None:
            return
        for e in errs:
            try:
                self.on_error(e)
            except Exception:  # a callback must not stop the sender
                log.exception("on_error raised")

    def _set_backoff_locked(self, retry_after: Optional[float]) -> None:
        self._fails += 1
        self.stats["retries"] += 1
        if retry_after is not None:
            delay = min(retry_after, 600.0)
        else:
            delay = min(self.max_backoff, 0.25 * (2 ** min(self._fails - 1, 16)))
            delay *= random.uniform(0.75, 1.0)
        self._backoff_until = time.monotonic() + delay
        self._cv.notify_all()

    def _mem_due_locked(self, now: float) -> bool:
        if not self._mem:
            return False
        if len(self._mem) >= self._max_batch or self._closing:
            return True
        if self._flush_upto > self._done_n:
            return True
        return now - self._mem[0][1] >= self.flush_interval

    def _take_mem_locked(self) -> None:
        items = []  # type: List[_Item]
        budget = _BODY_BUDGET
        while self._mem and len(items) < self._max_batch and (budget > 0 or not items):
            it, _ = self._mem.popleft()
            items.append(it)
            budget -= len(it.line) + 1
        self._inflight = items
        self._inflight_seg = None
        self._inflight_spooled = False
        self._inflight_settled = set()

    def _run(self) -> None:
        while True:
            try:
                self._loop()
                return
            except Exception:  # a bug here must not stop delivery for good
                log.exception("the sender failed; it starts again in 1 s")
                with self._cv:
                    if self._closed:
                        return
                    self._cv.wait(1.0)

    def _loop(self) -> None:
        next_adopt = time.monotonic() + _ADOPT_INTERVAL
        while True:
            self._run_callbacks()
            adopt = False
            with self._cv:
                while True:
                    if self._closed:
                        return
                    now = time.monotonic()
                    if now < self._backoff_until:
                        if self._mem:
                            self._spool_mem_locked()  # durable while the server is away
                        self._cv.wait(self._backoff_until - now)
                        continue
                    if not self._inflight and self._segs:
                        self._load_from_spool_locked()
                    if self._inflight:
                        break
                    if self._segs:  # could not read: backing off
                        continue
                    if self._mem_due_locked(now):
                        self._take_mem_locked()
                        break
                    if now >= next_adopt:
                        adopt = True
                        break
                    wait = next_adopt - now
                    if self._mem:
                        wait = min(wait, max(0.0, self._mem[0][1] + self.flush_interval - now))
                    if self._pending_callbacks:
                        break
                    self._cv.wait(wait)
                items = list(self._inflight)
            if adopt:
                next_adopt = time.monotonic() + _ADOPT_INTERVAL
                self._adopt()
                continue
            if not items:
                continue
            status, remaining, retry_after = self._deliver(items)
            with self._cv:
                if self._closed:
                    return
                seg = self._inflight_seg
                if status == "ok":
                    self._fails = 0
                    self._backoff_until = 0.0
                    self._auth_error = None
                    if seg is not None:
                        self.stats["replayed"] += len(items)
                        self._advance_locked(seg, self._inflight_end)
                        if seg.offset >= seg.size:
                            self._retire_locked(seg)
                    self._inflight = []
                    self._inflight_seg = None
                    self._inflight_settled = set()
                    self._cv.notify_all()
                    continue
                # Not delivered now: keep what is left, on disk, in order.
                self._inflight = remaining
                if seg is None:
                    if self._inflight_spooled:
                        self._inflight = []  # its copy waits in the spool
                    elif self._spool_mem_locked():
                        self._inflight = []
                self._set_backoff_locked(retry_after)

    # ------------------------------------------------------------ HTTP

    def _settle_locked(self, items: Iterable[_Item]) -> None:
        for it in items:
            if self._inflight_seg is None:
                if self._inflight_spooled:
                    self._skip_ids.add(it.event_id)
                self._inflight_settled.add(it.event_id)
            self._settle_n_locked(it.n)

    def _deliver(self, items: List[_Item]):
        """Send 'items' in order, in requests of at most the batch size.
        Returns ('ok', [], None) when every item is settled (appended, a
        duplicate, or refused for good), else (kind, the items not settled,
        Retry-After seconds or None)."""
        work = list(items)
        limit = self._max_batch
        while work:
            chunk = []  # type: List[_Item]
            budget = _BODY_BUDGET
            for it in work:
                if len(chunk) >= limit or (chunk and budget - len(it.line) < 0):
                    break
                chunk.append(it)
                budget -= len(it.line) + 1
            status, hdrs, answer, neterr = self._post(chunk)
            if neterr is not None:
                with self._cv:  # say it once per outage, not on every attempt
                    (log.info if self._fails == 0 else log.debug)("%s; the events wait in the spool", neterr)
                return "network", work, None
            err = answer.get("error") if isinstance(answer, dict) else None
            err = err if isinstance(err, dict) else {}
            code, message, at = err.get("code"), err.get("message") or "", err.get("at")
            if 200 <= status < 300:
                results = answer.get("results") if isinstance(answer, dict) else None
                with self._cv:
                    if isinstance(results, list):
                        dup = sum(1 for r in results if isinstance(r, dict) and r.get("duplicate"))
                        self.stats["duplicates"] += dup
                        self.stats["sent"] += len(chunk) - dup
                    self._settle_locked(chunk)
                del work[: len(chunk)]
                limit = self._max_batch
                continue
            if status in (401, 403):
                e = AuthError("auth", "the server refused the token: %s" % (message or "HTTP %d" % status),
                              status=status, code=code, at=at)
                with self._cv:
                    self._auth_error = e
                    self._report_locked(e)
                    self._cv.notify_all()
                return "auth", work, _retry_after(hdrs.get("Retry-After"))
            if status == 413 and code != "too_big" and len(chunk) > 1:  # split it
                with self._cv:
                    self._max_batch = max(1, len(chunk) // 2)
                    self.stats["splits"] += 1
                limit = self._max_batch
                continue
            permanent = (status == 409 or (status == 400 and code not in (None, "bad_request"))
                         or status == 413)
            if permanent:
                idx = None
                m = _EVENT_INDEX.match(at or "") or _EVENT_INDEX.match(message)
                if m:
                    idx = int(m.group(1))
                elif len(chunk) == 1:
                    idx = 0
                if idx is None or idx >= len(chunk):  # find it by halving
                    limit = max(1, len(chunk) // 2)
                    with self._cv:
                        self.stats["splits"] += 1
                    continue
                bad = chunk[idx]
                try:
                    ev = json.loads(bad.line)
                except ValueError:
                    ev = None
                e = DeliveryError("conflict" if status == 409 else "rejected",
                                  _EVENT_INDEX.sub("", message).lstrip(": ") or "HTTP %d" % status,
                                  status=status, code=code, at=at, event_id=bad.event_id, event=ev)
                with self._cv:
                    self.stats["rejected"] += 1
                    self._report_locked(e)
                    self._settle_locked([bad])
                work.remove(bad)
                limit = self._max_batch
                continue
            if status in (408, 425, 429) or status >= 500:
                return "busy", work, _retry_after(hdrs.get("Retry-After"))
            # Anything else (404: a wrong URL, 405, 415, ...) is not the
            # events' fault: keep them, say so, try again later.
            e = DeliveryError("server", "POST %s/api/v1/events: %s" % (self.url, message or "unexpected answer"),
                              status=status, code=code, at=at)
            with self._cv:
                self._report_locked(e)
            return "server", work, _retry_after(hdrs.get("Retry-After"))
        return "ok", [], None

    def _connect(self) -> http.client.HTTPConnection:
        if self._scheme == "https":
            import ssl
            return http.client.HTTPSConnection(self._host, self._port, timeout=self.timeout,
                                               context=ssl.create_default_context())
        return http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)

    def _post(self, chunk: List[_Item]):
        """One POST of 'chunk' as a JSON array: (status, headers, parsed JSON
        answer or None, None), or (0, {}, None, why) when no answer came."""
        body = b"[" + b",".join(it.line for it in chunk) + b"]"
        headers = dict(self._headers)
        gz = len(body) >= self.gzip_min
        if gz:
            body = gzip.compress(body, compresslevel=5)
            headers["Content-Encoding"] = "gzip"
        for attempt in (0, 1):
            reused = self._conn is not None
            conn = self._conn or self._connect()
            try:
                conn.request("POST", self._events_path, body, headers)
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                self._conn = None
                if reused and attempt == 0:
                    continue  # a kept-alive connection the server had closed
                return 0, {}, None, "cannot reach %s: %s" % (self.url, str(e) or type(e).__name__)
            if resp.will_close:
                conn.close()
                self._conn = None
            else:
                self._conn = conn
            with self._cv:
                self.stats["requests"] += 1
                if gz:
                    self.stats["gzip_requests"] += 1
                self.status_counts[resp.status] = self.status_counts.get(resp.status, 0) + 1
            try:
                answer = json.loads(data) if data else None
            except ValueError:
                answer = None
            return resp.status, {k.title(): v for k, v in resp.getheaders()}, answer, None
        return 0, {}, None, "cannot reach %s" % self.url  # pragma: no cover
