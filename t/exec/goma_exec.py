#!/usr/bin/python3
# -*- coding: utf-8 -*-
r"""goma_exec.py: a small Goma client for remoteexec_proxy (test and smoke
tool, also the load generator behind bench/exec_load.sh).

It builds an ExecReq the way the Goma client (compiler_proxy) does from a
real compiler command line and the files on disk, posts it to
/cxx-compiler-service/e, and writes the outputs the server returns.
Everything protocol-related is independent of the server's code: the
messages come from Debian's protoc (--python_out) run at start-up over
t/proto/goma_wire.proto (the real proto2 groups), hash keys are sha256 of
python-protobuf's FileBlob serialization, compression is python's zlib.

Usage
  goma_exec.py --server http://127.0.0.1:5050 [options] -- gcc -c a.c -o a.o

  Runs in the current directory (or --cwd DIR).  Inputs: the sources and
  every header `gcc -M` lists (headers under /usr are left out unless
  --system-headers: the server drops them anyway, REMOTEEXEC.md §6.5.1).
  Files up to 2 MiB are embedded as FILE blobs; larger ones are uploaded
  as FILE_CHUNKs with /s and embedded as FILE_META (GOMA_PROTOCOL.md §9.3).
  When the answer lists missing inputs, they are sent again with content
  (--on-missing embed, the client's way), or stored with /s and the
  request is resent with hash keys only (--on-missing store), or the
  answer is final (--on-missing fail); at most --max-retry retries.
  Outputs are written relative to the cwd: FILE content as is, FILE_META
  chunks fetched with /l five keys per call and written at their offsets,
  FILE_REF through /l of its key.

  Prints the exit status, stdout, stderr and cache_hit (or, with --json, a
  JSON object: http_status, exit_status, stdout, stderr, cache_hit, error,
  error_message, missing_input, missing_reason, outputs, attempts, ...).
  Exit status: the remote compiler's, or 255 when no result came back
  (always 0 with --json unless the tool itself failed).

Request options
  --hash-only           first attempt without content (hash keys only)
  --store-first         /s every input before the first attempt
  --expected-outputs    send expected_output_files (from -o / -MF)
  --expected-output-file F, --expected-output-dir D
                        more expected outputs (repeatable)
  --no-toolchain        toolchain_included false (non-arbitrary toolchain)
  --no-toolchain-specs  toolchain_included true but no toolchain_specs
  --no-dimensions       requester_info without dimensions
  --path-style S        POSIX_STYLE (default), WINDOWS_STYLE, UNKNOWN_STYLE
  --platform-property NAME=VALUE
                        requester_info.platform_properties (repeatable)
  --dimension D         dimension (repeatable; default os:linux)
  --exec-root DIR       requester_info.exec_root
  --cache-policy P      LOOKUP_AND_STORE (default), LOOKUP_ONLY, STORE_ONLY
  --extra-input NAME=SRC
                        one more Input named NAME (as sent, may be absolute
                        or contain ..); SRC is @FILE or literal text
  --hash-only-input NAME
                        send this input (as named) without content
  --id ID               compiler_proxy_id (default test@host:1/<pid>/1)
  --env NAME=VALUE      extra env entry (PWD=<cwd> is always sent)
  --no-write            do not write outputs
  --auth-file F         Authorization header = content of F (trimmed)
  --timeout S           per HTTP call (default 120)
  --record FILE         write the last ExecReq (uncompressed) to FILE
  --dry-run             build the request, --record it, send nothing
                        (--store-first still stores the inputs)
  --replay FILE         send this recorded ExecReq instead of building one

Load mode (--load N)
  goma_exec.py --server URL --load 2000 --concurrency 16 [--repeat R]
      [--error-log FILE] [--replay REQ ...] [-- gcc -c a.c -o a.o]
  First one ordinary run (missing inputs handled, outputs not written) to
  warm the server's action cache, then N requests per round, R rounds
  (default 1), C in flight, each on its own keep-alive connection,
  replaying the recorded request bytes (several --replay files are used
  round-robin).  Every answer must be HTTP 200 with an ExecResp without
  error.  Reports requests/s and the client-measured latency p50/p90/p99
  (from the first byte written to the last byte read).
  With --error-log (the server's error log, level notice or lower) it also
  reports the proxy's own share of each request from the server's
  one-line summaries
      exec <id>: ok, ... inventory: Ams, input tree: Bms, setup: Cms,
      check cache: Dms, check missing: Ems, upload blobs: Fms,
      execute: Gms, response: Hms, total: Tms
  of this run's requests (compiler_proxy_id unique per run):
      own      = T - (D + E + F + G + H)
               = A + B + C + time between stages: the proxy's work before
                 its first backend call, nothing backend-bound in it;
      own+resp = T - (D + E + F + G): also counts the response stage, which
                 mixes the proxy's conversion work with CAS reads of the
                 outputs (an upper bound of the proxy's share).
  The HTTP parsing, decompression and answer encoding around the phases
  are not in T (the server's summary starts after the body is decoded).
  --json prints the figures as one JSON object.
"""

