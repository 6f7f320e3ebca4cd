#!/usr/bin/python3
# -*- coding: utf-8 -*-
r"""REAPI v2 test server for the remoteexec_proxy gRPC client.

An independent HTTP/2 + gRPC implementation (Debian python3-grpcio, i.e.
gRPC core) serving the REAPI subset of REAPI_SUBSET.md, with fault
injection and per-call request logging.  Test use only; loopback only.

Stubs
  At start the python stubs are generated from the project's own .proto
  files (default: <repo>/src/rpc/proto) with Debian's protoc and
  grpc_python_plugin into a temporary directory (removed at exit) or into
  --stubs-dir DIR (kept).

Services
  Capabilities        GetCapabilities (SHA256, --max-batch-bytes,
                      --symlink-strategy, exec_enabled unless --no-exec)
  ContentAddressableStorage
                      FindMissingBlobs, BatchUpdateBlobs (per-blob digest
                      check: INVALID_ARGUMENT status in the response; a
                      request larger than --max-batch-bytes: the call fails
                      INVALID_ARGUMENT), BatchReadBlobs (sum of sizes over
                      --max-batch-bytes: INVALID_ARGUMENT), GetTree (one
                      page)
  ByteStream          Read ([{instance}/]blobs/{hash}/{size}; chunks of
                      --read-chunk bytes, default 1 MiB; the empty blob is
                      0 messages; read_offset/read_limit honoured),
                      Write ([{instance}/]uploads/{uuid}/blobs/{hash}/{size}
                      [/...], digest verified on finish_write),
                      QueryWriteStatus
  ActionCache         GetActionResult, UpdateActionResult (in memory)
  Execution           Execute, WaitExecution
  The CAS and the action cache are in memory and shared by all instance
  names (--instance NAME makes any other instance name INVALID_ARGUMENT).
  The empty blob is always present.  gRPC limits: receive
  --max-recv-bytes (default 16 MiB), send unlimited.

Execution
  Execute checks the action cache (unless skip_cache_lookup; a hit is
  answered with one done Operation, cached_result = true), then checks that
  the Action, Command and the whole input tree are in the CAS (otherwise a
  done Operation whose ExecuteResponse.status is FAILED_PRECONDITION with a
  google.rpc.PreconditionFailure listing MISSING blobs/<hash>/<size>), then
  streams Operations: QUEUED (not done), EXECUTING (not done), the done one
  with an ExecuteResponse (Any type_url
  "<--type-url-prefix>/build.bazel.remote.execution.v2.ExecuteResponse").
  Operation names are "[{instance}/]operations/<uuid4>"; the action runs in
  a worker thread (at most --exec-slots at once), so a broken Execute
  stream can be resumed with WaitExecution, which streams the current stage
  (if not done) and then the done Operation.  --progress-ms N repeats the
  current stage every N ms while waiting.  How an action "runs":
    --script FILE  JSON {"rules": [RULE...]}; the first RULE whose "match"
                   fits is used. RULE = {"match": {"action": "<hash>[/size]"
                   | "argv": "<python regex searched in ' '.join(argv)>"},
                   "exit_code": 0, "stdout": "...", "stderr": "...",
                   "output_files": {"path": "text" | {"content": "text",
                   "executable": true}}, "output_directories": {"dir":
                   {"rel/path": "text"}}, "delay_ms": 0, "real": false,
                   "status": {"code": "FAILED_PRECONDITION", "message": "",
                   "missing": ["hash/size"]},     (-> ExecuteResponse.status)
                   "error": {"code": "INTERNAL", "message": ""}}
                   (-> Operation.error instead of response).
                   The file is re-read on every Execute.
    --real-exec    no matching rule: materialize the input root in a temp
                   dir, create the parents of the outputs, run
                   Command.arguments with exactly Command's environment in
                   <root>/<working_directory>, stdin /dev/null, timeout from
                   Action.timeout (else --exec-timeout); collect
                   output_files / output_directories (as Tree) / output_paths
                   and stdout/stderr into the CAS.  Unknown program ->
                   exit_code 127.  Timeout -> status DEADLINE_EXCEEDED.
    (default)      no matching rule, no --real-exec: a deterministic fake:
                   exit 0, stdout "reapi_server: <argv joined by spaces>\n",
                   each output file "synthetic <path> <action hash>\n",
                   each output directory a Tree with one file synthetic.txt.
  stdout/stderr always go to the CAS (digest set, also when empty);
  stdout_raw/stderr_raw are set too when the request asks for
  inline_stdout/inline_stderr or with --inline-output.  Results with exit
  code 0 and OK status are stored in the action cache unless
  Action.do_not_cache (--cache-failures: store every completed result).

Faults
  A fault rule is  METHOD:KIND[:k=v,k=v...]  METHOD = short method name
  (GetCapabilities FindMissingBlobs BatchUpdateBlobs BatchReadBlobs GetTree
  GetActionResult UpdateActionResult Execute WaitExecution Read Write
  QueryWriteStatus) or "*".  Values are percent-decoded (so
  message=50%25%20done%2C%20%C3%A9 is "50% done, é").  Common keys:
    count=N     fire on the next N matching calls (default 1; 0 = forever)
    skip=K      let K matching calls pass untouched first
    delay_ms=M  sleep M ms before the first response message and between
                stream messages (also on its own: KIND "delay")
  Each call fires at most one rule (the first in order that matches).
  KINDs:
    status      fail the call before any response: code=NAME|NUMBER
                (default UNAVAILABLE), message=TEXT, retry_ms=N (adds a
                google.rpc.RetryInfo), missing=HASH/SIZE+HASH/SIZE (adds a
                google.rpc.PreconditionFailure), headers=1 (send response
                HEADERS first; otherwise gRPC core sends a Trailers-Only
                response).  Details go in grpc-status-details-bin.
    unavailable shorthand for status with code=UNAVAILABLE
    delay       only delay_ms (alias ms=)
    deadline    sleep until the client's deadline has passed (+200 ms),
                at most ms=N (default 30000), then DEADLINE_EXCEEDED
    abort       streams: after=N response messages (default 1), end the
                call with code (default INTERNAL) / message (trailers
                carrying grpc-status).  Unary methods: like status.
    cancel      after=N messages (unary: before answering) call
                ServicerContext.cancel(); on the wire: trailers
                grpc-status 1 (see "Wire facts").
    goaway      after=N messages (unary: before answering) restart the
                server like the control command "goaway" with grace_ms=G
                (default 0), then carry on.
    nodone      Execute/WaitExecution: stream the not-done Operations, then
                end the call with OK and no done Operation.
    error       Execute/WaitExecution: done Operation with Operation.error
                = Status{code (default INTERNAL), message} instead of a
                response.
    exec_status Execute/WaitExecution: done Operation whose
                ExecuteResponse.status = {code, message, missing=...}
                (no result).
    oversize    BatchReadBlobs: add one extra response of bytes=N
                (default 8 MiB) zero bytes; Read: send one message of N
                bytes first.
    corrupt     Read/BatchReadBlobs: flip the first byte of the data.
    truncate    Read: drop the last byte, end with OK.
    early       Write: answer committed_size = size right after the first
                message if the blob is already present (the server-side
                short cut; --write-early does it on every call).
    unauth      shorthand for status with code=UNAUTHENTICATED.
  Rules come from --fault SPEC (repeatable) and the control channel.

Control channel
  A line protocol on a loopback TCP port printed as "CONTROL <n>" (disable
  with --no-control).  One command per line, one reply line per command,
  "OK [text]" or "ERR text":
    ping                      -> OK pong
    fault SPEC                -> OK <rule id>
    clear                     remove all fault rules
    count [METHOD]            -> OK <calls> (without METHOD: OK <json>)
    reset-counts
    goaway [GRACE_MS]         restart the server: a new gRPC server binds
                              the same address (SO_REUSEPORT), the old one
                              is stopped with that grace (default 0): the
                              client gets GOAWAY on its connection; streams
                              still running after the grace are cancelled
                              and the connection closed.
    auth TOKEN|-              require "authorization: Bearer TOKEN" on every
                              call from now on (UNAUTHENTICATED otherwise);
                              "-" = no check (also --require-auth TOKEN)
    cas-has HASH/SIZE         -> OK 1|0
    cas-drop HASH/SIZE        forget a blob (to provoke missing inputs)
    cas-clear, ac-clear       empty the CAS / the action cache
    ops                       -> OK <json list of operation names>
    ops-clear                 forget all operations (WaitExecution ->
                              NOT_FOUND)
    mark TEXT                 write {"mark": TEXT} into the --log file
    raw RECIPE                set the raw port's default recipe
    raw-push RECIPE           queue a one-shot recipe for the next raw
                              stream
    stop                      shut the server down (exit status 0)

Request log (--log FILE)
  JSON lines.  Per call a "begin" record: method (full path), short, id,
  peer, authority, metadata (every header gRPC exposes; binary -bin values
  as base64), requestmetadata (the decoded
  build.bazel.remote.execution.v2.requestmetadata-bin header or null),
  timeout_s (deadline remaining at arrival, from grpc-timeout; null when the
  client sent none), instance_name, request (summary: digests, resource
  names, uuid_ok for Write, ...), fault (rule id/kind that fired or null);
  then an "end" record: id, short, code (status name), ms.  Write's begin
  record is written after its first message.

Start-up and lifetime
  Prints, flushed, on stdout: "PORT <n>" (TCP) or "UNIX <path>", then
  "CONTROL <n>" (unless --no-control), "RAW <n>" (with --raw), then
  "READY".
  Exits (status 0) on SIGTERM/SIGINT, on the "stop" command, when stdin
  reaches EOF if stdin is a pipe, socket or tty (so a dead harness does not
  leave it running; a /dev/null or file stdin is not watched), and after
  --max-lifetime seconds (default 900; 0 = none).

Wire facts (gRPC core 1.51 as shipped in Debian 12, observed with nghttp
and a raw frame dump)
  - error before any response message (status faults, NOT_FOUND, ...):
    Trailers-Only = one HEADERS frame with END_STREAM: :status 200,
    content-type application/grpc, grpc-status, grpc-message,
    [grpc-status-details-bin].  headers=1 instead gives HEADERS, then a
    trailers HEADERS (END_STREAM) with no DATA.
  - grpc-message is percent-encoded by gRPC core: "50% done, é" is sent as
    "50%25 done, %C3%A9" (bytes 0x20-0x7E other than % verbatim).
  - abort after messages: HEADERS, DATA..., trailers HEADERS (END_STREAM).
  - cancel (ServicerContext.cancel()): NOT a bare RST_STREAM: trailers with
    grpc-status 1, grpc-message "CANCELLED".
  - whenever the server ends a call while the client's request side is still
    open (a Write answered early or failed mid-upload, an Execute finishing
    before the client half-closed), the trailers are followed by
    RST_STREAM NO_ERROR (0).
  - server deadline: at the client's grpc-timeout gRPC core itself answers
    Trailers-Only grpc-status 4 "Deadline Exceeded" (the handler's sleep
    goes on, unseen).
  - goaway/restart: GOAWAY(last_stream_id 2147483647, NO_ERROR) then
    GOAWAY(last_stream_id = highest stream id, NO_ERROR); streams may finish
    within the grace; after it, still-open streams get trailers
    grpc-status 14 "Cancelling all calls" and the connection is closed.
  - python grpc cannot emit RST_STREAM with other codes, REFUSED_STREAM,
    non-200 :status, a missing grpc-status, ...: use the raw port below.

Raw HTTP/2 port (--raw)
  A second loopback listener, printed as "RAW <n>", speaking plaintext
  HTTP/2 with prior knowledge.  It does not decode request headers: every
  new stream is answered with the next recipe pushed by "raw-push RECIPE"
  (one-shot, FIFO), else the default recipe ("raw RECIPE" or --raw-mode;
  initially a Trailers-Only UNIMPLEMENTED).  It sends SETTINGS
  (MAX_CONCURRENT_STREAMS = --raw-max-streams), ACKs SETTINGS and PING,
  returns WINDOW_UPDATEs for received DATA, ignores flow control for what it
  sends (keep recipes small).  A recipe is played when the request's
  END_STREAM arrives (or at once if it starts with "early").  RECIPE =
  space-separated steps:
    early                  play on HEADERS, without waiting for END_STREAM
    headers[=STATUS[/CTYPE]]  response HEADERS (default 200,
                           application/grpc), e.g. headers=503/text/html
    msg=HEX                one gRPC message (flag 0, length, bytes); msg=
                           is an empty message
    compressed=HEX         a message with compressed flag 1 (no
                           grpc-encoding was sent)
    data=HEX               raw DATA bytes
    trailers=CODE[/MSG]    trailers HEADERS + END_STREAM (MSG sent verbatim,
                           so percent-escapes are up to the recipe)
    trailers-only=CODE[/MSG]  single HEADERS :status 200 + grpc-status
    end                    empty DATA with END_STREAM (no grpc-status)
    rst[=CODE]             RST_STREAM (name like REFUSED_STREAM or number;
                           default INTERNAL_ERROR)
    goaway[=LAST[/CODE]]   GOAWAY; LAST = last | prev | max | number
    close                  shut the TCP connection down
    sleep=MS
  Examples: "rst=REFUSED_STREAM";  "early headers=503/text/html
  data=3c68746d6c3e end";  "headers msg= end" (no grpc-status);
  "goaway=prev/NO_ERROR rst=REFUSED_STREAM".
  RST_STREAM and GOAWAY frames received from the client are logged as
  {"ev": "raw-recv", ...} (e.g. to assert that a client cancels on its
  deadline); each stream's recipe as {"ev": "raw", ...}.

Examples
  reapi_server.py --listen 127.0.0.1:0 --real-exec --log /tmp/calls.jsonl \
      --fault 'FindMissingBlobs:unavailable:count=2'
"""

