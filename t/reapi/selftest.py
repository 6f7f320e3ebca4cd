#!/usr/bin/python3
# -*- coding: utf-8 -*-
"""Self test of t/reapi/reapi_server.py with a python gRPC client.

Starts the server (real execution, request log, control channel, raw
HTTP/2 port) on
127.0.0.1 port 0, then exercises Capabilities, CAS, ByteStream, Execute,
WaitExecution, the action cache, several faults, TLS, a unix socket and the
lifetime rules.  With --buildstream it instead starts t/reapi/casserver.py
(Debian's BuildStream CAS server bound to loopback) and checks
FindMissingBlobs / BatchUpdateBlobs / BatchReadBlobs / ByteStream against it.

Output is TAP ("ok N - what" / "not ok N - what # why", then "1..N");
exit status 0 iff every check passed.  Every wait is bounded.
"""

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ.setdefault('GRPC_VERBOSITY', 'NONE')  # no gRPC core chatter
import grpc                                     # noqa: E402
import reapi_server as RS                       # noqa: E402

MIB = 1024 * 1024
REQMETA_KEY = RS.REQMETA_KEY
P = None
N = 0
FAILED = 0


def check(cond, what, why=''):
    global N, FAILED
    N += 1
    if cond:
        print('ok %d - %s' % (N, what))
    else:
        FAILED += 1
        print('not ok %d - %s # %s' % (N, what, why))
    sys.stdout.flush()
    return cond


def sha(data):
    return hashlib.sha256(data).hexdigest()


def dig(data):
    return P.re.Digest(hash=sha(data), size_bytes=len(data))


def rpc_code(fn, *a, **kw):
    """-> (result, None) or (None, grpc.RpcError)."""
    try:
        return fn(*a, **kw), None
    except grpc.RpcError as e:
        return None, e


# ---------------------------------------------------------------------------
# process helpers


class Proc:
    """A server child: reads its PORT/CONTROL/READY lines (bounded)."""

    def __init__(self, argv, want=('READY',), timeout=30):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        self.info = {}
        lines = []

        def reader():
            for line in self.p.stdout:
                lines.append(line.strip())
                parts = line.split()
                if parts:
                    self.info[parts[0]] = parts[-1]
                if parts and parts[0] in want:
                    return
        t = threading.Thread(target=reader, daemon=True)
        t.start()
        t.join(timeout)
        if not any(w in self.info for w in want):
            self.kill()
            raise RuntimeError('server did not start: %r' % lines)

    def port(self):
        return int(self.info['PORT'])

    def control(self, line, timeout=10):
        with socket.create_connection(
                ('127.0.0.1', int(self.info['CONTROL'])), timeout) as s:
            s.sendall((line + '\n').encode())
            f = s.makefile('r')
            return f.readline().strip()

    def close_stdin_and_wait(self, timeout=15):
        self.p.stdin.close()
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait(10)


def server_argv(*extra):
    return [sys.executable, os.path.join(HERE, 'reapi_server.py')] + \
        list(extra)


# ---------------------------------------------------------------------------
# REAPI helpers


class Client:
    def __init__(self, channel, metadata=()):
        self.ch = channel
        self.md = list(metadata)
        self.cap = P.re_grpc.CapabilitiesStub(channel)
        self.cas = P.re_grpc.ContentAddressableStorageStub(channel)
        self.ac = P.re_grpc.ActionCacheStub(channel)
        self.ex = P.re_grpc.ExecutionStub(channel)
        self.bs = P.bs_grpc.ByteStreamStub(channel)

    def upload(self, blobs, instance=''):
        req = P.re.BatchUpdateBlobsRequest(instance_name=instance)
        for b in blobs:
            req.requests.add(digest=dig(b), data=b)
        return self.cas.BatchUpdateBlobs(req, metadata=self.md, timeout=30)

    def write(self, data, instance='', chunk=MIB, name=None):
        d = dig(data)
        name = name or '%suploads/%s/blobs/%s/%d' % (
            instance + '/' if instance else '', uuid.uuid4(), d.hash,
            d.size_bytes)

        def gen():
            off = 0
            while off < len(data):
                yield P.bs.WriteRequest(resource_name=name, write_offset=off,
                                        data=data[off:off + chunk])
                off += chunk
            yield P.bs.WriteRequest(resource_name=name,
                                    write_offset=len(data),
                                    finish_write=True)
        return self.bs.Write(gen(), metadata=self.md, timeout=30)

    def read(self, d, instance=''):
        name = '%sblobs/%s/%d' % (instance + '/' if instance else '',
                                  d.hash, d.size_bytes)
        out = b''
        for r in self.bs.Read(P.bs.ReadRequest(resource_name=name),
                              metadata=self.md, timeout=30):
            out += r.data
        return out

    def execute(self, ad, skip=False, timeout=60, instance=''):
        req = P.re.ExecuteRequest(instance_name=instance, action_digest=ad,
                                  skip_cache_lookup=skip)
        return list(self.ex.Execute(req, metadata=self.md, timeout=timeout))