import argparse
import asyncio
import atexit
import gzip
import hashlib
import http.client
import importlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PROTO = os.path.normpath(
    os.path.join(HERE, '..', 'proto', 'goma_wire.proto'))
PREFIX = '/cxx-compiler-service'
CHUNK = 2 * 1024 * 1024
USER_AGENT = ('compiler-proxy built by goma_exec at 0123abcd@1700000000 '
              'on 2026-01-01T00:00:00')
PB = None       # the generated goma_wire_pb2 module


class Failure(Exception):
    """A problem talking to the server (reported, not a traceback)."""


# ---------------------------------------------------------------- stubs

def load_stubs(proto=DEFAULT_PROTO, stubs_dir=None):
    """protoc --python_out for goma_wire.proto; imports goma_wire_pb2."""
    global PB
    if PB is not None:
        return PB
    if stubs_dir is None:
        stubs_dir = tempfile.mkdtemp(prefix='goma-exec-stubs-')
        atexit.register(shutil.rmtree, stubs_dir, True)
    os.makedirs(stubs_dir, exist_ok=True)
    mod = os.path.join(stubs_dir, 'goma_wire_pb2.py')
    if not os.path.exists(mod) or os.path.getmtime(mod) < \
            os.path.getmtime(proto):
        tmp = tempfile.mkdtemp(prefix='gen-', dir=stubs_dir)
        subprocess.run(['protoc', '--python_out=' + tmp,
                        '-I' + os.path.dirname(proto), proto], check=True)
        os.replace(os.path.join(tmp, 'goma_wire_pb2.py'), mod)
        shutil.rmtree(tmp, True)
    if stubs_dir not in sys.path:
        sys.path.insert(0, stubs_dir)
    PB = importlib.import_module('goma_wire_pb2')
    return PB


# ---------------------------------------------------------------- blobs

def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def blob_key(blob):
    return sha256_hex(blob.SerializeToString())


def file_blob(content):
    b = PB.FileBlob()
    b.blob_type = PB.FileBlob.FILE
    b.content = content
    b.file_size = len(content)
    return b


def chunk_blobs(content):
    """FILE_CHUNKs as the client writes them (file_size = chunk size)."""
    out = []
    for off in range(0, len(content), CHUNK):
        b = PB.FileBlob()
        b.blob_type = PB.FileBlob.FILE_CHUNK
        b.offset = off
        b.content = content[off:off + CHUNK]
        b.file_size = len(b.content)
        out.append(b)
    return out


def meta_blob(chunks, size):
    b = PB.FileBlob()
    b.blob_type = PB.FileBlob.FILE_META
    b.file_size = size
    b.hash_key.extend(blob_key(c) for c in chunks)
    return b


class InputFile:
    """One input: the name as sent, its content, its blob(s) and key."""

    def __init__(self, name, content):
        self.name = name
        self.content = content
        if len(content) <= CHUNK:
            self.chunks = []
            self.blob = file_blob(content)
        else:
            self.chunks = chunk_blobs(content)
            self.blob = meta_blob(self.chunks, len(content))
        self.key = blob_key(self.blob)


# ---------------------------------------------------------------- http