import argparse
import base64
import hashlib
import importlib
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import socketserver
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from concurrent import futures

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PROTO_DIR = os.path.normpath(
    os.path.join(HERE, '..', '..', 'src', 'rpc', 'proto'))
PROTOS = ['wkt', 'semver', 'rpc_status', 'longrunning', 'bytestream',
          'remote_execution']
EMPTY_SHA256 = hashlib.sha256(b'').hexdigest()
HEX64 = re.compile(r'^[0-9a-f]{64}$')
UUID4 = re.compile(
    r'^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$')
RE_PKG = 'build.bazel.remote.execution.v2.'
REQMETA_KEY = 'build.bazel.remote.execution.v2.requestmetadata-bin'
MIB = 1024 * 1024


class Stubs:
    """The generated python modules (re, re_grpc, bs, bs_grpc, lr, st,
    wkt, sv)."""


class Abort(Exception):
    """Raised inside handlers to end the call with a status."""

    def __init__(self, code, message='', details=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


def load_stubs(proto_dir=DEFAULT_PROTO_DIR, stubs_dir=None):
    """Generate python stubs with Debian's protoc and import them.
    Returns (Stubs, tmpdir_or_None)."""
    tmp = None
    if stubs_dir is None:
        tmp = tempfile.mkdtemp(prefix='reapi-stubs-')
        stubs_dir = tmp
    os.makedirs(stubs_dir, exist_ok=True)
    cmd = ['protoc', '--python_out=' + stubs_dir,
           '--grpc_python_out=' + stubs_dir,
           '--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin',
           '-I' + proto_dir]
    cmd += [os.path.join(proto_dir, p + '.proto') for p in PROTOS]
    subprocess.run(cmd, check=True)
    if stubs_dir not in sys.path:
        sys.path.insert(0, stubs_dir)
    s = Stubs()
    s.wkt = importlib.import_module('wkt_pb2')
    s.sv = importlib.import_module('semver_pb2')
    s.st = importlib.import_module('rpc_status_pb2')
    s.lr = importlib.import_module('longrunning_pb2')
    s.bs = importlib.import_module('bytestream_pb2')
    s.bs_grpc = importlib.import_module('bytestream_pb2_grpc')
    s.re = importlib.import_module('remote_execution_pb2')
    s.re_grpc = importlib.import_module('remote_execution_pb2_grpc')
    return s, tmp


def status_code(v):
    """grpc.StatusCode from a name or a number."""
    if isinstance(v, grpc.StatusCode):
        return v
    v = str(v).strip()
    if v.isdigit():
        for c in grpc.StatusCode:
            if c.value[0] == int(v):
                return c
        raise ValueError('unknown status code ' + v)
    return grpc.StatusCode[v.upper()]


def digest_key(d):
    return '%s/%d' % (d.hash, d.size_bytes)


def parse_digest_str(P, s):
    h, _, n = s.strip().partition('/')
    return P.re.Digest(hash=h, size_bytes=int(n or 0))


def now_ts(P):
    t = time.time()
    return P.wkt.Timestamp(seconds=int(t), nanos=int((t % 1) * 1e9))


class Fault:
    """One fault rule: METHOD:KIND[:k=v,...]."""

    KINDS = ('status', 'unavailable', 'unauth', 'delay', 'deadline', 'abort',
             'cancel', 'goaway', 'nodone', 'error', 'exec_status', 'oversize',
             'corrupt', 'truncate', 'early')
    ids = 0

    def __init__(self, spec):
        parts = spec.strip().split(':', 2)
        if len(parts) < 2:
            raise ValueError('fault spec is METHOD:KIND[:k=v,...]')
        self.spec = spec.strip()
        self.method, self.kind = parts[0], parts[1]
        if self.kind not in self.KINDS:
            raise ValueError('unknown fault kind ' + self.kind)
        self.params = {}
        if len(parts) == 3 and parts[2]:
            for kv in parts[2].split(','):
                k, _, v = kv.partition('=')
                self.params[k.strip()] = urllib.parse.unquote(v)
        self.count = int(self.params.get('count', 1))
        self.skip = int(self.params.get('skip', 0))
        self.forever = self.count == 0
        if self.kind == 'unavailable':
            self.params.setdefault('code', 'UNAVAILABLE')
            self.kind = 'status'
        elif self.kind == 'unauth':
            self.params.setdefault('code', 'UNAUTHENTICATED')
            self.kind = 'status'
        status_code(self.params.get('code', 'UNAVAILABLE'))
        Fault.ids += 1
        self.id = Fault.ids

    def num(self, key, default):
        return int(self.params.get(key, default))

    def code(self, default='UNAVAILABLE'):
        return status_code(self.params.get('code', default))

    def delay(self):
        ms = self.params.get('delay_ms')
        if ms is None and self.kind == 'delay':
            ms = self.params.get('ms')
        return int(ms or 0) / 1000.0


class Call:
    """Per-call bookkeeping: logging, fault, abort helpers."""

    def __init__(self, state, short, ctx):
        self.state = state
        self.short = short
        self.ctx = ctx
        self.fault = None
        self.start = time.monotonic()
        self.code = 'OK'
        with state.lock:
            state.call_seq += 1
            self.id = state.call_seq
            state.counts[short] = state.counts.get(short, 0) + 1

    def kind(self):
        return self.fault.kind if self.fault else None

    def sleep(self):
        if self.fault and self.fault.delay() > 0:
            time.sleep(self.fault.delay())


class State:
    """Everything the servicer shares: CAS, AC, operations, faults, log."""

    def __init__(self, P, args):
        self.P = P
        self.args = args
        self.lock = threading.RLock()
        self.cas = {}
        self.ac = {}
        self.ops = {}
        self.uploads = {}
        self.faults = []
        self.counts = {}
        self.call_seq = 0
        self.auth = args.require_auth
        self.log_fp = open(args.log, 'a', encoding='utf-8') if args.log \
            else None
        self.log_lock = threading.Lock()
        self.exec_sem = threading.Semaphore(args.exec_slots)
        self.restart = None     # set by the Server wrapper

    # --- log -------------------------------------------------------------

    def log(self, rec):
        if not self.log_fp:
            return
        rec.setdefault('t', round(time.time(), 6))
        line = json.dumps(rec, sort_keys=True, default=str)
        with self.log_lock:
            self.log_fp.write(line + '\n')
            self.log_fp.flush()

    # --- CAS -------------------------------------------------------------

    def cas_put(self, data):
        h = hashlib.sha256(data).hexdigest()
        with self.lock:
            self.cas[h] = bytes(data)
        return self.P.re.Digest(hash=h, size_bytes=len(data))

    def cas_get(self, d):
        if d.hash == EMPTY_SHA256 and d.size_bytes == 0:
            return b''
        with self.lock:
            data = self.cas.get(d.hash)
        if data is None or len(data) != d.size_bytes:
            return None
        return data

    def cas_has(self, d):
        return self.cas_get(d) is not None

    # --- faults ----------------------------------------------------------

    def add_fault(self, spec):
        f = Fault(spec)
        with self.lock:
            self.faults.append(f)
        return f

    def pick_fault(self, short):
        with self.lock:
            for f in self.faults:
                if f.method not in ('*', short):
                    continue
                if f.skip > 0:
                    f.skip -= 1
                    continue
                if not f.forever:
                    f.count -= 1
                    if f.count <= 0:
                        self.faults.remove(f)
                return f
        return None


# ---------------------------------------------------------------------------
# request summaries for the log


def summarize(P, short, req):
    if req is None:
        return {}
    out = {}
    for fd, val in req.ListFields():
        out[fd.name] = _summ_value(fd, val)
    return out


def _summ_value(fd, val):
    if fd.label == fd.LABEL_REPEATED:
        return [_summ_one(fd, v) for v in val]
    return _summ_one(fd, val)


def _summ_one(fd, v):
    if fd.type == fd.TYPE_BYTES:
        return {'bytes': len(v)}
    if fd.type == fd.TYPE_MESSAGE:
        if fd.message_type.name == 'Digest':
            return '%s/%d' % (v.hash, v.size_bytes)
        return {f.name: _summ_value(f, x) for f, x in v.ListFields()}
    return v


def metadata_dict(ctx):
    md = {}
    for m in ctx.invocation_metadata():
        k, v = m.key, m.value
        if isinstance(v, bytes):
            v = base64.b64encode(v).decode('ascii')
        if k in md:
            md[k] = md[k] + ',' + v
        else:
            md[k] = v
    return md


def decode_reqmeta(P, ctx):
    for m in ctx.invocation_metadata():
        if m.key == REQMETA_KEY:
            raw = m.value if isinstance(m.value, bytes) else \
                m.value.encode('latin-1')
            try:
                rm = P.re.RequestMetadata.FromString(raw)
            except Exception as e:      # noqa: BLE001 - report, not fail
                return {'undecodable': str(e)}
            from google.protobuf import json_format
            return json_format.MessageToDict(
                rm, preserving_proto_field_name=True)
    return None


def call_authority(ctx):
    try:
        h = ctx._rpc_event.call_details.host   # no public API for this
        return h.decode() if isinstance(h, bytes) else h
    except Exception:                           # noqa: BLE001
        return None


def call_method(ctx):
    try:
        m = ctx._rpc_event.call_details.method
        return m.decode() if isinstance(m, bytes) else m
    except Exception:                           # noqa: BLE001
        return None


def deadline_left(ctx):
    t = ctx.time_remaining()
    if t is None or t > 1e8:
        return None
    return round(t, 3)


# ---------------------------------------------------------------------------
# status helpers


def status_details(P, code, message, retry_ms=None, missing=None):
    """Serialized google.rpc.Status for grpc-status-details-bin."""
    st = P.st.Status(code=code.value[0], message=message)
    prefix = 'type.googleapis.com/'
    if retry_ms is not None:
        ri = P.st.RetryInfo()
        ri.retry_delay.seconds = int(retry_ms) // 1000
        ri.retry_delay.nanos = (int(retry_ms) % 1000) * 1000000
        st.details.add(type_url=prefix + 'google.rpc.RetryInfo',
                       value=ri.SerializeToString())
    if missing:
        st.details.add(type_url=prefix + 'google.rpc.PreconditionFailure',
                       value=precondition(P, missing).SerializeToString())
    return st


def precondition(P, missing):
    pf = P.st.PreconditionFailure()
    for m in missing:
        pf.violations.add(type='MISSING', subject='blobs/' + m,
                          description='blob not in the CAS')
    return pf


def fault_abort(P, f):
    """Abort for a 'status'-like fault."""
    code = f.code()
    message = f.params.get('message', 'injected %s' % code.name)
    retry = f.params.get('retry_ms')
    missing = [m for m in f.params.get('missing', '').split('+') if m]
    details = None
    if retry is not None or missing:
        details = status_details(P, code, message, retry, missing)
    return Abort(code, message, details)


# ---------------------------------------------------------------------------
# the servicer


def _rpc_unary(short):
    def deco(fn):
        def wrapper(self, request, ctx):
            call = self.begin(short, ctx, request)
            try:
                self.pre_fault(call)
                resp = fn(self, call, request, ctx)
                self.end(call, 'OK')
                return resp
            except Abort as a:
                self.abort(call, ctx, a)
            except Exception as e:
                self.end(call, _exc_code(ctx, e))
                raise
        wrapper.__name__ = fn.__name__
        return wrapper
    return deco


def _rpc_stream(short):
    def deco(fn):
        def wrapper(self, request, ctx):
            call = self.begin(short, ctx, request)
            try:
                self.pre_fault(call)
                yield from fn(self, call, request, ctx)
                self.end(call, call.code)
            except Abort as a:
                self.abort(call, ctx, a)
            except GeneratorExit:
                self.end(call, 'CANCELLED')
                raise
            except Exception as e:
                self.end(call, _exc_code(ctx, e))
                raise
        wrapper.__name__ = fn.__name__
        return wrapper
    return deco


def _exc_code(ctx, e):
    try:
        c = ctx.code()
        if c is not None:
            return c.name
    except Exception:                           # noqa: BLE001
        pass
    return 'UNKNOWN(%s)' % type(e).__name__


class Servicer:
    """Implements every REAPI method used (one object, all services)."""

    def __init__(self, state):
        self.S = state
        self.P = state.P
        self.executor = Executor(state)

    # --- call plumbing ---------------------------------------------------

    def begin(self, short, ctx, request, log=True):
        call = Call(self.S, short, ctx)
        call.fault = self.S.pick_fault(short)
        if log:
            self.log_begin(call, request)
        return call

    def log_begin(self, call, request, extra=None):
        ctx = call.ctx
        rec = {'ev': 'begin', 'id': call.id, 'short': call.short,
               'method': call_method(ctx), 'peer': ctx.peer(),
               'authority': call_authority(ctx),
               'metadata': metadata_dict(ctx),
               'requestmetadata': decode_reqmeta(self.P, ctx),
               'timeout_s': deadline_left(ctx),
               'instance_name': getattr(request, 'instance_name', None),
               'request': summarize(self.P, call.short, request),
               'fault': ({'id': call.fault.id, 'kind': call.fault.kind,
                          'spec': call.fault.spec} if call.fault else None)}
        if extra:
            rec.update(extra)
        self.S.log(rec)

    def end(self, call, code):
        ms = round((time.monotonic() - call.start) * 1000, 1)
        self.S.log({'ev': 'end', 'id': call.id, 'short': call.short,
                    'code': code, 'ms': ms})

    def abort(self, call, ctx, a):
        self.end(call, a.code.name)
        if a.details is not None:
            ctx.set_trailing_metadata(
                (('grpc-status-details-bin', a.details.SerializeToString()),))
        ctx.abort(a.code, a.message)

    def pre_fault(self, call):
        """Authentication and the before-reply faults; the fault's delay
        is slept here, once, before the handler runs."""
        self.check_auth(call.ctx)
        f = call.fault
        if f is None:
            return
        call.sleep()
        if f.kind == 'status':
            if f.params.get('headers') == '1':
                call.ctx.send_initial_metadata(())
            raise fault_abort(self.P, f)
        if f.kind == 'deadline':
            self.sleep_past_deadline(call)
        if call.short not in UNARY:
            return
        if f.kind == 'abort':
            raise Abort(f.code('INTERNAL'),
                        f.params.get('message', 'injected abort'))
        if f.kind == 'cancel':
            call.ctx.cancel()
            raise Abort(grpc.StatusCode.CANCELLED, 'injected cancel')
        if f.kind == 'goaway' and self.S.restart:
            self.S.restart(f.num('grace_ms', 0) / 1000.0)

    def sleep_past_deadline(self, call):
        limit = call.fault.num('ms', 30000) / 1000.0
        end = time.monotonic() + limit
        left = deadline_left(call.ctx)
        if left is not None:
            end = min(end, time.monotonic() + left + 0.2)
        while time.monotonic() < end:
            time.sleep(min(0.05, max(0.0, end - time.monotonic())))
        raise Abort(grpc.StatusCode.DEADLINE_EXCEEDED, 'injected deadline')

    def check_auth(self, ctx):
        tok = self.S.auth
        if not tok:
            return
        for m in ctx.invocation_metadata():
            if m.key == 'authorization' and m.value == 'Bearer ' + tok:
                return
        raise Abort(grpc.StatusCode.UNAUTHENTICATED, 'bad or no credentials')

    def check_instance(self, name):
        want = self.S.args.instance
        if want is not None and name != want:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                        'unknown instance name "%s"' % name)

    def check_digest(self, d):
        if not HEX64.match(d.hash) or d.size_bytes < 0:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                        'invalid digest %s' % digest_key(d))

    # --- Capabilities ----------------------------------------------------

    @_rpc_unary('GetCapabilities')
    def GetCapabilities(self, call, req, ctx):
        self.check_instance(req.instance_name)
        re_ = self.P.re
        a = self.S.args
        r = re_.ServerCapabilities()
        cc = r.cache_capabilities
        cc.digest_functions.append(re_.DigestFunction.SHA256)
        cc.action_cache_update_capabilities.update_enabled = True
        cc.max_batch_total_size_bytes = a.max_batch_bytes
        cc.symlink_absolute_path_strategy = \
            re_.SymlinkAbsolutePathStrategy.Value.Value(a.symlink_strategy)
        ec = r.execution_capabilities
        ec.digest_function = re_.DigestFunction.SHA256
        ec.exec_enabled = not a.no_exec
        ec.digest_functions.append(re_.DigestFunction.SHA256)
        for v, (ma, mi) in (('deprecated', (2, 0)), ('low', (2, 0)),
                            ('high', (2, 3))):
            f = getattr(r, v + '_api_version')
            f.major, f.minor = ma, mi
        return r

    # --- CAS -------------------------------------------------------------

    @_rpc_unary('FindMissingBlobs')
    def FindMissingBlobs(self, call, req, ctx):
        self.check_instance(req.instance_name)
        resp = self.P.re.FindMissingBlobsResponse()
        for d in req.blob_digests:
            self.check_digest(d)
            if not self.S.cas_has(d):
                resp.missing_blob_digests.add().CopyFrom(d)
        return resp

    @_rpc_unary('BatchUpdateBlobs')
    def BatchUpdateBlobs(self, call, req, ctx):
        self.check_instance(req.instance_name)
        if req.ByteSize() > self.S.args.max_batch_bytes:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                        'batch of %d bytes exceeds max_batch_total_size_bytes'
                        ' %d' % (req.ByteSize(), self.S.args.max_batch_bytes))
        resp = self.P.re.BatchUpdateBlobsResponse()
        for r in req.requests:
            out = resp.responses.add()
            out.digest.CopyFrom(r.digest)
            err = self.blob_error(r.digest, r.data, r.compressor)
            if err:
                out.status.code = grpc.StatusCode.INVALID_ARGUMENT.value[0]
                out.status.message = err
            else:
                self.S.cas_put(r.data)
        return resp

    def blob_error(self, d, data, compressor=0):
        if compressor != 0:
            return 'unsupported compressor %d' % compressor
        if not HEX64.match(d.hash) or d.size_bytes < 0:
            return 'invalid digest %s' % digest_key(d)
        if len(data) != d.size_bytes:
            return 'size mismatch: digest says %d, got %d bytes' % (
                d.size_bytes, len(data))
        h = hashlib.sha256(data).hexdigest()
        if h != d.hash:
            return 'hash mismatch: digest says %s, data hashes to %s' % (
                d.hash, h)
        return None

    @_rpc_unary('BatchReadBlobs')
    def BatchReadBlobs(self, call, req, ctx):
        self.check_instance(req.instance_name)
        total = sum(d.size_bytes for d in req.digests)
        if total > self.S.args.max_batch_bytes:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                        'blobs total %d bytes exceed max_batch_total_size_'
                        'bytes %d' % (total, self.S.args.max_batch_bytes))
        resp = self.P.re.BatchReadBlobsResponse()
        for d in req.digests:
            out = resp.responses.add()
            out.digest.CopyFrom(d)
            data = self.S.cas_get(d)
            if data is None:
                out.status.code = grpc.StatusCode.NOT_FOUND.value[0]
                out.status.message = 'blob %s not found' % digest_key(d)
            else:
                if call.kind() == 'corrupt' and data:
                    data = bytes([data[0] ^ 0xff]) + data[1:]
                out.data = data
        if call.kind() == 'oversize':
            n = call.fault.num('bytes', 8 * MIB)
            out = resp.responses.add(data=b'\0' * n)
            out.digest.hash = hashlib.sha256(out.data).hexdigest()
            out.digest.size_bytes = n
        return resp

    @_rpc_stream('GetTree')
    def GetTree(self, call, req, ctx):
        self.check_instance(req.instance_name)
        resp = self.P.re.GetTreeResponse()
        todo, seen = [req.root_digest], set()
        while todo:
            d = todo.pop(0)
            if digest_key(d) in seen:
                continue
            seen.add(digest_key(d))
            data = self.S.cas_get(d)
            if data is None:
                raise Abort(grpc.StatusCode.NOT_FOUND,
                            'directory %s not found' % digest_key(d))
            dr = resp.directories.add()
            dr.ParseFromString(data)
            todo.extend(n.digest for n in dr.directories)
        yield from self.stream_out(call, [resp])

    # --- streaming fault helper -----------------------------------------

    def stream_out(self, call, msgs):
        """Yield msgs (any iterable) applying the abort/cancel/goaway
        faults after `after` messages and the delay between messages."""
        f = call.fault
        armed = f is not None and f.kind in ('abort', 'cancel', 'goaway')
        after = f.num('after', 1) if armed else -1
        n = 0
        for m in msgs:
            if n > 0:
                call.sleep()
            if armed and n == after:
                armed = False
                self.stream_fault(call)
                if call.code == 'CANCELLED':
                    return
            yield m
            n += 1
        if armed:
            self.stream_fault(call)

    def stream_fault(self, call):
        f = call.fault
        if f.kind == 'abort':
            raise Abort(f.code('INTERNAL'),
                        f.params.get('message', 'injected abort'))
        if f.kind == 'cancel':
            call.code = 'CANCELLED'
            call.ctx.cancel()
        elif f.kind == 'goaway' and self.S.restart:
            self.S.restart(f.num('grace_ms', 0) / 1000.0)

    # --- ByteStream ------------------------------------------------------

    @_rpc_stream('Read')
    def Read(self, call, req, ctx):
        inst, d = self.parse_read_name(req.resource_name)
        self.check_instance(inst)
        data = self.S.cas_get(d)
        if data is None:
            raise Abort(grpc.StatusCode.NOT_FOUND,
                        'blob %s not found' % digest_key(d))
        if req.read_offset < 0 or req.read_offset > len(data) or \
                req.read_limit < 0:
            raise Abort(grpc.StatusCode.OUT_OF_RANGE,
                        'read_offset %d out of range' % req.read_offset)
        end = len(data)
        if req.read_limit > 0:
            end = min(end, req.read_offset + req.read_limit)
        data = data[req.read_offset:end]
        if call.kind() == 'corrupt' and data:
            data = bytes([data[0] ^ 0xff]) + data[1:]
        if call.kind() == 'truncate' and data:
            data = data[:-1]
        yield from self.stream_out(call, self.read_chunks(call, data))

    def read_chunks(self, call, data):
        if call.kind() == 'oversize':
            yield self.P.bs.ReadResponse(
                data=b'\0' * call.fault.num('bytes', 8 * MIB))
        n = self.S.args.read_chunk
        for off in range(0, len(data), n):
            yield self.P.bs.ReadResponse(data=data[off:off + n])

    def parse_read_name(self, name):
        parts = name.split('/')
        if len(parts) < 3 or parts[-3] != 'blobs':
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                        'bad read resource name "%s"' % name)
        d = self.name_digest(name, parts[-2], parts[-1])
        return '/'.join(parts[:-3]), d

    def name_digest(self, name, h, n):
        if not HEX64.match(h) or not n.isdigit():
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                        'bad digest in resource name "%s"' % name)
        return self.P.re.Digest(hash=h, size_bytes=int(n))

    def parse_write_name(self, name):
        """-> (instance, uuid, digest)."""
        parts = name.split('/')
        for i, p in enumerate(parts):
            if p == 'uploads' and len(parts) >= i + 5 and \
                    parts[i + 2] == 'blobs':
                d = self.name_digest(name, parts[i + 3], parts[i + 4])
                return '/'.join(parts[:i]), parts[i + 1], d
            if p == 'uploads' and len(parts) >= i + 3 and \
                    parts[i + 2] == 'compressed-blobs':
                raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                            'compressed uploads are not supported')
        raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                    'bad write resource name "%s"' % name)

    def Write(self, request_iterator, ctx):
        call = self.begin('Write', ctx, None, log=False)
        try:
            resp = self.write(call, request_iterator, ctx)
            self.end(call, 'OK')
            return resp
        except Abort as a:
            self.abort(call, ctx, a)
        except Exception as e:
            self.end(call, _exc_code(ctx, e))
            raise

    def write(self, call, it, ctx):
        first = next(it, None)
        info = {'resource_name': first.resource_name if first else None}
        if first is not None:
            try:
                _, u, _ = self.parse_write_name(first.resource_name)
                info['uuid_ok'] = bool(UUID4.match(u))
            except Abort:
                info['uuid_ok'] = False
        inst = None
        if first is not None:
            try:
                inst = self.parse_write_name(first.resource_name)[0]
            except Abort:
                pass
        self.log_begin(call, None, {'instance_name': inst,
                                    'request': info})
        self.pre_fault(call)
        if first is None:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, 'empty Write')
        name = first.resource_name
        inst, _, d = self.parse_write_name(name)
        self.check_instance(inst)
        early = self.S.args.write_early or call.kind() == 'early'
        if early and self.S.cas_has(d):
                return self.P.bs.WriteResponse(committed_size=d.size_bytes)
        return self.write_rest(call, name, d, first, it)

    def write_rest(self, call, name, d, first, it):
        buf, msg, finished = bytearray(), first, False
        while msg is not None:
            if finished:
                raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                            'data after finish_write')
            if msg.resource_name and msg.resource_name != name:
                raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                            'resource_name changed within a Write')
            if msg.write_offset != len(buf):
                raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                            'write_offset %d, expected %d' % (
                                msg.write_offset, len(buf)))
            buf += msg.data
            with self.S.lock:
                self.S.uploads[name] = len(buf)
            finished = msg.finish_write
            msg = next(it, None)
        if not finished:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT,
                        'Write ended without finish_write')
        err = self.blob_error(d, bytes(buf))
        if err:
            raise Abort(grpc.StatusCode.INVALID_ARGUMENT, err)
        self.S.cas_put(bytes(buf))
        return self.P.bs.WriteResponse(committed_size=len(buf))

    @_rpc_unary('QueryWriteStatus')
    def QueryWriteStatus(self, call, req, ctx):
        _, _, d = self.parse_write_name(req.resource_name)
        if self.S.cas_has(d):
            return self.P.bs.QueryWriteStatusResponse(
                committed_size=d.size_bytes, complete=True)
        with self.S.lock:
            n = self.S.uploads.get(req.resource_name)
        if n is None:
            raise Abort(grpc.StatusCode.NOT_FOUND, 'unknown upload')
        return self.P.bs.QueryWriteStatusResponse(committed_size=n)

    # --- ActionCache -----------------------------------------------------

    @_rpc_unary('GetActionResult')
    def GetActionResult(self, call, req, ctx):
        self.check_instance(req.instance_name)
        self.check_digest(req.action_digest)
        with self.S.lock:
            raw = self.S.ac.get(digest_key(req.action_digest))
        if raw is None:
            raise Abort(grpc.StatusCode.NOT_FOUND, 'action not in cache')
        ar = self.P.re.ActionResult.FromString(raw)
        self.executor.inline(ar, req.inline_stdout, req.inline_stderr)
        return ar

    @_rpc_unary('UpdateActionResult')
    def UpdateActionResult(self, call, req, ctx):
        self.check_instance(req.instance_name)
        self.check_digest(req.action_digest)
        with self.S.lock:
            self.S.ac[digest_key(req.action_digest)] = \
                req.action_result.SerializeToString()
        return req.action_result

    # --- Execution -------------------------------------------------------

    @_rpc_stream('Execute')
    def Execute(self, call, req, ctx):
        self.check_instance(req.instance_name)
        self.check_digest(req.action_digest)
        if self.S.args.no_exec:
            raise Abort(grpc.StatusCode.UNIMPLEMENTED, 'execution disabled')
        op = self.executor.submit(req)
        yield from self.op_stream(call, op, ctx, not op.cached)

    @_rpc_stream('WaitExecution')
    def WaitExecution(self, call, req, ctx):
        with self.S.lock:
            op = self.S.ops.get(req.name)
        if op is None:
            raise Abort(grpc.StatusCode.NOT_FOUND,
                        'operation "%s" not found' % req.name)
        yield from self.op_stream(call, op, ctx, False)

    @staticmethod
    def wait_op(op, ctx, cond, limit=None):
        """Wait until cond() (True), the client went away or `limit`
        seconds passed (False)."""
        end = time.monotonic() + limit if limit else None
        with op.cond:
            while not cond():
                if not ctx.is_active():
                    return False
                if end is not None and time.monotonic() >= end:
                    return False
                op.cond.wait(0.05)
        return True

    def op_stream(self, call, op, ctx, fresh):
        return self.stream_out(call, self.op_updates(call, op, ctx, fresh))

    def op_updates(self, call, op, ctx, fresh):
        """Execute of an action that is not a cache hit: QUEUED, EXECUTING
        (both not done, always), then the done Operation.  WaitExecution:
        the current stage if not done, then the done Operation.  With
        --progress-ms the current stage is repeated meanwhile."""
        R = self.P.re.ExecutionStage
        if fresh:
            yield op.snapshot(False, R.QUEUED)
            if not self.wait_op(op, ctx, lambda: op.stage >= R.EXECUTING):
                return
            yield op.snapshot(False, R.EXECUTING)
        elif not op.done:
            yield op.snapshot(False)
        prog = self.S.args.progress_ms / 1000.0
        while True:
            if self.wait_op(op, ctx, lambda: op.done, prog or None):
                break
            if not ctx.is_active():
                return
            yield op.snapshot(False)
        k = call.kind()
        if k == 'nodone':
            return
        if k in ('error', 'exec_status'):
            yield op.failed(call.fault)
            return
        yield op.snapshot(done=True)