def op_stage(op):
    md = P.re.ExecuteOperationMetadata.FromString(op.metadata.value)
    return P.re.ExecutionStage.Value.Name(md.stage)


def op_response(op):
    if op.WhichOneof('result') != 'response':
        return None
    return P.re.ExecuteResponse.FromString(op.response.value)


def make_action(files, argv, out_files=(), out_dirs=(), env=None,
                do_not_cache=False, wd=''):
    """files: {relpath: (bytes, executable)} -> (action digest, blobs)."""
    blobs = []
    root = P.re.Directory()
    tree = RS.build_tree_dirs(files)

    def fill(msg, node):
        for name in sorted(node['files']):
            data, x = node['files'][name]
            msg.files.add(name=name, digest=dig(data), is_executable=x)
            blobs.append(data)
        for name in sorted(node['dirs']):
            child = P.re.Directory()
            fill(child, node['dirs'][name])
            raw = child.SerializeToString()
            blobs.append(raw)
            msg.directories.add(name=name, digest=dig(raw))
    fill(root, tree)
    root_raw = root.SerializeToString()
    blobs.append(root_raw)
    cmd = P.re.Command(arguments=argv, output_files=sorted(out_files),
                       output_directories=sorted(out_dirs),
                       working_directory=wd)
    for k, v in sorted((env or {'PATH': '/usr/bin:/bin'}).items()):
        cmd.environment_variables.add(name=k, value=v)
    cmd_raw = cmd.SerializeToString()
    blobs.append(cmd_raw)
    act = P.re.Action(command_digest=dig(cmd_raw),
                      input_root_digest=dig(root_raw),
                      do_not_cache=do_not_cache)
    act.timeout.seconds = 60
    act_raw = act.SerializeToString()
    blobs.append(act_raw)
    return dig(act_raw), blobs


def read_log(path):
    with open(path, encoding='utf-8') as fp:
        return [json.loads(line) for line in fp if line.strip()]


# ---------------------------------------------------------------------------
# the reapi_server tests


def t_capabilities(c):
    caps = c.cap.GetCapabilities(P.re.GetCapabilitiesRequest(),
                                 metadata=c.md, timeout=10)
    cc = caps.cache_capabilities
    check(P.re.DigestFunction.SHA256 in cc.digest_functions and
          cc.max_batch_total_size_bytes == 4 * MIB and
          cc.symlink_absolute_path_strategy ==
          P.re.SymlinkAbsolutePathStrategy.ALLOWED and
          caps.execution_capabilities.exec_enabled and
          caps.high_api_version.major == 2,
          'GetCapabilities', str(caps))


def t_cas(c):
    a, b = b'alpha\n', b'beta\n'
    req = P.re.FindMissingBlobsRequest(
        blob_digests=[dig(a), dig(b), dig(b'')])
    r = c.cas.FindMissingBlobs(req, metadata=c.md, timeout=10)
    check(sorted(x.hash for x in r.missing_blob_digests) ==
          sorted([sha(a), sha(b)]), 'FindMissingBlobs: empty blob present')
    req = P.re.BatchUpdateBlobsRequest()
    req.requests.add(digest=dig(a), data=a)
    bad = req.requests.add(digest=dig(b), data=b'not beta')
    r = c.cas.BatchUpdateBlobs(req, metadata=c.md, timeout=10)
    codes = [x.status.code for x in r.responses]
    check(codes == [0, grpc.StatusCode.INVALID_ARGUMENT.value[0]],
          'BatchUpdateBlobs verifies each digest', str(codes))
    r = c.cas.FindMissingBlobs(P.re.FindMissingBlobsRequest(
        blob_digests=[dig(a), bad.digest]), metadata=c.md, timeout=10)
    check([x.hash for x in r.missing_blob_digests] == [sha(b)],
          'only the good blob was stored')
    r = c.cas.BatchReadBlobs(P.re.BatchReadBlobsRequest(
        digests=[dig(a), dig(b)]), metadata=c.md, timeout=10)
    check(r.responses[0].data == a and r.responses[1].status.code == 5,
          'BatchReadBlobs: data and NOT_FOUND')