class Server:
    """Keep-alive HTTP/1.1 connection speaking the goma RPC envelope."""

    def __init__(self, url, auth=None, timeout=120.0, accept='gzip',
                 encoding='gzip'):
        u = urllib.parse.urlsplit(url if '//' in url else 'http://' + url)
        if u.scheme not in ('http', ''):
            raise Failure('only http:// servers are supported')
        self.host = u.hostname or '127.0.0.1'
        self.port = u.port or 8090
        self.prefix = u.path.rstrip('/') or PREFIX
        self.auth = auth
        self.timeout = timeout
        self.accept = accept
        self.encoding = encoding
        self.conn = None

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None

    def headers(self, body_len, encoding):
        h = {'Host': self.host, 'User-Agent': USER_AGENT,
             'Content-Type': 'binary/x-protocol-buffer',
             'Content-Length': str(body_len)}
        if encoding:
            h['Content-Encoding'] = encoding
        if self.accept:
            h['Accept-Encoding'] = self.accept
        if self.auth:
            h['Authorization'] = self.auth
        return h

    def post(self, name, body):
        """-> (status, decoded body bytes, headers dict)."""
        data, enc = compress(self.encoding, body)
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request('POST', self.prefix + '/' + name, data,
                                  self.headers(len(data), enc))
                r = self.conn.getresponse()
                raw = r.read()
            except (ConnectionError, http.client.BadStatusLine,
                    http.client.RemoteDisconnected) as e:
                # a keep-alive connection closed by the server while idle
                self.close()
                if attempt == 0 and not isinstance(e, ConnectionRefusedError):
                    continue
                raise Failure('%s: %s' % (name, e)) from None
            except (socket.timeout, OSError) as e:
                self.close()
                raise Failure('%s: %s' % (name, e)) from None
            hdrs = {k.lower(): v for k, v in r.getheaders()}
            if hdrs.get('connection', '').lower() == 'close':
                self.close()
            return r.status, decompress(hdrs.get('content-encoding'),
                                        raw), hdrs
        raise Failure('unreachable')

    def rpc(self, name, msg, resp_type):
        status, body, _ = self.post(name, msg.SerializeToString())
        if status != 200:
            raise Failure('/%s: HTTP %d %s' % (name, status,
                                              body[:200].decode('utf-8',
                                                                'replace')))
        r = resp_type()
        r.ParseFromString(body)
        return r

    def store(self, blobs):
        """StoreFile in batches; every key must come back."""
        for i in range(0, len(blobs), 64):
            req = PB.StoreFileReq()
            req.blob.extend(blobs[i:i + 64])
            resp = self.rpc('s', req, PB.StoreFileResp)
            want = [blob_key(b) for b in blobs[i:i + 64]]
            if list(resp.hash_key) != want:
                raise Failure('/s: stored %r, wanted %r' %
                              (list(resp.hash_key), want))

    def lookup(self, keys):
        req = PB.LookupFileReq()
        req.hash_key.extend(keys)
        resp = self.rpc('l', req, PB.LookupFileResp)
        if len(resp.blob) != len(keys):
            raise Failure('/l: %d blobs for %d keys' %
                          (len(resp.blob), len(keys)))
        return list(resp.blob)


def compress(encoding, body):
    if encoding == 'gzip':
        return gzip.compress(body, 3), 'gzip'
    if encoding == 'deflate':   # goma: zlib minus its 2-byte header
        return zlib.compress(body, 3)[2:], 'deflate'
    return body, None


def decompress(encoding, data):
    encoding = (encoding or 'identity').lower()
    if encoding == 'gzip':
        return gzip.decompress(data)
    if encoding == 'deflate':
        d = zlib.decompressobj(-15)
        out = d.decompress(data) + d.flush()
        if not d.eof:
            raise Failure('truncated deflate body')
        return out
    if encoding == 'identity':
        return data
    raise Failure('unknown Content-Encoding %r' % encoding)


# ---------------------------------------------------------------- request

def run_out(argv, cwd):
    p = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise Failure('%s failed: %s' % (' '.join(argv),
                                         p.stderr.decode(errors='replace')))
    return p.stdout.decode()


def which(prog):
    if '/' in prog:
        return os.path.abspath(prog)
    path = shutil.which(prog)
    if path is None:
        raise Failure('%s not found in PATH' % prog)
    return path


def compiler_name(argv0):
    base = os.path.basename(argv0)
    m = re.match(r'^(?:[\w.]+-)*?(g\+\+|gcc|c\+\+|cc|clang\+\+|clang)'
                 r'(?:-[\d.]+)?$', base)
    name = m.group(1) if m else base
    return {'cc': 'gcc', 'c++': 'g++'}.get(name, name)


def gcc_version(path, cwd):
    full = run_out([path, '-dumpfullversion'], cwd).strip()
    first = run_out([path, '--version'], cwd).splitlines()[0]
    m = re.match(r'^\S+ (.*)$', first)
    return '%s[%s]' % (full, m.group(1) if m else first)


def dep_args(args):
    """The compile arguments turned into a `-M` run listing the inputs."""
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a in ('-o', '-MF', '-MT', '-MQ'):
            skip = True
            continue
        if a in ('-c', '-S', '-E', '-MD', '-MMD', '-M', '-MM', '-MP') or \
                a.startswith(('-o', '-MF', '-MT', '-MQ')):
            continue
        out.append(a)
    return out + ['-M']


def parse_deps(text):
    text = text.replace('\\\n', ' ')
    _, _, rest = text.partition(':')
    files, cur, i = [], '', 0
    while i < len(rest):
        c = rest[i]
        if c == '\\' and i + 1 < len(rest) and rest[i + 1] == ' ':
            cur += ' '
            i += 2
            continue
        if c.isspace():
            if cur:
                files.append(cur)
            cur = ''
        else:
            cur += c
        i += 1
    if cur:
        files.append(cur)
    seen, out = set(), []
    for f in files:
        if f not in seen:
            seen.add(f)
            out.append(f)
    return out