UNARY = ('GetCapabilities', 'FindMissingBlobs', 'BatchUpdateBlobs',
         'BatchReadBlobs', 'GetActionResult', 'UpdateActionResult',
         'QueryWriteStatus', 'Write')


# ---------------------------------------------------------------------------
# operations and the executor


class Op:
    """One Execute operation."""

    def __init__(self, P, name, action_digest, prefix):
        self.P = P
        self.name = name
        self.action_digest = action_digest
        self.prefix = prefix
        self.cond = threading.Condition()
        self.stage = P.re.ExecutionStage.QUEUED
        self.done = False
        self.cached = False
        self.response = None        # ExecuteResponse
        self.error = None           # google.rpc.Status

    def set_stage(self, stage):
        with self.cond:
            self.stage = stage
            self.cond.notify_all()

    def finish(self, response=None, error=None):
        with self.cond:
            self.response, self.error = response, error
            self.stage = self.P.re.ExecutionStage.COMPLETED
            self.done = True
            self.cond.notify_all()

    def base(self, done, stage=None):
        P = self.P
        o = P.lr.Operation(name=self.name, done=done)
        md = P.re.ExecuteOperationMetadata(
            stage=self.stage if stage is None else stage)
        md.action_digest.CopyFrom(self.action_digest)
        o.metadata.type_url = self.prefix + RE_PKG + 'ExecuteOperationMetadata'
        o.metadata.value = md.SerializeToString()
        return o

    def snapshot(self, done, stage=None):
        with self.cond:
            o = self.base(done, stage)
            if not done:
                return o
            if self.error is not None:
                o.error.CopyFrom(self.error)
            else:
                o.response.type_url = self.prefix + RE_PKG + 'ExecuteResponse'
                o.response.value = self.response.SerializeToString()
            return o

    def failed(self, f):
        """Done Operation for the 'error' / 'exec_status' faults."""
        code = f.code('INTERNAL')
        msg = f.params.get('message', 'injected %s' % code.name)
        missing = [m for m in f.params.get('missing', '').split('+') if m]
        st = status_details(self.P, code, msg, f.params.get('retry_ms'),
                            missing)
        o = self.base(True)
        if f.kind == 'error':
            o.error.CopyFrom(st)
        else:
            er = self.P.re.ExecuteResponse(status=st)
            o.response.type_url = self.prefix + RE_PKG + 'ExecuteResponse'
            o.response.value = er.SerializeToString()
        return o