def t_bytestream(c):
    big = bytes(range(256)) * (3 * MIB // 256 + 17)
    r = c.write(big, instance='')
    check(r.committed_size == len(big), 'ByteStream.Write 3 MiB committed')
    check(c.read(dig(big)) == big, 'ByteStream.Read returns it')
    _, e = rpc_code(c.read, dig(b'nope'))
    check(e is not None and e.code() == grpc.StatusCode.NOT_FOUND,
          'Read of a missing blob: NOT_FOUND')
    d = dig(b'abc')
    name = 'uploads/%s/blobs/%s/3' % (uuid.uuid4(), d.hash)
    _, e = rpc_code(c.write, b'abd', name=name)
    check(e is not None and e.code() == grpc.StatusCode.INVALID_ARGUMENT,
          'Write with a wrong digest: INVALID_ARGUMENT')


def t_execute(c, srv, logpath):
    script = ('cat in.txt > out/result.txt; ./sub/tool.sh >> out/result.txt;'
              ' mkdir -p gen/d; echo x > gen/d/f; echo to-stderr >&2;'
              ' echo "cwd=$(basename $(pwd)) FOO=$FOO"')
    files = {'in.txt': (b'input\n', False),
             'sub/tool.sh': (b'#!/bin/sh\necho tool\n', True)}
    ad, blobs = make_action(files, ['sh', '-c', script],
                            out_files=['out/result.txt'],
                            out_dirs=['gen'],
                            env={'PATH': '/usr/bin:/bin', 'FOO': 'bar'})
    c.upload(blobs)
    ops = c.execute(ad)
    stages = [op_stage(o) for o in ops]
    check([o.done for o in ops] == [False, False, True] and
          stages[:2] == ['QUEUED', 'EXECUTING'],
          'Execute streams QUEUED, EXECUTING, done', str(stages))
    er = op_response(ops[-1])
    ar = er.result
    check(er.status.code == 0 and ar.exit_code == 0 and
          not er.cached_result, 'Execute succeeded', str(er))
    out = [f for f in ar.output_files if f.path == 'out/result.txt']
    check(out and c.read(out[0].digest) == b'input\ntool\n',
          'output file content via ByteStream')
    check(c.read(ar.stdout_digest) == b'cwd=root FOO=bar\n' and
          c.read(ar.stderr_digest) == b'to-stderr\n',
          'stdout/stderr digests, env honoured')
    tree = P.re.Tree.FromString(c.read(ar.output_directories[0].tree_digest))
    check(ar.output_directories[0].path == 'gen' and
          tree.root.directories[0].name == 'd' and
          tree.children[0].files[0].name == 'f',
          'output directory as Tree', str(tree))
    ops2 = c.execute(ad)
    er2 = op_response(ops2[-1])
    check(len(ops2) == 1 and er2.cached_result and
          er2.result.exit_code == 0, 'second Execute: cached_result')
    r = c.ac.GetActionResult(P.re.GetActionResultRequest(action_digest=ad),
                             metadata=c.md, timeout=10)
    check(r.output_files[0].digest == out[0].digest,
          'GetActionResult hit')
    _, e = rpc_code(c.ac.GetActionResult, P.re.GetActionResultRequest(
        action_digest=dig(b'unknown action')), metadata=c.md, timeout=10)
    check(e is not None and e.code() == grpc.StatusCode.NOT_FOUND,
          'GetActionResult miss: NOT_FOUND')
    w = list(c.ex.WaitExecution(P.re.WaitExecutionRequest(name=ops[0].name),
                                metadata=c.md, timeout=10))
    check(len(w) == 1 and w[0].done and op_response(w[0]).result.exit_code
          == 0, 'WaitExecution of a finished operation')
    _, e = rpc_code(lambda: list(c.ex.WaitExecution(
        P.re.WaitExecutionRequest(name='operations/none'), timeout=10)))
    check(e is not None and e.code() == grpc.StatusCode.NOT_FOUND,
          'WaitExecution unknown: NOT_FOUND')
    # working_directory + exit code + do_not_cache
    ad3, blobs3 = make_action({'w/x': (b'', False)},
                              ['sh', '-c', 'echo hi > o; exit 3'],
                              out_files=['o'], wd='w', do_not_cache=True)
    c.upload(blobs3)
    er3 = op_response(c.execute(ad3)[-1])
    check(er3.result.exit_code == 3 and
          c.read(er3.result.output_files[0].digest) == b'hi\n',
          'working_directory honoured, exit code 3')
    _, e = rpc_code(c.ac.GetActionResult, P.re.GetActionResultRequest(
        action_digest=ad3), timeout=10)
    check(e is not None and e.code() == grpc.StatusCode.NOT_FOUND,
          'do_not_cache result not cached')
    return ad, blobs


def t_missing_input(c, srv):
    ad, blobs = make_action({'f': (b'will be dropped\n', False)},
                            ['cat', 'f'])
    c.upload(blobs)
    srv.control('cas-drop %s/%d' % (sha(b'will be dropped\n'), 16))
    er = op_response(c.execute(ad, skip=True)[-1])
    pf = None
    for det in er.status.details:
        if det.type_url.endswith('/google.rpc.PreconditionFailure'):
            pf = P.st.PreconditionFailure.FromString(det.value)
    check(er.status.code == grpc.StatusCode.FAILED_PRECONDITION.value[0] and
          pf is not None and pf.violations[0].type == 'MISSING' and
          pf.violations[0].subject == 'blobs/%s/16' %
          sha(b'will be dropped\n'),
          'missing input: FAILED_PRECONDITION + PreconditionFailure',
          str(er.status))


def t_faults(c, srv, ad):
    srv.control('fault FindMissingBlobs:unavailable:count=2')
    req = P.re.FindMissingBlobsRequest(blob_digests=[dig(b'x')])
    codes = []
    for _ in range(3):
        _, e = rpc_code(c.cas.FindMissingBlobs, req, timeout=10)
        codes.append(e.code().name if e else 'OK')
    check(codes == ['UNAVAILABLE', 'UNAVAILABLE', 'OK'],
          'next 2 calls UNAVAILABLE then success', str(codes))
    msg = '50% done, \u00e9\n'
    srv.control('fault GetCapabilities:status:code=RESOURCE_EXHAUSTED,'
                'message=50%25%20done%2C%20%C3%A9%0A,retry_ms=1500')
    _, e = rpc_code(c.cap.GetCapabilities, P.re.GetCapabilitiesRequest(),
                    timeout=10)
    det = dict(e.trailing_metadata() or ()).get('grpc-status-details-bin') \
        if e else None
    st = P.st.Status.FromString(det) if det else None
    ri = P.st.RetryInfo.FromString(st.details[0].value) if st else None
    check(e is not None and e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
          and e.details() == msg and ri is not None and
          ri.retry_delay.seconds == 1 and
          ri.retry_delay.nanos == 500000000,
          'status fault: code, percent-encoded message, RetryInfo',
          repr(e and (e.code(), e.details())))
    srv.control('fault BatchUpdateBlobs:status:code=RESOURCE_EXHAUSTED')
    _, e = rpc_code(c.upload, [b'q'])
    check(e is not None and e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED,
          'BatchUpdateBlobs RESOURCE_EXHAUSTED')
    t_fault_execute(c, srv, ad)
    t_fault_misc(c, srv)


def t_fault_execute(c, srv, ad):
    srv.control('fault Execute:abort:after=1,code=UNAVAILABLE')
    got, err = [], None
    try:
        for op in c.ex.Execute(P.re.ExecuteRequest(
                action_digest=ad, skip_cache_lookup=True), timeout=30):
            got.append(op)
    except grpc.RpcError as e:
        err = e
    check(len(got) == 1 and err is not None and
          err.code() == grpc.StatusCode.UNAVAILABLE,
          'Execute aborted after one Operation', repr(err))
    w = list(c.ex.WaitExecution(P.re.WaitExecutionRequest(
        name=got[0].name), timeout=30)) if got else []
    check(w and w[-1].done and op_response(w[-1]).result.exit_code == 0,
          'WaitExecution resumes the aborted operation')
    srv.control('fault Execute:error:code=INTERNAL,message=boom')
    ops = c.execute(ad, skip=True)
    check(ops[-1].done and ops[-1].WhichOneof('result') == 'error' and
          ops[-1].error.code == 13 and ops[-1].error.message == 'boom',
          'Execute done with Operation.error')
    srv.control('fault Execute:nodone')
    ops = c.execute(ad, skip=True)
    check(len(ops) == 2 and not any(o.done for o in ops),
          'Execute stream ends OK without a done Operation')
    srv.control('fault Execute:exec_status:code=FAILED_PRECONDITION,'
                'missing=%s/1' % sha(b'z'))
    er = op_response(c.execute(ad, skip=True)[-1])
    check(er.status.code == 9 and len(er.status.details) == 1,
          'Execute done with ExecuteResponse.status')
    srv.control('fault WaitExecution:status:code=NOT_FOUND')
    _, e = rpc_code(lambda: list(c.ex.WaitExecution(
        P.re.WaitExecutionRequest(name=ops[0].name), timeout=10)))
    check(e is not None and e.code() == grpc.StatusCode.NOT_FOUND,
          'WaitExecution NOT_FOUND fault')
    srv.control('fault Execute:cancel:after=1')
    got, err = [], None
    try:
        for op in c.ex.Execute(P.re.ExecuteRequest(
                action_digest=ad, skip_cache_lookup=True), timeout=30):
            got.append(op)
    except grpc.RpcError as e:
        err = e
    check(len(got) == 1 and err is not None and
          err.code() == grpc.StatusCode.CANCELLED,
          'Execute cancelled by the server (RST_STREAM CANCEL)', repr(err))


def t_fault_misc(c, srv):
    srv.control('fault GetActionResult:deadline')
    t0 = time.monotonic()
    _, e = rpc_code(c.ac.GetActionResult, P.re.GetActionResultRequest(
        action_digest=dig(b'x')), timeout=0.5)
    check(e is not None and e.code() == grpc.StatusCode.DEADLINE_EXCEEDED
          and time.monotonic() - t0 < 5, 'deadline fault')
    srv.control('fault BatchReadBlobs:oversize')
    _, e = rpc_code(c.cas.BatchReadBlobs, P.re.BatchReadBlobsRequest(),
                    timeout=10)
    check(e is not None and e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED,
          'oversized response rejected by a 4 MiB client',
          repr(e and e.code()))
    srv.control('fault FindMissingBlobs:delay:ms=300')
    t0 = time.monotonic()
    c.cas.FindMissingBlobs(P.re.FindMissingBlobsRequest(), timeout=10)
    check(time.monotonic() - t0 >= 0.3, 'delay fault')
    data = b'corrupt me'
    c.upload([data])
    srv.control('fault Read:corrupt')
    check(c.read(dig(data)) != data, 'Read corrupt fault')
    srv.control('fault Read:truncate')
    check(c.read(dig(data)) == data[:-1], 'Read truncate fault')
    srv.control('fault Write:early')
    r = c.write(data)
    check(r.committed_size == len(data), 'Write early answer')
    srv.control('auth s3cret')
    _, e = rpc_code(c.cas.FindMissingBlobs, P.re.FindMissingBlobsRequest(),
                    timeout=10)
    ok_ = c.cas.FindMissingBlobs(
        P.re.FindMissingBlobsRequest(), timeout=10,
        metadata=[('authorization', 'Bearer s3cret')])
    srv.control('auth -')
    check(e is not None and e.code() == grpc.StatusCode.UNAUTHENTICATED and
          ok_ is not None, 'require-auth: UNAUTHENTICATED without token')
    check(srv.control('count FindMissingBlobs').startswith('OK '),
          'control count')


def t_goaway(c, srv, ad):
    """Execute stream open while the server restarts: GOAWAY, the stream
    finishes within the grace, the next call reconnects."""
    ad2, blobs = make_action({}, ['sh', '-c', 'sleep 1; echo slept'])
    c.upload(blobs)
    srv.control('fault Execute:goaway:after=1,grace_ms=5000')
    ops = c.execute(ad2, skip=True, timeout=30)
    er = op_response(ops[-1])
    check(ops[-1].done and er.result.exit_code == 0,
          'Execute completes across GOAWAY (grace)')
    r, e = rpc_code(c.cap.GetCapabilities, P.re.GetCapabilitiesRequest(),
                    timeout=10)
    check(r is not None, 'next call on the same channel after GOAWAY',
          repr(e))
    srv.control('fault Execute:goaway:after=1,grace_ms=0')
    ad3, blobs = make_action({}, ['sh', '-c', 'sleep 2; echo slept'])
    c.upload(blobs)
    got, err = [], None
    try:
        for op in c.ex.Execute(P.re.ExecuteRequest(
                action_digest=ad3, skip_cache_lookup=True), timeout=30):
            got.append(op)
    except grpc.RpcError as e:
        err = e
    check(err is not None and err.code() == grpc.StatusCode.UNAVAILABLE and
          len(got) >= 1, 'GOAWAY with grace 0 breaks the stream',
          repr(err and err.code()))
    w = list(c.ex.WaitExecution(P.re.WaitExecutionRequest(
        name=got[0].name), timeout=30)) if got else []
    check(w and w[-1].done, 'WaitExecution after reconnect')


def t_log(logpath):
    recs = read_log(logpath)
    begins = [r for r in recs if r.get('ev') == 'begin']
    fm = [r for r in begins if r['short'] == 'FindMissingBlobs' and
          r.get('requestmetadata')]
    check(fm and fm[0]['requestmetadata']['tool_details']['tool_name'] ==
          'selftest' and fm[0]['metadata'].get('authorization') ==
          'Bearer tok' and fm[0]['method'] ==
          '/build.bazel.remote.execution.v2.ContentAddressableStorage/'
          'FindMissingBlobs' and fm[0]['timeout_s'] is not None and
          fm[0]['metadata'].get('x-extra') == 'v',
          'log: method, metadata, requestmetadata, timeout', str(fm[:1]))
    wr = [r for r in begins if r['short'] == 'Write']
    check(wr and wr[0]['request'].get('uuid_ok') is True and
          wr[0]['request']['resource_name'].startswith('uploads/'),
          'log: Write resource name and uuid check')
    ends = [r for r in recs if r.get('ev') == 'end']
    check(any(r['code'] == 'UNAVAILABLE' for r in ends), 'log: end codes')


def t_lifetime(tmp):
    s = Proc(server_argv('--listen', '127.0.0.1:0', '--stubs-dir',
                         os.path.join(tmp, 'stubs2')))
    rc = s.close_stdin_and_wait()
    check(rc == 0, 'server exits when stdin closes', str(rc))
    s = Proc(server_argv('--listen', '127.0.0.1:0', '--stubs-dir',
                         os.path.join(tmp, 'stubs2')))
    s.p.send_signal(signal.SIGTERM)
    try:
        rc = s.p.wait(15)
    except subprocess.TimeoutExpired:
        s.kill()
        rc = None
    check(rc == 0, 'server exits on SIGTERM', str(rc))


def t_unix(tmp):
    """Unix socket listener; scripted and synthetic execution."""
    path = os.path.join(tmp, 'reapi.sock')
    script = os.path.join(tmp, 'script.json')
    with open(script, 'w') as fp:
        json.dump({'rules': [
            {'match': {'argv': r'^gcc .*foo\.c'}, 'exit_code': 1,
             'stderr': 'foo.c:1: error\n',
             'output_files': {'foo.o': {'content': 'OBJ',
                                        'executable': True}}},
            {'match': {'argv': 'opfail'},
             'error': {'code': 'INTERNAL', 'message': 'worker died'}}]},
            fp)
    s = Proc(server_argv('--unix', path, '--script', script, '--stubs-dir',
                         os.path.join(tmp, 'stubs2'), '--no-control'))
    try:
        with grpc.insecure_channel('unix:' + path) as ch:
            c = Client(ch)
            r = c.upload([b'via unix'])
            check(r.responses[0].status.code == 0 and s.info.get('UNIX')
                  == path, 'unix socket listener')
            t_script(c)
    finally:
        s.close_stdin_and_wait()


def t_script(c):
    ad, blobs = make_action({}, ['gcc', '-c', 'foo.c'],
                            out_files=['foo.o'])
    c.upload(blobs)
    ar = op_response(c.execute(ad)[-1]).result
    f = ar.output_files[0] if ar.output_files else None
    check(ar.exit_code == 1 and f and f.is_executable and
          c.read(f.digest) == b'OBJ' and
          c.read(ar.stderr_digest) == b'foo.c:1: error\n',
          'script rule by argv')
    ad, blobs = make_action({}, ['x', 'opfail'])
    c.upload(blobs)
    op = c.execute(ad)[-1]
    check(op.done and op.error.message == 'worker died',
          'script rule with Operation.error')
    ad, blobs = make_action({}, ['cc', 'x.c'], out_files=['x.o'],
                            out_dirs=['d'])
    c.upload(blobs)
    ar = op_response(c.execute(ad)[-1]).result
    check(ar.exit_code == 0 and
          c.read(ar.stdout_digest) == b'reapi_server: cc x.c\n' and
          c.read(ar.output_files[0].digest) ==
          ('synthetic x.o %s\n' % ad.hash).encode() and
          len(ar.output_directories) == 1, 'synthetic execution')


def t_tls(tmp):
    if shutil.which('openssl') is None:
        check(True, 'TLS # SKIP no openssl')
        return
    key, crt = os.path.join(tmp, 'k.pem'), os.path.join(tmp, 'c.pem')
    r = subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048',
                        '-nodes', '-keyout', key, '-out', crt, '-days', '2',
                        '-subj', '/CN=localhost', '-addext',
                        'subjectAltName=DNS:localhost,IP:127.0.0.1'],
                       capture_output=True)
    if r.returncode != 0:
        check(False, 'openssl req', r.stderr.decode()[-300:])
        return
    with open(crt, 'rb') as fp:
        crt_pem = fp.read()
    with open(key, 'rb') as fp:
        key_pem = fp.read()
    for mtls in (False, True):
        extra = ['--client-ca', crt] if mtls else []
        s = Proc(server_argv('--listen', '127.0.0.1:0', '--tls-cert', crt,
                             '--tls-key', key, '--stubs-dir',
                             os.path.join(tmp, 'stubs2'), '--no-control',
                             *extra))
        try:
            tls_call(s, crt_pem, key_pem, mtls)
        finally:
            s.close_stdin_and_wait()