def output_args(args):
    outs = []
    it = iter(range(len(args)))
    for i in it:
        a = args[i]
        if a in ('-o', '-MF') and i + 1 < len(args):
            outs.append(args[i + 1])
            next(it, None)
        elif a.startswith('-o') and len(a) > 2:
            outs.append(a[2:])
        elif a.startswith('-MF') and len(a) > 3:
            outs.append(a[3:])
    return outs


def read_file(path):
    with open(path, 'rb') as f:
        return f.read()


class Request:
    """The ExecReq of one compile and the inputs behind it."""

    def __init__(self, opts, argv, cwd):
        self.opts = opts
        self.cwd = cwd
        self.argv = argv
        self.inputs = []
        self.embed = set()      # names sent with content
        self.compiler = which(argv[0])
        self.cs_path = self.compiler

    def discover(self):
        deps = parse_deps(run_out([self.compiler] + dep_args(self.argv[1:]),
                                  self.cwd))
        for d in deps:
            if d.startswith('/usr/') and not self.opts.system_headers:
                continue
            self.inputs.append(InputFile(d, read_file(
                os.path.join(self.cwd, d))))
        for spec in self.opts.extra_input:
            name, _, src = spec.partition('=')
            data = read_file(src[1:]) if src.startswith('@') else \
                src.encode()
            self.inputs.append(InputFile(name, data))
        # --forge-key NAME=@FILE: NAME goes with its own bytes but FILE's
        # hash key, as a hostile client would send it
        for spec in self.opts.forge_key:
            name, _, src = spec.partition('=')
            key = InputFile(name, read_file(src[1:]) if src.startswith('@')
                            else src.encode()).key
            for i in self.inputs:
                if i.name == name:
                    i.key = key
        hash_only = set(self.opts.hash_only_input)
        for i in self.inputs:
            if not self.opts.hash_only and i.name not in hash_only:
                self.embed.add(i.name)

    def command_spec(self, cs):
        if not hasattr(self, '_cs'):
            data = read_file(os.path.realpath(self.compiler))
            self._cs = (data, gcc_version(self.compiler, self.cwd),
                        run_out([self.compiler, '-dumpmachine'],
                                self.cwd).strip())
        data, version, target = self._cs
        cs.name = compiler_name(self.argv[0])
        cs.version = version
        cs.target = target
        cs.local_compiler_path = self.compiler
        cs.binary_hash = sha256_hex(data).encode()
        cs.size = len(data)
        return data

    def build(self, retry=0):
        o = self.opts
        req = PB.ExecReq()
        data = self.command_spec(req.command_spec)
        req.arg.extend(self.argv)
        req.env.append('PWD=' + self.cwd)
        req.env.extend(o.env)
        req.cwd = self.cwd
        for i in self.inputs:
            inp = req.input.add()
            inp.filename = i.name
            inp.hash_key = i.key
            if i.name in self.embed:
                inp.content.CopyFrom(i.blob)
        if o.expected_outputs:
            req.expected_output_files.extend(output_args(self.argv))
        req.expected_output_files.extend(o.expected_output_file)
        req.expected_output_dirs.extend(o.expected_output_dir)
        if o.cache_policy:
            req.cache_policy = getattr(PB.ExecReq, o.cache_policy)
        if not o.no_toolchain:
            req.toolchain_included = True
        if not o.no_toolchain and not o.no_toolchain_specs:
            ts = req.toolchain_specs.add()
            ts.path = self.compiler
            ts.hash = sha256_hex(data)
            ts.size = len(data)
            ts.is_executable = True
        ri = req.requester_info
        ri.compiler_proxy_id = o.id
        ri.retry = retry
        if not o.no_dimensions:
            ri.dimensions.extend(o.dimension or ['os:linux'])
        ri.path_style = getattr(PB.RequesterInfo, o.path_style)
        for kv in o.platform_property:
            name, _, value = kv.partition('=')
            pp = ri.platform_properties.add()
            pp.name = name
            pp.value = value
        ri.build_id = o.build_id
        if o.exec_root:
            ri.exec_root = o.exec_root
        return req

    def by_name(self, name):
        return [i for i in self.inputs if i.name == name]


def upload_large(server, inputs):
    """/s the chunks of every FILE_META input that will be embedded."""
    blobs = [c for i in inputs for c in i.chunks]
    if blobs:
        server.store(blobs)


def store_inputs(server, inputs):
    """/s the inputs themselves (FILE, or chunks and their FILE_META)."""
    upload_large(server, inputs)
    server.store([i.blob for i in inputs])


# ---------------------------------------------------------------- answer

CACHE_NAMES = {0: 'NO_CACHE', 1: 'MEM_CACHE', 2: 'STORAGE_CACHE',
               3: 'LOCAL_OUTPUT_CACHE'}