class Executor:
    """Runs actions (script, real or synthetic) in worker threads."""

    def __init__(self, state):
        self.S = state
        self.P = state.P

    def submit(self, req):
        P, S = self.P, self.S
        inst = req.instance_name
        name = (inst + '/' if inst else '') + 'operations/' + \
            str(uuid.uuid4())
        op = Op(P, name, req.action_digest, S.args.type_url_prefix)
        with S.lock:
            S.ops[name] = op
        cached = None
        if not req.skip_cache_lookup:
            op.set_stage(P.re.ExecutionStage.CACHE_CHECK)
            with S.lock:
                cached = S.ac.get(digest_key(req.action_digest))
        if cached is not None:
            er = P.re.ExecuteResponse(cached_result=True)
            er.result.ParseFromString(cached)
            self.inline(er.result, req.inline_stdout, req.inline_stderr)
            op.cached = True
            op.finish(response=er)
            return op
        op.set_stage(P.re.ExecutionStage.QUEUED)
        t = threading.Thread(target=self.run, args=(op, req), daemon=True)
        t.start()
        return op

    def inline(self, ar, out, err):
        force = self.S.args.inline_output
        for flag, dg, raw in ((out, 'stdout_digest', 'stdout_raw'),
                              (err, 'stderr_digest', 'stderr_raw')):
            if (flag or force) and ar.HasField(dg):
                data = self.S.cas_get(getattr(ar, dg))
                if data:
                    setattr(ar, raw, data)

    def run(self, op, req):
        P = self.P
        try:
            with self.S.exec_sem:
                op.set_stage(P.re.ExecutionStage.EXECUTING)
                er, err = self.execute(op, req)
        except Exception as e:                  # noqa: BLE001
            er, err = None, P.st.Status(
                code=grpc.StatusCode.INTERNAL.value[0],
                message='reapi_server executor: %r' % e)
        op.finish(response=er, error=err)

    def execute(self, op, req):
        """-> (ExecuteResponse, None) or (None, google.rpc.Status)."""
        P, S = self.P, self.S
        er = P.re.ExecuteResponse()
        action, command, missing = self.load(req.action_digest)
        if missing:
            er.status.CopyFrom(status_details(
                P, grpc.StatusCode.FAILED_PRECONDITION,
                'missing %d blob(s)' % len(missing), None, missing))
            return er, None
        rule = self.script_rule(req.action_digest, command)
        md = er.result.execution_metadata
        md.worker = 'reapi_server'
        md.queued_timestamp.CopyFrom(now_ts(P))
        md.worker_start_timestamp.CopyFrom(now_ts(P))
        md.execution_start_timestamp.CopyFrom(now_ts(P))
        if rule is not None and rule.get('delay_ms'):
            time.sleep(int(rule['delay_ms']) / 1000.0)
        if rule is not None and 'error' in rule:
            e = rule['error']
            return None, P.st.Status(
                code=status_code(e.get('code', 'INTERNAL')).value[0],
                message=e.get('message', ''))
        if rule is not None and 'status' in rule:
            s = rule['status']
            er.status.CopyFrom(status_details(
                P, status_code(s.get('code', 'INTERNAL')),
                s.get('message', ''), s.get('retry_ms'), s.get('missing')))
            return er, None
        if rule is not None and not rule.get('real'):
            self.scripted(er.result, rule, command)
        elif rule is not None or S.args.real_exec:
            st = self.real(er.result, action, command)
            if st is not None:
                er.status.CopyFrom(st)
        else:
            self.synthetic(er.result, req.action_digest, command)
        md.execution_completed_timestamp.CopyFrom(now_ts(P))
        md.worker_completed_timestamp.CopyFrom(now_ts(P))
        self.inline(er.result, req.inline_stdout, req.inline_stderr)
        self.maybe_cache(req, action, er)
        return er, None

    def maybe_cache(self, req, action, er):
        if action.do_not_cache or er.status.code != 0:
            return
        if er.result.exit_code != 0 and not self.S.args.cache_failures:
            return
        ar = self.P.re.ActionResult()
        ar.CopyFrom(er.result)
        ar.ClearField('stdout_raw')
        ar.ClearField('stderr_raw')
        with self.S.lock:
            self.S.ac[digest_key(req.action_digest)] = ar.SerializeToString()

    # --- inputs ----------------------------------------------------------

    def load(self, ad):
        """-> (Action, Command, missing list of 'hash/size')."""
        P, S = self.P, self.S
        raw = S.cas_get(ad)
        if raw is None:
            return None, None, [digest_key(ad)]
        action = P.re.Action.FromString(raw)
        missing = []
        raw = S.cas_get(action.command_digest)
        command = None
        if raw is None:
            missing.append(digest_key(action.command_digest))
        else:
            command = P.re.Command.FromString(raw)
        self.walk_missing(action.input_root_digest, missing, set())
        return action, command, missing

    def walk_missing(self, d, missing, seen):
        if digest_key(d) in seen:
            return
        seen.add(digest_key(d))
        raw = self.S.cas_get(d)
        if raw is None:
            missing.append(digest_key(d))
            return
        dr = self.P.re.Directory.FromString(raw)
        for f in dr.files:
            if not self.S.cas_has(f.digest) and \
                    digest_key(f.digest) not in seen:
                seen.add(digest_key(f.digest))
                missing.append(digest_key(f.digest))
        for sub in dr.directories:
            self.walk_missing(sub.digest, missing, seen)

    def script_rule(self, ad, command):
        path = self.S.args.script
        if not path:
            return None
        with open(path, encoding='utf-8') as fp:
            rules = json.load(fp).get('rules', [])
        argv = ' '.join(command.arguments)
        for r in rules:
            m = r.get('match', {})
            if 'action' in m and m['action'] not in (ad.hash,
                                                     digest_key(ad)):
                continue
            if 'argv' in m and not re.search(m['argv'], argv):
                continue
            return r
        return None

    # --- results ---------------------------------------------------------

    def set_std(self, ar, out, err):
        ar.stdout_digest.CopyFrom(self.S.cas_put(out))
        ar.stderr_digest.CopyFrom(self.S.cas_put(err))

    def add_file(self, ar, path, data, executable=False):
        f = ar.output_files.add(path=path, is_executable=executable)
        f.digest.CopyFrom(self.S.cas_put(data))

    def add_tree(self, ar, path, files):
        """files: {relpath: (bytes, executable)} -> Tree in the CAS."""
        root_dir = build_tree_dirs(files)
        tree = self.P.re.Tree()
        self.fill_dir(tree, tree.root, root_dir)
        ar.output_directories.add(path=path).tree_digest.CopyFrom(
            self.S.cas_put(tree.SerializeToString()))

    def fill_dir(self, tree, msg, node):
        """node = {'files': {name: (data, x)}, 'dirs': {name: node},
        'links': {name: target}}; fills msg (a Directory)."""
        for name in sorted(node['files']):
            data, x = node['files'][name]
            fn = msg.files.add(name=name, is_executable=x)
            fn.digest.CopyFrom(self.S.cas_put(data))
        for name in sorted(node['dirs']):
            child = self.P.re.Directory()
            self.fill_dir(tree, child, node['dirs'][name])
            raw = child.SerializeToString()
            dn = msg.directories.add(name=name)
            dn.digest.CopyFrom(self.S.cas_put(raw))
            if raw not in [c.SerializeToString() for c in tree.children]:
                tree.children.add().CopyFrom(child)
        for name in sorted(node['links']):
            msg.symlinks.add(name=name, target=node['links'][name])

    def synthetic(self, ar, ad, command):
        ar.exit_code = 0
        out = ('reapi_server: %s\n' % ' '.join(command.arguments)).encode()
        self.set_std(ar, out, b'')
        for p in out_files(command):
            self.add_file(ar, p, ('synthetic %s %s\n' % (p, ad.hash)).encode())
        for p in out_dirs(command):
            self.add_tree(ar, p, {'synthetic.txt': (b'synthetic\n', False)})

    def scripted(self, ar, rule, command):
        ar.exit_code = int(rule.get('exit_code', 0))
        self.set_std(ar, rule.get('stdout', '').encode(),
                     rule.get('stderr', '').encode())
        for p, v in sorted(rule.get('output_files', {}).items()):
            if isinstance(v, dict):
                self.add_file(ar, p, v.get('content', '').encode(),
                              bool(v.get('executable')))
            else:
                self.add_file(ar, p, v.encode())
        for p, files in sorted(rule.get('output_directories', {}).items()):
            self.add_tree(ar, p, {k: (v.encode(), False)
                                  for k, v in files.items()})

    def real(self, ar, action, command):
        """Run for real; -> None or a google.rpc.Status for the response."""
        P = self.P
        top = tempfile.mkdtemp(prefix='reapi-exec-')
        try:
            root = os.path.join(top, 'root')
            os.mkdir(root)
            err = self.materialize(action.input_root_digest, root)
            if err:
                return P.st.Status(code=3, message=err)
            wd = safe_join(root, command.working_directory)
            if wd is None:
                return P.st.Status(code=3, message='bad working_directory')
            for p in out_files(command) + out_dirs(command):
                full = safe_join(wd, p)
                if full is None:
                    return P.st.Status(code=3, message='bad output ' + p)
                os.makedirs(os.path.dirname(full), exist_ok=True)
            return self.spawn(ar, action, command, wd)
        finally:
            shutil.rmtree(top, ignore_errors=True)

    def spawn(self, ar, action, command, wd):
        P = self.P
        env = {e.name: e.value for e in command.environment_variables}
        tmo = action.timeout.seconds + action.timeout.nanos / 1e9 \
            if action.HasField('timeout') else 0
        tmo = tmo or self.S.args.exec_timeout
        try:
            p = subprocess.Popen(list(command.arguments), cwd=wd, env=env,
                                 stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE,
                                 start_new_session=True)
        except OSError as e:
            ar.exit_code = 127
            self.set_std(ar, b'', ('reapi_server: cannot run %r: %s\n' % (
                list(command.arguments)[:1], e.strerror)).encode())
            return None
        try:
            out, err = p.communicate(timeout=tmo)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
            ar.exit_code = -1
            self.set_std(ar, out, err)
            return P.st.Status(code=grpc.StatusCode.DEADLINE_EXCEEDED.value[0],
                               message='action timed out after %gs' % tmo)
        ar.exit_code = p.returncode if p.returncode >= 0 else \
            128 - p.returncode
        self.set_std(ar, out, err)
        self.collect(ar, command, wd)
        return None

    def collect(self, ar, command, wd):
        for p in out_files(command, real=True):
            full = safe_join(wd, p)
            if full is None or not os.path.lexists(full):
                continue
            if os.path.islink(full):
                ar.output_file_symlinks.add(path=p, target=os.readlink(full))
                ar.output_symlinks.add(path=p, target=os.readlink(full))
            elif os.path.isfile(full):
                with open(full, 'rb') as fp:
                    data = fp.read()
                self.add_file(ar, p, data, os.access(full, os.X_OK))
        for p in out_dirs(command, real=True):
            full = safe_join(wd, p)
            if full is not None and os.path.isdir(full) and \
                    not os.path.islink(full):
                self.add_tree(ar, p, read_tree_files(full))
        for p in command.output_paths:
            full = safe_join(wd, p)
            if full is None or not os.path.lexists(full):
                continue
            if os.path.isdir(full) and not os.path.islink(full):
                self.add_tree(ar, p, read_tree_files(full))
            elif os.path.islink(full):
                ar.output_symlinks.add(path=p, target=os.readlink(full))
            else:
                with open(full, 'rb') as fp:
                    self.add_file(ar, p, fp.read(), os.access(full, os.X_OK))

    def materialize(self, d, path):
        dr = self.P.re.Directory.FromString(self.S.cas_get(d))
        for f in dr.files:
            if not valid_name(f.name):
                return 'bad file name %r' % f.name
            fp_ = os.path.join(path, f.name)
            with open(fp_, 'wb') as fp:
                fp.write(self.S.cas_get(f.digest))
            os.chmod(fp_, 0o755 if f.is_executable else 0o644)
        for s in dr.symlinks:
            if not valid_name(s.name):
                return 'bad symlink name %r' % s.name
            os.symlink(s.target, os.path.join(path, s.name))
        for sub in dr.directories:
            if not valid_name(sub.name):
                return 'bad directory name %r' % sub.name
            os.mkdir(os.path.join(path, sub.name))
            err = self.materialize(sub.digest, os.path.join(path, sub.name))
            if err:
                return err
        return None