def tls_call(s, crt_pem, key_pem, mtls):
    """The self-signed certificate doubles as CA and client certificate."""
    what = 'mTLS' if mtls else 'TLS'
    creds = grpc.ssl_channel_credentials(
        root_certificates=crt_pem, private_key=key_pem,
        certificate_chain=crt_pem)
    with grpc.secure_channel('localhost:%d' % s.port(), creds) as ch:
        caps, e = rpc_code(Client(ch).cap.GetCapabilities,
                           P.re.GetCapabilitiesRequest(), timeout=10)
        check(caps is not None, what + ' listener', repr(e))
    if not mtls:
        return
    creds = grpc.ssl_channel_credentials(root_certificates=crt_pem)
    with grpc.secure_channel('localhost:%d' % s.port(), creds) as ch:
        _, e = rpc_code(Client(ch).cap.GetCapabilities,
                        P.re.GetCapabilitiesRequest(), timeout=10)
        check(e is not None and e.code() == grpc.StatusCode.UNAVAILABLE,
              'mTLS: a client without a certificate is refused',
              repr(e and e.code()))


def t_raw(srv, logpath):
    """The raw HTTP/2 port, checked with gRPC core's client mapping."""
    caps = P.re.ServerCapabilities()
    caps.cache_capabilities.max_batch_total_size_bytes = 7
    cases = [
        ([], 'UNIMPLEMENTED', 'default recipe'),
        (['headers msg=%s trailers=0' % caps.SerializeToString().hex()],
         'OK', 'scripted OK response'),
        (['early headers=503/text/html data=3c68746d6c3e end'],
         'UNAVAILABLE', 'HTTP 503 text/html'),
        (['rst=CANCEL'], 'CANCELLED', 'RST_STREAM CANCEL'),
        (['rst=ENHANCE_YOUR_CALM'], 'RESOURCE_EXHAUSTED',
         'RST_STREAM ENHANCE_YOUR_CALM'),
        (['goaway=prev/NO_ERROR', 'trailers-only=5/second'], 'NOT_FOUND',
         'GOAWAY below the stream id: retried on a new connection'),
        (['trailers-only=14/a%20b%ZZ%C3%A9'], 'UNAVAILABLE',
         'Trailers-Only with a raw grpc-message'),
    ]
    for recipes, want, what in cases:
        for r in recipes:
            srv.control('raw-push ' + r)
        with grpc.insecure_channel('127.0.0.1:%s' % srv.info['RAW']) as ch:
            r, e = rpc_code(Client(ch).cap.GetCapabilities,
                            P.re.GetCapabilitiesRequest(), timeout=10)
        got = e.code().name if e else 'OK'
        if got == 'UNAVAILABLE' and 'grpc-message' in what:
            check(e.details() == 'a b%ZZ\u00e9', 'raw: ' + what,
                  repr(e.details()))
        elif got == 'OK':
            check(want == 'OK' and
                  r.cache_capabilities.max_batch_total_size_bytes == 7,
                  'raw: ' + what)
        else:
            check(got == want, 'raw: ' + what, got)
        srv.control('raw')
    srv.control('raw-push headers sleep=1500 trailers=0')
    with grpc.insecure_channel('127.0.0.1:%s' % srv.info['RAW']) as ch:
        _, e = rpc_code(Client(ch).cap.GetCapabilities,
                        P.re.GetCapabilitiesRequest(), timeout=0.3)
        deadline = time.monotonic() + 10
        seen = False
        while not seen and time.monotonic() < deadline:
            seen = any(r.get('ev') == 'raw-recv' and
                       r.get('frame') == 'RST_STREAM' and r['code'] == 8
                       for r in read_log(logpath))
            time.sleep(0.1)
    check(e is not None and e.code() == grpc.StatusCode.DEADLINE_EXCEEDED
          and seen, 'raw: client RST_STREAM(CANCEL) on deadline is logged')