def fetch_output(server, blob):
    """Content of an output blob (FILE, FILE_META via /l, FILE_REF)."""
    FB = PB.FileBlob
    if blob.blob_type == FB.FILE:
        if not blob.HasField('content') or blob.HasField('offset') or \
                blob.hash_key or len(blob.content) != blob.file_size:
            raise Failure('malformed FILE output blob')
        return blob.content, 1
    if blob.blob_type == FB.FILE_REF:
        if len(blob.hash_key) != 1 or blob.HasField('content'):
            raise Failure('malformed FILE_REF output blob')
        b = server.lookup(list(blob.hash_key))[0]
        if b.blob_type != FB.FILE or len(b.content) != blob.file_size:
            raise Failure('FILE_REF %s: lookup gave type %d' %
                          (blob.hash_key[0], b.blob_type))
        return b.content, 1
    if blob.blob_type != FB.FILE_META or len(blob.hash_key) < 2 or \
            blob.HasField('content'):
        raise Failure('malformed output blob of type %d' % blob.blob_type)
    buf = bytearray(blob.file_size)
    keys = list(blob.hash_key)
    for i in range(0, len(keys), 5):
        for k, b in zip(keys[i:i + 5], server.lookup(keys[i:i + 5])):
            if b.blob_type != FB.FILE_CHUNK or not b.HasField('offset') or \
                    b.offset + len(b.content) > blob.file_size:
                raise Failure('chunk %s: type %d' % (k, b.blob_type))
            if blob_key(b) != k:
                raise Failure('chunk %s: key mismatch' % k)
            buf[b.offset:b.offset + len(b.content)] = b.content
    return bytes(buf), len(keys)


def write_output(cwd, name, content, executable):
    path = name if os.path.isabs(name) else os.path.join(cwd, name)
    os.makedirs(os.path.dirname(path) or '.', exist_ok=True)
    tmp = path + '.goma-tmp'
    with open(tmp, 'wb') as f:
        f.write(content)
    os.chmod(tmp, 0o755 if executable else 0o644)
    os.replace(tmp, path)


def type_name(t):
    return PB.FileBlob.BlobType.Name(t)


def describe(resp, status):
    r = resp.result
    return {
        'http_status': status,
        'exit_status': r.exit_status,
        'stdout': r.stdout_buffer.decode('utf-8', 'replace'),
        'stderr': r.stderr_buffer.decode('utf-8', 'replace'),
        'cache_hit': CACHE_NAMES.get(resp.cache_hit, str(resp.cache_hit))
        if resp.HasField('cache_hit') else None,
        'cache_key': resp.cache_key,
        'error': 'BAD_REQUEST' if resp.error == -1 else 'OK',
        'error_message': list(resp.error_message),
        'missing_input': list(resp.missing_input),
        'missing_reason': list(resp.missing_reason),
        'command_spec': {
            'present': r.HasField('command_spec'),
            'name': r.command_spec.name,
            'version': r.command_spec.version,
            'target': r.command_spec.target,
            'has_binary_hash': r.command_spec.HasField('binary_hash'),
        },
        'has_execution_stats': resp.HasField('execution_stats'),
        'outputs': [{'filename': o.filename,
                     'type': type_name(o.blob.blob_type),
                     'file_size': o.blob.file_size,
                     'keys': list(o.blob.hash_key),
                     'is_executable': o.is_executable}
                    for o in r.output],
    }


# ---------------------------------------------------------------- one run

def exec_once(server, req):
    status, body, _ = server.post('e', req.SerializeToString())
    if status != 200:
        return status, None, body.decode('utf-8', 'replace').strip()
    resp = PB.ExecResp()
    resp.ParseFromString(body)
    return status, resp, ''