def out_files(command, real=False):
    if real and command.output_paths:
        return []
    return list(command.output_files)


def out_dirs(command, real=False):
    if real and command.output_paths:
        return []
    return list(command.output_directories)


def valid_name(n):
    return n not in ('', '.', '..') and '/' not in n and '\0' not in n


def safe_join(base, rel):
    if rel.startswith('/'):
        return None
    parts = [p for p in rel.split('/') if p not in ('', '.')]
    if '..' in parts:
        return None
    return os.path.join(base, *parts) if parts else base


def build_tree_dirs(files):
    """{relpath: (data, x) or ('->', target)} -> nested node dict."""
    root = {'files': {}, 'dirs': {}, 'links': {}}
    for rel, val in files.items():
        parts = rel.split('/')
        node = root
        for p in parts[:-1]:
            node = node['dirs'].setdefault(
                p, {'files': {}, 'dirs': {}, 'links': {}})
        if val[0] == '->':
            node['links'][parts[-1]] = val[1]
        elif val[0] is None:
            node['dirs'].setdefault(parts[-1],
                                    {'files': {}, 'dirs': {}, 'links': {}})
        else:
            node['files'][parts[-1]] = val
    return root


def read_tree_files(top):
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        rel_dir = os.path.relpath(dirpath, top)
        for n in dirnames + filenames:
            full = os.path.join(dirpath, n)
            rel = n if rel_dir == '.' else rel_dir + '/' + n
            if os.path.islink(full):
                out[rel] = ('->', os.readlink(full))
            elif os.path.isdir(full):
                out[rel] = (None, None)
            elif os.path.isfile(full):
                with open(full, 'rb') as fp:
                    out[rel] = (fp.read(), os.access(full, os.X_OK))
        dirnames[:] = [d for d in dirnames
                       if not os.path.islink(os.path.join(dirpath, d))]
    return out