def run_reapi(tmp):
    logpath = os.path.join(tmp, 'calls.jsonl')
    srv = Proc(server_argv('--listen', '127.0.0.1:0', '--real-exec',
                           '--raw', '--log', logpath, '--stubs-dir',
                           os.path.join(tmp, 'stubs2')))
    rm = P.re.RequestMetadata(action_id='a1', tool_invocation_id='b1')
    rm.tool_details.tool_name = 'selftest'
    md = [('authorization', 'Bearer tok'), ('x-extra', 'v'),
          (REQMETA_KEY, rm.SerializeToString())]
    try:
        with grpc.insecure_channel('127.0.0.1:%d' % srv.port()) as ch:
            c = Client(ch, md)
            t_capabilities(c)
            t_cas(c)
            t_bytestream(c)
            ad, _ = t_execute(c, srv, logpath)
            t_missing_input(c, srv)
            t_faults(c, srv, ad)
            t_goaway(c, srv, ad)
        t_raw(srv, logpath)
        t_log(logpath)
        check(srv.control('stop') == 'OK stopping' and
              srv.p.wait(15) == 0, 'control stop')
    finally:
        srv.kill()
    t_lifetime(tmp)
    t_unix(tmp)
    t_tls(tmp)


# ---------------------------------------------------------------------------
# BuildStream CAS server