def run_compile(opts, server, request):
    """The client's task loop: returns the report dict."""
    report = {'attempts': 0, 'missing_rounds': []}
    if opts.replay:
        req = PB.ExecReq()
        req.ParseFromString(read_file(opts.replay[0]))
    else:
        request.discover()
        if opts.store_first:
            store_inputs(server, request.inputs)
        req = request.build(0)
        if opts.dry_run:
            with open(opts.record, 'wb') as f:
                f.write(req.SerializeToString())
            report['recorded'] = opts.record
            report['inputs'] = [{'filename': i.name, 'hash_key': i.key,
                                 'embedded': i.name in request.embed}
                                for i in request.inputs]
            return report
        upload_large(server, [i for i in request.inputs
                              if i.name in request.embed])
    resp = None
    for retry in range(opts.max_retry + 1):
        if retry and not opts.replay:
            req = request.build(retry)
        if opts.record:
            with open(opts.record, 'wb') as f:
                f.write(req.SerializeToString())
        report['attempts'] += 1
        status, resp, text = exec_once(server, req)
        if resp is None:
            report.update({'http_status': status, 'http_body': text})
            return report
        if not resp.missing_input or opts.on_missing == 'fail' or \
                opts.replay or retry == opts.max_retry:
            break
        report['missing_rounds'].append(
            {'missing_input': list(resp.missing_input),
             'missing_reason': list(resp.missing_reason)})
        missing = [i for n in resp.missing_input
                   for i in request.by_name(n)]
        if opts.on_missing == 'store':
            store_inputs(server, missing)
        else:
            upload_large(server, missing)
            request.embed.update(i.name for i in missing)
    report.update(describe(resp, 200))
    if not opts.no_write and not resp.missing_input and \
            resp.error != -1 and resp.result.exit_status == 0:
        for o, d in zip(resp.result.output, report['outputs']):
            content, calls = fetch_output(server, o.blob)
            d['fetched_size'] = len(content)
            d['sha256'] = sha256_hex(content)
            write_output(request.cwd if request else os.getcwd(),
                         o.filename, content, o.is_executable)
    return report


def print_report(rep):
    if 'recorded' in rep:
        print('recorded %s' % rep['recorded'])
        return
    if 'http_body' in rep:
        print('HTTP status: %d %s' % (rep['http_status'], rep['http_body']))
        return
    print('exit status: %d' % rep['exit_status'])
    print('cache_hit: %s' % rep['cache_hit'])
    if rep['error'] != 'OK':
        print('error: %s' % rep['error'])
    for m in rep['error_message']:
        print('error_message: %s' % m)
    for n, why in zip(rep['missing_input'], rep['missing_reason']):
        print('missing_input: %s (%s)' % (n, why))
    for o in rep['outputs']:
        print('output: %s (%s, %d bytes)' % (o['filename'], o['type'],
                                              o['file_size']))
    print('--- stdout ---')
    sys.stdout.write(rep['stdout'])
    print('--- stderr ---')
    sys.stdout.write(rep['stderr'])


# ---------------------------------------------------------------- load

def percentile(values, p):
    if not values:
        return float('nan')
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


class LoadStats:
    def __init__(self):
        self.lat = []
        self.errors = {}
        self.cache = {}

    def error(self, what):
        self.errors[what] = self.errors.get(what, 0) + 1


def http_request_bytes(server, body):
    data, enc = compress(server.encoding, body)
    h = server.headers(len(data), enc)
    head = 'POST %s/e HTTP/1.1\r\n' % server.prefix + ''.join(
        '%s: %s\r\n' % kv for kv in h.items()) + '\r\n'
    return head.encode() + data


async def read_response(reader):
    head = await reader.readuntil(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    status = int(lines[0].split(' ')[1])
    hdrs = {}
    for line in lines[1:]:
        if ':' in line:
            k, v = line.split(':', 1)
            hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get('content-length', '0'))
    body = await reader.readexactly(n)
    return status, hdrs, body


async def load_worker(server, reqs, counter, total, stats, timeout):
    conn = None
    while True:
        i = counter[0]
        if i >= total:
            break
        counter[0] += 1
        data = reqs[i % len(reqs)]
        t0 = time.perf_counter()
        try:
            if conn is None:
                conn = await asyncio.wait_for(asyncio.open_connection(
                    server.host, server.port), timeout)
            reader, writer = conn
            writer.write(data)
            status, hdrs, body = await asyncio.wait_for(
                read_response(reader), timeout)
        except (OSError, asyncio.IncompleteReadError,
                asyncio.TimeoutError, ValueError) as e:
            stats.error(type(e).__name__)
            if conn:
                conn[1].close()
            conn = None
            continue
        stats.lat.append(time.perf_counter() - t0)
        if hdrs.get('connection', '').lower() == 'close':
            conn[1].close()
            conn = None
        if status != 200:
            stats.error('HTTP %d' % status)
            continue
        resp = PB.ExecResp()
        try:
            resp.ParseFromString(decompress(hdrs.get('content-encoding'),
                                            body))
        except Exception:           # noqa: BLE001 - counted, not fatal
            stats.error('unparsable ExecResp')
            continue
        if resp.error != 0 or resp.error_message or resp.missing_input:
            stats.error('ExecResp error')
            continue
        c = CACHE_NAMES.get(resp.cache_hit, str(resp.cache_hit))
        stats.cache[c] = stats.cache.get(c, 0) + 1
    if conn:
        conn[1].close()


async def load_round(server, reqs, total, conc, timeout):
    stats = LoadStats()
    counter = [0]
    t0 = time.perf_counter()
    await asyncio.gather(*[load_worker(server, reqs, counter, total, stats,
                                       timeout) for _ in range(conc)])
    return stats, time.perf_counter() - t0