# ---------------------------------------------------------------------------
# raw HTTP/2 responder (--raw): frames python grpc cannot produce


H2_ERRORS = {'NO_ERROR': 0, 'PROTOCOL_ERROR': 1, 'INTERNAL_ERROR': 2,
             'FLOW_CONTROL_ERROR': 3, 'SETTINGS_TIMEOUT': 4,
             'STREAM_CLOSED': 5, 'FRAME_SIZE_ERROR': 6, 'REFUSED_STREAM': 7,
             'CANCEL': 8, 'COMPRESSION_ERROR': 9, 'CONNECT_ERROR': 10,
             'ENHANCE_YOUR_CALM': 11, 'INADEQUATE_SECURITY': 12,
             'HTTP_1_1_REQUIRED': 13}
H2_PREFACE = b'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'
RAW_DEFAULT = 'trailers-only=12/raw%20port%3A%20no%20recipe'
RAW_STEPS = ('early', 'headers', 'msg', 'data', 'compressed', 'trailers',
             'trailers-only', 'end', 'rst', 'goaway', 'close', 'sleep')


def h2_code(v):
    v = str(v)
    return int(v) if v.isdigit() else H2_ERRORS[v.upper()]


def hpack_int(value, prefix_bits, first):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out, value = [first | limit], value - limit
    while value >= 128:
        out.append((value & 0x7f) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_block(headers):
    """Literal header fields without indexing, new names, no Huffman."""
    out = b''
    for k, v in headers:
        k, v = k.encode(), v.encode()
        out += b'\x00' + hpack_int(len(k), 7, 0) + k + \
            hpack_int(len(v), 7, 0) + v
    return out


def h2_frame(ftype, flags, sid, payload=b''):
    return len(payload).to_bytes(3, 'big') + bytes([ftype, flags]) + \
        sid.to_bytes(4, 'big') + payload


def parse_recipe(text):
    """'step step=arg ...' -> [(step, arg)]; raises ValueError."""
    steps = []
    for tok in text.split():
        name, _, arg = tok.partition('=')
        if name not in RAW_STEPS:
            raise ValueError('unknown raw step ' + name)
        steps.append((name, arg))
    return steps


class RawH2:
    """A plaintext (h2c prior knowledge) HTTP/2 server that ignores what
    the request says and answers every stream with a recipe (see the file
    header).  Request header blocks are not decoded."""

    def __init__(self, state, default):
        self.S = state
        self.lock = threading.Lock()
        self.default = parse_recipe(default or RAW_DEFAULT)
        self.queue = []
        self.max_streams = state.args.raw_max_streams
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.closed = False

    def start(self):
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def stop(self):
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    def next_recipe(self):
        with self.lock:
            return self.queue.pop(0) if self.queue else self.default

    def accept_loop(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=RawConn(self, conn).run,
                             daemon=True).start()


class RawConn:
    """One raw HTTP/2 connection."""

    def __init__(self, raw, conn):
        self.raw, self.conn = raw, conn
        self.S = raw.S
        self.buf = b''
        self.streams = {}       # sid -> recipe, waiting for END_STREAM
        self.hdr_sid = None     # header block being continued
        self.last_sid = 0
        self.alive = True
        self.wlock = threading.Lock()

    def send(self, data):
        with self.wlock:
            self.conn.sendall(data)

    def run(self):
        try:
            self.conn.settimeout(self.S.args.max_lifetime or None)
            if not self.read_exact(len(H2_PREFACE)) == H2_PREFACE:
                return
            self.send(h2_frame(4, 0, 0, (3).to_bytes(2, 'big') +
                               self.raw.max_streams.to_bytes(4, 'big')))
            while self.alive:
                head = self.read_exact(9)
                if head is None:
                    return
                n = int.from_bytes(head[:3], 'big')
                body = self.read_exact(n) if n else b''
                if body is None:
                    return
                self.frame(head[3], head[4],
                           int.from_bytes(head[5:9], 'big') & 0x7fffffff,
                           body)
        except OSError:
            pass
        finally:
            self.conn.close()

    def read_exact(self, n):
        while len(self.buf) < n:
            d = self.conn.recv(65536)
            if not d:
                return None
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def frame(self, ftype, flags, sid, body):
        if ftype == 4 and not flags & 1:            # SETTINGS
            self.send(h2_frame(4, 1, 0))
        elif ftype == 6 and not flags & 1:          # PING
            self.send(h2_frame(6, 1, 0, body))
        elif ftype == 1:                            # HEADERS
            self.on_headers(sid, flags)
        elif ftype == 9:                            # CONTINUATION
            if flags & 4:
                self.hdr_sid = None
        elif ftype == 0:                            # DATA
            if body:
                inc = len(body).to_bytes(4, 'big')
                self.send(h2_frame(8, 0, 0, inc) + h2_frame(8, 0, sid, inc))
            if flags & 1:
                self.request_done(sid)
        elif ftype in (3, 7):                       # RST_STREAM, GOAWAY
            self.log_recv(ftype, sid, body)

    def log_recv(self, ftype, sid, body):
        if ftype == 3:
            code = int.from_bytes(body[:4], 'big')
            self.streams.pop(sid, None)
            self.S.log({'ev': 'raw-recv', 'frame': 'RST_STREAM',
                        'stream': sid, 'code': code})
        else:
            self.S.log({'ev': 'raw-recv', 'frame': 'GOAWAY',
                        'last_stream': int.from_bytes(body[:4], 'big'),
                        'code': int.from_bytes(body[4:8], 'big')})

    def on_headers(self, sid, flags):
        if sid <= self.last_sid:
            return                                  # trailers: ignore
        self.last_sid = sid
        recipe = self.raw.next_recipe()
        self.S.log({'ev': 'raw', 'stream': sid,
                    'recipe': ' '.join(k + ('=' + a if a else '')
                                       for k, a in recipe)})
        if recipe and recipe[0][0] == 'early':
            self.play(sid, recipe[1:])
        elif flags & 1:
            self.play(sid, recipe)
        else:
            self.streams[sid] = recipe

    def request_done(self, sid):
        recipe = self.streams.pop(sid, None)
        if recipe is not None:
            self.play(sid, recipe)

    def play(self, sid, recipe):
        for name, arg in recipe:
            if not self.alive:
                return
            getattr(self, 'step_' + name.replace('-', '_'))(sid, arg)

    def step_early(self, sid, arg):
        pass

    def step_headers(self, sid, arg):
        st, _, ctype = (arg or '200').partition('/')
        self.send(h2_frame(1, 4, sid, hpack_block(
            [(':status', st), ('content-type', ctype or
                               'application/grpc')])))

    def step_msg(self, sid, arg, flag=0):
        payload = bytes.fromhex(arg)
        self.step_data(sid, None, bytes([flag]) +
                       len(payload).to_bytes(4, 'big') + payload)

    def step_compressed(self, sid, arg):
        self.step_msg(sid, arg, 1)

    def step_data(self, sid, arg, raw=None):
        data = raw if raw is not None else bytes.fromhex(arg)
        for off in range(0, max(len(data), 1), 16384):
            self.send(h2_frame(0, 0, sid, data[off:off + 16384]))

    def step_trailers(self, sid, arg):
        self.send(h2_frame(1, 5, sid, hpack_block(self.status(arg))))

    def step_trailers_only(self, sid, arg):
        self.send(h2_frame(1, 5, sid, hpack_block(
            [(':status', '200'), ('content-type', 'application/grpc')] +
            self.status(arg))))

    @staticmethod
    def status(arg):
        code, _, msg = (arg or '0').partition('/')
        if not code.isdigit():
            code = str(status_code(code).value[0])
        return [('grpc-status', code)] + ([('grpc-message', msg)]
                                          if msg else [])

    def step_end(self, sid, arg):
        self.send(h2_frame(0, 1, sid))

    def step_rst(self, sid, arg):
        self.send(h2_frame(3, 0, sid, h2_code(arg or 'INTERNAL_ERROR')
                           .to_bytes(4, 'big')))

    def step_goaway(self, sid, arg):
        last, _, code = (arg or 'last').partition('/')
        last = {'last': self.last_sid, 'max': 0x7fffffff,
                'prev': max(self.last_sid - 2, 0)}.get(last) \
            if not last.isdigit() else int(last)
        self.send(h2_frame(7, 0, 0, last.to_bytes(4, 'big') +
                           h2_code(code or 'NO_ERROR').to_bytes(4, 'big')))

    def step_close(self, sid, arg):
        self.alive = False
        try:
            self.conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def step_sleep(self, sid, arg):
        time.sleep(int(arg or 0) / 1000.0)


# ---------------------------------------------------------------------------
# server lifecycle


class Server:
    """Owns the grpc.Server; restart() produces GOAWAY (see header)."""

    def __init__(self, state, servicer, args):
        self.S, self.servicer, self.args = state, servicer, args
        self.lock = threading.Lock()
        self.address = None
        self.creds = self.credentials()
        self.grpc = self.build()
        state.restart = self.restart

    def credentials(self):
        a = self.args
        if not a.tls_cert:
            return None
        with open(a.tls_key, 'rb') as fp:
            key = fp.read()
        with open(a.tls_cert, 'rb') as fp:
            cert = fp.read()
        ca = None
        if a.client_ca:
            with open(a.client_ca, 'rb') as fp:
                ca = fp.read()
        return grpc.ssl_server_credentials(
            [(key, cert)], root_certificates=ca,
            require_client_auth=ca is not None)

    def build(self):
        a = self.args
        opts = [('grpc.max_receive_message_length', a.max_recv_bytes),
                ('grpc.max_send_message_length', -1),
                ('grpc.so_reuseport', 1)]
        srv = grpc.server(futures.ThreadPoolExecutor(max_workers=a.threads),
                          options=opts, maximum_concurrent_rpcs=None)
        sv = self.servicer
        P = self.S.P
        P.re_grpc.add_CapabilitiesServicer_to_server(sv, srv)
        P.re_grpc.add_ContentAddressableStorageServicer_to_server(sv, srv)
        P.re_grpc.add_ActionCacheServicer_to_server(sv, srv)
        P.re_grpc.add_ExecutionServicer_to_server(sv, srv)
        P.bs_grpc.add_ByteStreamServicer_to_server(sv, srv)
        return srv

    def bind(self, srv, address):
        if self.creds is not None:
            return srv.add_secure_port(address, self.creds)
        return srv.add_insecure_port(address)

    def start(self):
        a = self.args
        if a.unix:
            self.address = 'unix:' + a.unix
            self.bind(self.grpc, self.address)
            port = None
        else:
            host, port = split_hostport(a.listen)
            port = self.bind(self.grpc, join_hostport(host, port))
            self.address = join_hostport(host, port)
        self.grpc.start()
        return port

    def restart(self, grace):
        """Bind a fresh server on the same address, stop the old one."""
        def work():
            with self.lock:
                old = self.grpc
                new = self.build()
                if self.args.unix:
                    old.stop(grace).wait(grace + 5)
                    try:
                        os.unlink(self.args.unix)
                    except OSError:
                        pass
                    self.bind(new, self.address)
                    new.start()
                else:
                    self.bind(new, self.address)
                    new.start()
                    old.stop(grace)
                self.grpc = new
                self.S.log({'ev': 'restart', 'grace_s': grace})
        threading.Thread(target=work, daemon=True).start()

    def stop(self):
        with self.lock:
            self.grpc.stop(0).wait(5)


def split_hostport(s):
    if s.startswith('['):
        host, _, rest = s[1:].partition(']')
        port = rest.lstrip(':')
    else:
        host, _, port = s.rpartition(':')
    return host, int(port)


def join_hostport(host, port):
    if ':' in host:
        return '[%s]:%d' % (host, port)
    return '%s:%d' % (host, port)


def check_loopback(host):
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ControlHandler(socketserver.StreamRequestHandler):
    """The line protocol (see the file header)."""

    def handle(self):
        for raw in self.rfile:
            line = raw.decode('utf-8', 'replace').strip()
            if not line:
                continue
            try:
                reply = 'OK ' + (self.server.app.command(line) or '')
            except Exception as e:              # noqa: BLE001
                reply = 'ERR %s' % e
            self.wfile.write((reply.rstrip() + '\n').encode())
            self.wfile.flush()


class ControlServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class App:
    def __init__(self, args):
        self.args = args
        self.stop_event = threading.Event()
        self.P, self.tmp = load_stubs(args.proto_dir, args.stubs_dir)
        self.state = State(self.P, args)
        for spec in args.fault:
            self.state.add_fault(spec)
        self.servicer = Servicer(self.state)
        self.server = Server(self.state, self.servicer, args)
        self.control = None
        self.raw = RawH2(self.state, args.raw_mode) if args.raw else None

    def command(self, line):
        cmd, _, arg = line.partition(' ')
        S, arg = self.state, arg.strip()
        if cmd == 'ping':
            return 'pong'
        if cmd == 'fault':
            return str(S.add_fault(arg).id)
        if cmd == 'clear':
            with S.lock:
                S.faults.clear()
            return ''
        if cmd == 'count':
            with S.lock:
                return str(S.counts.get(arg, 0)) if arg else \
                    json.dumps(S.counts, sort_keys=True)
        if cmd == 'reset-counts':
            with S.lock:
                S.counts.clear()
            return ''
        if cmd == 'goaway':
            self.server.restart(int(arg or 0) / 1000.0)
            return ''
        return self.command2(cmd, arg)

    def command2(self, cmd, arg):
        S = self.state
        if cmd == 'auth':
            S.auth = None if arg in ('', '-') else arg
            return ''
        if cmd == 'cas-has':
            return '1' if S.cas_has(parse_digest_str(self.P, arg)) else '0'
        if cmd == 'cas-drop':
            with S.lock:
                S.cas.pop(parse_digest_str(self.P, arg).hash, None)
            return ''
        if cmd in ('cas-clear', 'ac-clear', 'ops-clear'):
            with S.lock:
                {'cas-clear': S.cas, 'ac-clear': S.ac,
                 'ops-clear': S.ops}[cmd].clear()
            return ''
        if cmd == 'ops':
            with S.lock:
                return json.dumps(sorted(S.ops))
        if cmd == 'mark':
            S.log({'mark': arg})
            return ''
        if cmd in ('raw', 'raw-push') and self.raw is None:
            raise ValueError('no raw port (start with --raw)')
        if cmd == 'raw':
            self.raw.default = parse_recipe(arg or RAW_DEFAULT)
            with self.raw.lock:
                self.raw.queue.clear()
            return ''
        if cmd == 'raw-push':
            recipe = parse_recipe(arg)
            with self.raw.lock:
                self.raw.queue.append(recipe)
            return ''
        if cmd == 'stop':
            self.stop_event.set()
            return 'stopping'
        raise ValueError('unknown command ' + cmd)

    def start_control(self):
        self.control = ControlServer(('127.0.0.1', 0), ControlHandler)
        self.control.app = self
        threading.Thread(target=self.control.serve_forever,
                         daemon=True).start()
        return self.control.server_address[1]

    def watch_stdin(self):
        try:
            mode = os.fstat(0).st_mode
        except OSError:
            return
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(0)):
            return

        def reader():
            try:
                while os.read(0, 4096):
                    pass
            except OSError:
                pass
            self.stop_event.set()
        threading.Thread(target=reader, daemon=True).start()

    def run(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop_event.set())
        port = self.server.start()
        if port is not None:
            out('PORT %d' % port)
        else:
            out('UNIX %s' % self.args.unix)
        if not self.args.no_control:
            out('CONTROL %d' % self.start_control())
        if self.raw:
            self.raw.start()
            out('RAW %d' % self.raw.port)
        out('READY')
        if not self.args.no_stdin_watch:
            self.watch_stdin()
        life = self.args.max_lifetime or None
        self.stop_event.wait(life)
        self.shutdown()

    def shutdown(self):
        if self.raw:
            self.raw.stop()
        if self.control:
            self.control.shutdown()
            self.control.server_close()
        self.server.stop()
        if self.args.unix:
            try:
                os.unlink(self.args.unix)
            except OSError:
                pass
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