def run_buildstream(tmp):
    srv = Proc([sys.executable, os.path.join(HERE, 'casserver.py'),
                '--listen', '127.0.0.1:0'], want=('PORT',))
    try:
        with grpc.insecure_channel('127.0.0.1:%d' % srv.port()) as ch:
            c = Client(ch)
            bs_checks(c)
    finally:
        rc = srv.close_stdin_and_wait()
        check(rc == 0, 'casserver exits when stdin closes', str(rc))


def bs_checks(c):
    caps = c.cap.GetCapabilities(P.re.GetCapabilitiesRequest(), timeout=10)
    cc = caps.cache_capabilities
    check(list(cc.digest_functions) == [P.re.DigestFunction.SHA256] and
          cc.max_batch_total_size_bytes == MIB and
          not caps.HasField('execution_capabilities'),
          'bst: GetCapabilities (SHA256, 1 MiB batches, no execution)',
          str(caps))
    a, b = b'bst alpha\n', b'bst beta\n'
    r = c.cas.FindMissingBlobs(P.re.FindMissingBlobsRequest(
        blob_digests=[dig(a), dig(b)]), timeout=10)
    check(len(r.missing_blob_digests) == 2, 'bst: FindMissingBlobs')
    r = c.upload([a, b])
    check([x.status.code for x in r.responses] == [0, 0],
          'bst: BatchUpdateBlobs')
    r = c.cas.FindMissingBlobs(P.re.FindMissingBlobsRequest(
        blob_digests=[dig(a), dig(b), dig(b'missing')]), timeout=10)
    check([x.hash for x in r.missing_blob_digests] == [sha(b'missing')],
          'bst: FindMissingBlobs after upload')
    r = c.cas.BatchReadBlobs(P.re.BatchReadBlobsRequest(
        digests=[dig(a)]), timeout=10)
    check(r.responses[0].data == a, 'bst: BatchReadBlobs')
    big = os.urandom(3 * MIB + 5)
    r = c.write(big, chunk=MIB)
    check(r.committed_size == len(big), 'bst: ByteStream.Write 3 MiB')
    check(c.read(dig(big)) == big, 'bst: ByteStream.Read 3 MiB')
    _, e = rpc_code(c.read, dig(big), instance='main')
    check(e is not None and e.code() == grpc.StatusCode.NOT_FOUND,
          'bst: instance names are not supported (NOT_FOUND)')
    _, e = rpc_code(c.ac.GetActionResult, P.re.GetActionResultRequest(
        action_digest=dig(a)), timeout=10)
    check(e is not None and e.code() == grpc.StatusCode.UNIMPLEMENTED,
          'bst: no ActionCache (UNIMPLEMENTED)')
    _, e = rpc_code(c.upload, [os.urandom(MIB // 2), os.urandom(MIB // 2 +
                                                                 1)])
    check(e is not None and e.code() == grpc.StatusCode.INVALID_ARGUMENT,
          'bst: batches over 1 MiB of data: INVALID_ARGUMENT')


def main():
    global P
    ap = argparse.ArgumentParser()
    ap.add_argument('--buildstream', action='store_true',
                    help='test Debian\'s BuildStream CAS server instead')
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix='reapi-selftest-')
    try:
        P, _ = RS.load_stubs(stubs_dir=os.path.join(tmp, 'stubs'))
        if args.buildstream:
            run_buildstream(tmp)
        else:
            run_reapi(tmp)
    except Exception as e:                      # noqa: BLE001
        import traceback
        traceback.print_exc()
        check(False, 'selftest ran to the end', repr(e))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print('1..%d' % N)
    return 1 if FAILED else 0


if __name__ == '__main__':
    sys.exit(main())