EXEC_LINE = re.compile(
    r'exec (\S+): (\w[\w ]*?), .*?inventory: ([\d.]+)ms, input tree: '
    r'([\d.]+)ms, setup: ([\d.]+)ms, check cache: ([\d.]+)ms, '
    r'check missing: ([\d.]+)ms, upload blobs: ([\d.]+)ms, execute: '
    r'([\d.]+)ms, response: ([\d.]+)ms, total: ([\d.]+)ms')


def proxy_share(log, offset, id_prefix):
    """own and own+resp (ms) of this run's summary lines in the log."""
    own, own_resp = [], []
    try:
        with open(log, 'rb') as f:
            f.seek(offset)
            text = f.read().decode('utf-8', 'replace')
    except OSError:
        return None
    for m in EXEC_LINE.finditer(text):
        if not m.group(1).startswith(id_prefix) or m.group(2) != 'ok':
            continue
        inv, tree, setup, cc, cm, up, ex, resp, total = \
            [float(m.group(i)) for i in range(3, 12)]
        own.append(total - (cc + cm + up + ex + resp))
        own_resp.append(total - (cc + cm + up + ex))
    return own, own_resp


def fmt_ms(v):
    return '%.3f' % (v * 1000.0)


def load_mode(opts, server, request):
    load_id = 'load-%d-%d@%s:1/1' % (os.getpid(), int(time.time()),
                                     socket.gethostname())
    reqs = []
    if opts.replay:
        for path in opts.replay:
            r = PB.ExecReq()
            r.ParseFromString(read_file(path))
            r.requester_info.compiler_proxy_id = load_id
            reqs.append(r.SerializeToString())
    else:
        opts.no_write = True
        opts.id = load_id
        rep = run_compile(opts, server, request)
        if rep.get('http_status') != 200 or rep.get('exit_status') != 0:
            raise Failure('warm-up compile failed: %s' % json.dumps(rep))
        req = request.build(0)
        for i in request.inputs:     # as a client that knows the server
            request.embed.discard(i.name)
        reqs.append(request.build(0).SerializeToString()
                    if opts.load_hash_only else req.SerializeToString())
    # one unmeasured pass warms connections and the action cache
    wire = [http_request_bytes(server, b) for b in reqs]
    asyncio.run(load_round(server, wire, min(opts.concurrency, opts.load),
                           opts.concurrency, opts.timeout))
    results = []
    for rnd in range(opts.repeat):
        offset = os.path.getsize(opts.error_log) if opts.error_log else 0
        stats, secs = asyncio.run(load_round(server, wire, opts.load,
                                             opts.concurrency, opts.timeout))
        res = {'round': rnd + 1, 'requests': opts.load,
               'ok': len(stats.lat) - sum(v for k, v in stats.errors.items()
                                          if k.startswith(('HTTP', 'Exec',
                                                           'unpars'))),
               'errors': stats.errors, 'cache_hit': stats.cache,
               'seconds': secs, 'rps': opts.load / secs if secs else 0,
               'concurrency': opts.concurrency,
               'p50_ms': percentile(stats.lat, 50) * 1000,
               'p90_ms': percentile(stats.lat, 90) * 1000,
               'p99_ms': percentile(stats.lat, 99) * 1000,
               'max_ms': max(stats.lat) * 1000 if stats.lat else None}
        if opts.error_log:
            time.sleep(0.2)      # the last summaries are written after send
            share = proxy_share(opts.error_log, offset, load_id)
            if share:
                own, own_resp = share
                res.update({'log_lines': len(own),
                            'own_p50_ms': percentile(own, 50),
                            'own_p99_ms': percentile(own, 99),
                            'own_resp_p50_ms': percentile(own_resp, 50),
                            'own_resp_p99_ms': percentile(own_resp, 99)})
        results.append(res)
    return results


def print_load(results):
    for r in results:
        print('round %d: %d requests, %d in flight, %.2f s: %.1f requests/s'
              % (r['round'], r['requests'], r['concurrency'], r['seconds'],
                 r['rps']))
        print('  latency (client) p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  '
              'max %.3f ms' % (r['p50_ms'], r['p90_ms'], r['p99_ms'],
                               r['max_ms'] or 0))
        print('  ok %d, errors %s, cache_hit %s' %
              (r['ok'], json.dumps(r['errors']), json.dumps(r['cache_hit'])))
        if 'own_p50_ms' in r:
            print('  proxy own share (%d log lines): p50 %.3f ms  p99 %.3f '
                  'ms;  with response stage: p50 %.3f ms  p99 %.3f ms' %
                  (r['log_lines'], r['own_p50_ms'], r['own_p99_ms'],
                   r['own_resp_p50_ms'], r['own_resp_p99_ms']))