def out(line):
    sys.stdout.write(line + '\n')
    sys.stdout.flush()


def parse_args(argv):
    p = argparse.ArgumentParser(
        description='REAPI v2 test server (see the file header).')
    p.add_argument('--listen', default='127.0.0.1:0',
                   help='loopback host:port (port 0: pick; printed)')
    p.add_argument('--unix', help='serve on this unix socket path instead')
    p.add_argument('--proto-dir', default=DEFAULT_PROTO_DIR)
    p.add_argument('--stubs-dir', help='generate stubs here (kept)')
    p.add_argument('--log', help='JSON-lines request log file')
    p.add_argument('--instance', help='only accept this instance name')
    p.add_argument('--max-batch-bytes', type=int, default=4 * MIB)
    p.add_argument('--max-recv-bytes', type=int, default=16 * MIB,
                   help='gRPC receive message limit of the server')
    p.add_argument('--read-chunk', type=int, default=MIB,
                   help='ByteStream.Read chunk size')
    p.add_argument('--symlink-strategy', default='ALLOWED',
                   choices=['UNKNOWN', 'DISALLOWED', 'ALLOWED'])
    p.add_argument('--no-exec', action='store_true',
                   help='exec_enabled=false, Execute -> UNIMPLEMENTED')
    p.add_argument('--real-exec', action='store_true')
    p.add_argument('--script', help='JSON rules for Execute')
    p.add_argument('--exec-timeout', type=float, default=300.0)
    p.add_argument('--exec-slots', type=int, default=4)
    p.add_argument('--progress-ms', type=int, default=0,
                   help='repeat the current stage Operation every N ms')
    p.add_argument('--inline-output', action='store_true',
                   help='always set stdout_raw/stderr_raw')
    p.add_argument('--cache-failures', action='store_true')
    p.add_argument('--write-early', action='store_true',
                   help='Write answers at once if the blob exists')
    p.add_argument('--type-url-prefix', default='type.googleapis.com/')
    p.add_argument('--fault', action='append', default=[],
                   help='METHOD:KIND[:k=v,...] (repeatable)')
    p.add_argument('--require-auth', metavar='TOKEN')
    p.add_argument('--tls-cert')
    p.add_argument('--tls-key')
    p.add_argument('--client-ca', help='require client certs from this CA')
    p.add_argument('--threads', type=int, default=64)
    p.add_argument('--raw', action='store_true',
                   help='also open the raw HTTP/2 responder port')
    p.add_argument('--raw-mode', help='default raw recipe')
    p.add_argument('--raw-max-streams', type=int, default=100,
                   help='SETTINGS_MAX_CONCURRENT_STREAMS of the raw port')
    p.add_argument('--no-control', action='store_true')
    p.add_argument('--no-stdin-watch', action='store_true')
    p.add_argument('--max-lifetime', type=float, default=900.0,
                   help='exit after this many seconds (0: never)')
    a = p.parse_args(argv)
    if bool(a.tls_cert) != bool(a.tls_key):
        p.error('--tls-cert and --tls-key go together')
    if a.client_ca and not a.tls_cert:
        p.error('--client-ca needs --tls-cert/--tls-key')
    if not a.unix and not check_loopback(split_hostport(a.listen)[0]):
        p.error('--listen must be a loopback address')
    for spec in a.fault:
        try:
            Fault(spec)
        except (ValueError, KeyError) as e:
            p.error('bad --fault %r: %s' % (spec, e))
    if a.raw_mode:
        try:
            parse_recipe(a.raw_mode)
        except ValueError as e:
            p.error(str(e))
    return a


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    app = App(args)
    try:
        app.run()
    finally:
        if app.tmp:
            shutil.rmtree(app.tmp, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