# ---------------------------------------------------------------- main

def parse_args(argv):
    p = argparse.ArgumentParser(
        description='A small Goma client: Exec one compile through '
        'remoteexec_proxy, or replay it as a load test.',
        epilog='see the header of this file for details')
    p.add_argument('--server', default='http://127.0.0.1:8090')
    p.add_argument('--auth-file')
    p.add_argument('--cwd', help='run as if in this directory')
    p.add_argument('--proto', default=DEFAULT_PROTO)
    p.add_argument('--stubs-dir', default=os.environ.get('GOMA_EXEC_STUBS'))
    p.add_argument('--timeout', type=float, default=120.0)
    p.add_argument('--json', action='store_true')
    p.add_argument('--hash-only', action='store_true')
    p.add_argument('--hash-only-input', action='append', default=[])
    p.add_argument('--forge-key', action='append', default=[],
                   help='NAME=@FILE or NAME=TEXT: send input NAME with the '
                   'hash key of other content (a test of the server)')
    p.add_argument('--store-first', action='store_true')
    p.add_argument('--on-missing', choices=('embed', 'store', 'fail'),
                   default='embed')
    p.add_argument('--max-retry', type=int, default=4)
    p.add_argument('--expected-outputs', action='store_true')
    p.add_argument('--expected-output-file', action='append', default=[])
    p.add_argument('--expected-output-dir', action='append', default=[])
    p.add_argument('--no-toolchain', action='store_true')
    p.add_argument('--no-toolchain-specs', action='store_true')
    p.add_argument('--no-dimensions', action='store_true')
    p.add_argument('--path-style', default='POSIX_STYLE',
                   choices=('UNKNOWN_STYLE', 'POSIX_STYLE', 'WINDOWS_STYLE'))
    p.add_argument('--platform-property', action='append', default=[])
    p.add_argument('--dimension', action='append')
    p.add_argument('--exec-root')
    p.add_argument('--cache-policy', choices=('LOOKUP_AND_STORE',
                                              'LOOKUP_ONLY', 'STORE_ONLY',
                                              'LOOKUP_AND_STORE_SUCCESS'))
    p.add_argument('--extra-input', action='append', default=[])
    p.add_argument('--system-headers', action='store_true')
    p.add_argument('--id', default='test@%s:1/%d/1' % (socket.gethostname(),
                                                       os.getpid()))
    p.add_argument('--build-id', default='build-1')
    p.add_argument('--env', action='append', default=[])
    p.add_argument('--no-write', action='store_true')
    p.add_argument('--record')
    p.add_argument('--dry-run', action='store_true',
                   help='only build the request and --record it')
    p.add_argument('--replay', action='append')
    p.add_argument('--encoding', choices=('gzip', 'deflate', 'identity'),
                   default='gzip')
    p.add_argument('--accept', default='gzip')
    p.add_argument('--load', type=int, help='requests per round')
    p.add_argument('--concurrency', type=int, default=16)
    p.add_argument('--repeat', type=int, default=1, help='rounds')
    p.add_argument('--load-hash-only', action='store_true',
                   help='load requests carry hash keys only')
    p.add_argument('--error-log')
    p.add_argument('command', nargs='*')
    return p.parse_args(argv)


def main(argv):
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)    # quiet under | head
    opts = parse_args(argv)
    if not opts.command and not opts.replay:
        print('goma_exec.py: a command (after --) or --replay is needed',
              file=sys.stderr)
        return 2
    if opts.dry_run and not opts.record:
        print('goma_exec.py: --dry-run needs --record FILE', file=sys.stderr)
        return 2
    load_stubs(opts.proto, opts.stubs_dir)
    auth = None
    if opts.auth_file:
        auth = read_file(opts.auth_file).decode().rstrip()
    server = Server(opts.server, auth, opts.timeout, opts.accept,
                    None if opts.encoding == 'identity' else opts.encoding)
    cwd = os.path.abspath(opts.cwd or os.getcwd())
    request = Request(opts, opts.command, cwd) if opts.command else None
    try:
        if opts.load:
            results = load_mode(opts, server, request)
            if opts.json:
                print(json.dumps(results))
            else:
                print_load(results)
            return 0
        rep = run_compile(opts, server, request)
    except Failure as e:
        if opts.json:
            print(json.dumps({'failure': str(e)}))
            return 0
        print('goma_exec.py: %s' % e, file=sys.stderr)
        return 255
    finally:
        server.close()
    if opts.json:
        print(json.dumps(rep))
        return 0
    print_report(rep)
    if 'recorded' in rep:
        return 0
    if 'exit_status' not in rep:
        return 255
    return rep['exit_status'] if 0 <= rep['exit_status'] < 255 else 255


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
