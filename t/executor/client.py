#!/usr/bin/python3
# -*- coding: utf-8 -*-
"""REAPI v2 client checks against the embedded local executor.

An independent client (Debian python3-grpcio, i.e. gRPC core) that drives
the executor of a running remoteexec_proxy directly over its loopback TCP
port (executor.listen).  The python stubs are generated from the project's
.proto files exactly as t/reapi/reapi_server.py does (its load_stubs()).

    client.py --target 127.0.0.1:PORT --suite grpc|isolation
              [--status-port PORT] [--testdir DIR] [--master PID]

Suites
  grpc       Capabilities, FindMissingBlobs, BatchUpdateBlobs (a wrong
             digest is refused for that blob only), BatchReadBlobs,
             ByteStream Write/Read/QueryWriteStatus, Execute with inputs
             and outputs (exit code, stdout/stderr, output file, output
             directory as a Tree), WaitExecution, the action cache
             (cached_result, GetActionResult, UpdateActionResult,
             skip_cache_lookup, do_not_cache), missing inputs, unknown
             methods, queueing with more actions than jobs.
  isolation  output paths leaving the input root, input symlinks leaving
             it, an action writing outside its directory, the action's
             uid, the action timeout killing the process group, the
             executor killed in the middle of an action (restarted by the
             master, the client's call fails, nothing hangs).
  sandbox-missing
             the configured sandbox is not installed: FAILED_PRECONDITION.
  sandbox    actions run under bwrap.
  reload     an action in flight while the master (--master PID) reloads
             completes; the new executor serves.
  evict-fill, evict-check, evict-ac-fill, evict-ac-check
             executor.max_size 100k: 8 blobs (then 8 action results), the
             first one used again after each write; after the eviction the
             least recently used are gone.
  term       SIGTERM to the master (--master PID) with an action running.
  persist    one action whose result is expected cached (--cached yes) or
             not (--cached no): the CAS and action cache survive restarts.

Output is TAP ("ok N - what" / "not ok N - what # why", then "1..N"); exit
status 0 iff every check passed.  Every wait is bounded.
"""

import argparse
import hashlib
import os
import re
import signal
import sys
import threading
import time
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'reapi'))
os.environ.setdefault('GRPC_VERBOSITY', 'NONE')
import grpc                                     # noqa: E402
import reapi_server as RS                       # noqa: E402

MIB = 1024 * 1024
RE = 'build.bazel.remote.execution.v2.'
P = None            # the generated modules
ARGS = None
N = 0
FAILED = 0


def check(cond, what, why=''):
    global N, FAILED
    N += 1
    if cond:
        print('ok %d - %s' % (N, what))
    else:
        FAILED += 1
        print('not ok %d - %s # %s' % (N, what, str(why).replace('\n', ' ')))
    sys.stdout.flush()
    return cond


def sha(data):
    return hashlib.sha256(data).hexdigest()


def dig(data):
    return P.re.Digest(hash=sha(data), size_bytes=len(data))


def ser(msg):
    return msg.SerializeToString(deterministic=True)


class Client:
    def __init__(self, target):
        self.ch = grpc.insecure_channel(target)
        self.cas = P.re_grpc.ContentAddressableStorageStub(self.ch)
        self.caps = P.re_grpc.CapabilitiesStub(self.ch)
        self.exe = P.re_grpc.ExecutionStub(self.ch)
        self.ac = P.re_grpc.ActionCacheStub(self.ch)
        self.bs = P.bs_grpc.ByteStreamStub(self.ch)

    def upload(self, blobs):
        req = P.re.BatchUpdateBlobsRequest()
        for b in blobs:
            req.requests.add(digest=dig(b), data=b)
        return self.cas.BatchUpdateBlobs(req, timeout=10)

    def missing(self, digests):
        r = self.cas.FindMissingBlobs(
            P.re.FindMissingBlobsRequest(blob_digests=digests), timeout=10)
        return set(d.hash for d in r.missing_blob_digests)

    def read(self, d):
        r = self.cas.BatchReadBlobs(
            P.re.BatchReadBlobsRequest(digests=[d]), timeout=10)
        return r.responses[0].data if r.responses[0].status.code == 0 \
            else None


def grpc_code(f):
    """Runs f(); returns (grpc.StatusCode, result or exception)."""
    try:
        return grpc.StatusCode.OK, f()
    except grpc.RpcError as e:
        return e.code(), e


# ---------------------------------------------------------------- actions

def directory(files=(), dirs=(), links=()):
    """files: [(name, data, exec)], dirs: [(name, Directory)],
    links: [(name, target)]; returns (Directory, blobs)."""
    d = P.re.Directory()
    blobs = []
    for name, data, ex in sorted(files):
        d.files.add(name=name, digest=dig(data), is_executable=ex)
        blobs.append(data)
    for name, sub in sorted(dirs, key=lambda x: x[0]):
        b = ser(sub)
        d.directories.add(name=name, digest=dig(b))
        blobs.append(b)
    for name, target in sorted(links):
        d.symlinks.add(name=name, target=target)
    return d, blobs


def action(client, argv, root=None, blobs=(), outputs=(), out_dirs=(),
           out_paths=(), env=None, timeout=None, do_not_cache=False,
           wd='', upload=True, salt=b''):
    """Builds and uploads Command, Action, input tree; returns the action
    digest."""
    if root is None:
        root, blobs = directory()
    env = env if env is not None else {'PATH': '/usr/bin:/bin'}
    cmd = P.re.Command(arguments=argv, output_files=sorted(outputs),
                       output_directories=sorted(out_dirs),
                       output_paths=sorted(out_paths),
                       working_directory=wd)
    for k in sorted(env):
        cmd.environment_variables.add(name=k, value=env[k])
    cb, rb = ser(cmd), ser(root)
    act = P.re.Action(command_digest=dig(cb), input_root_digest=dig(rb),
                      do_not_cache=do_not_cache, salt=salt)
    if timeout is not None:
        act.timeout.seconds = timeout
    ab = ser(act)
    if upload:
        r = client.upload([cb, rb, ab] + list(blobs))
        for x in r.responses:
            assert x.status.code == 0, x
    return dig(ab)


def execute(client, adig, skip_cache=False, timeout=60):
    """Returns (ops, ExecuteResponse or None, error)."""
    ops = []
    try:
        for op in client.exe.Execute(
                P.re.ExecuteRequest(action_digest=adig,
                                    skip_cache_lookup=skip_cache),
                timeout=timeout):
            ops.append(op)
    except grpc.RpcError as e:
        return ops, None, e
    return ops, response_of(ops), None


def response_of(ops):
    if not ops or not ops[-1].done:
        return None
    return P.re.ExecuteResponse.FromString(ops[-1].response.value)


def stage_of(op):
    return P.re.ExecuteOperationMetadata.FromString(op.metadata.value).stage


def stdout_of(client, r):
    return r.stdout_raw if r.stdout_raw else client.read(r.stdout_digest)


def stderr_of(client, r):
    return r.stderr_raw if r.stderr_raw else client.read(r.stderr_digest)


# ---------------------------------------------------------------- grpc suite

def t_capabilities(c):
    sc = c.caps.GetCapabilities(P.re.GetCapabilitiesRequest(), timeout=10)
    cc, ec = sc.cache_capabilities, sc.execution_capabilities
    check(list(cc.digest_functions) == [P.re.DigestFunction.SHA256],
          'capabilities: SHA256', cc.digest_functions)
    check(cc.max_batch_total_size_bytes == 4 * MIB,
          'capabilities: max batch 4 MiB', cc.max_batch_total_size_bytes)
    check(cc.symlink_absolute_path_strategy
          == P.re.SymlinkAbsolutePathStrategy.ALLOWED,
          'capabilities: absolute symlinks allowed')
    check(ec.exec_enabled and ec.digest_function == P.re.DigestFunction.SHA256,
          'capabilities: execution enabled')
    check((sc.low_api_version.major, sc.low_api_version.minor,
           sc.high_api_version.major, sc.high_api_version.minor)
          == (2, 0, 2, 3), 'capabilities: API 2.0 to 2.3')


def t_cas(c):
    a, b = os.urandom(1000), b'hello executor\n'
    miss = c.missing([dig(a), dig(b), dig(b'')])
    check(miss == {sha(a), sha(b)}, 'FindMissing: new blobs missing, empty '
          'never', miss)
    r = c.upload([a, b])
    check([x.status.code for x in r.responses] == [0, 0],
          'BatchUpdate: both stored')
    check(c.missing([dig(a), dig(b)]) == set(), 'FindMissing: now present')
    good, bad = os.urandom(100), os.urandom(100)
    req = P.re.BatchUpdateBlobsRequest()
    req.requests.add(digest=dig(good), data=good)
    req.requests.add(digest=P.re.Digest(hash=sha(b'other'), size_bytes=100),
                     data=bad)
    req.requests.add(digest=P.re.Digest(hash='zz', size_bytes=1), data=b'x')
    r = c.cas.BatchUpdateBlobs(req, timeout=10)
    codes = [x.status.code for x in r.responses]
    check(codes == [0, 3, 3], 'BatchUpdate: wrong digest INVALID_ARGUMENT for '
          'that blob only', codes)
    check(c.missing([P.re.Digest(hash=sha(b'other'), size_bytes=100),
                     dig(good)]) == {sha(b'other')},
          'BatchUpdate: the refused blob is absent')
    r = c.cas.BatchReadBlobs(P.re.BatchReadBlobsRequest(
        digests=[dig(b), dig(b'never stored'), dig(b'')]), timeout=10)
    check([(x.status.code, x.data) for x in r.responses]
          == [(0, b), (5, b''), (0, b'')],
          'BatchRead: data, NOT_FOUND, empty blob')
    code, _ = grpc_code(lambda: c.cas.FindMissingBlobs(
        P.re.FindMissingBlobsRequest(blob_digests=[
            P.re.Digest(hash='ABC', size_bytes=1)]), timeout=10))
    check(code == grpc.StatusCode.INVALID_ARGUMENT,
          'FindMissing: malformed digest INVALID_ARGUMENT', code)
    # sizes whose sum wraps around in 64 bits still exceed the limit
    huge = 2 ** 63 - 1
    code, _ = grpc_code(lambda: c.cas.BatchReadBlobs(
        P.re.BatchReadBlobsRequest(digests=[
            P.re.Digest(hash=sha(b'x'), size_bytes=huge),
            P.re.Digest(hash=sha(b'y'), size_bytes=huge), dig(b)]),
        timeout=10))
    check(code == grpc.StatusCode.INVALID_ARGUMENT,
          'BatchRead: sizes summing past 2^64 INVALID_ARGUMENT', code)


def bs_write(c, data, d=None, chunk=MIB, name=None):
    d = d or dig(data)
    name = name or 'inst/uploads/%s/blobs/%s/%d' % (uuid.uuid4(), d.hash,
                                                    d.size_bytes)

    def gen():
        off = 0
        while True:
            part = data[off:off + chunk]
            last = off + len(part) >= len(data)
            yield P.bs.WriteRequest(resource_name=name, write_offset=off,
                                    data=part, finish_write=last)
            off += len(part)
            if last:
                return
    return grpc_code(lambda: c.bs.Write(gen(), timeout=20))


def bs_read(c, d, offset=0, limit=0, inst='inst/'):
    chunks = []
    name = '%sblobs/%s/%d' % (inst, d.hash, d.size_bytes)
    code, res = grpc_code(lambda: [chunks.append(r.data) for r in c.bs.Read(
        P.bs.ReadRequest(resource_name=name, read_offset=offset,
                         read_limit=limit), timeout=20)])
    return code, chunks


def t_bytestream(c):
    big = os.urandom(3 * MIB + 12345)
    code, r = bs_write(c, big)
    check(code == grpc.StatusCode.OK and r.committed_size == len(big),
          'ByteStream Write: committed_size', (code, r))
    check(c.missing([dig(big)]) == set(), 'ByteStream Write: blob present')
    code, chunks = bs_read(c, dig(big))
    check(code == grpc.StatusCode.OK and b''.join(chunks) == big,
          'ByteStream Read: content', code)
    check(chunks and max(len(x) for x in chunks) <= MIB,
          'ByteStream Read: chunks at most 1 MiB',
          [len(x) for x in chunks])
    code, chunks = bs_read(c, dig(big), offset=100, limit=5000, inst='')
    check(code == grpc.StatusCode.OK and b''.join(chunks) == big[100:5100],
          'ByteStream Read: offset and limit, no instance')
    code, r = bs_write(c, big)
    check(code == grpc.StatusCode.OK and r.committed_size == len(big),
          'ByteStream Write: existing blob accepted early')
    data = os.urandom(200000)
    wrong = P.re.Digest(hash=sha(b'not this'), size_bytes=len(data))
    code, _ = bs_write(c, data, d=wrong, chunk=65536)
    check(code == grpc.StatusCode.INVALID_ARGUMENT,
          'ByteStream Write: wrong digest INVALID_ARGUMENT', code)
    check(c.missing([wrong]) == {wrong.hash}, 'ByteStream Write: refused '
          'blob absent')
    code, _ = bs_read(c, dig(b'absent blob'))
    check(code == grpc.StatusCode.NOT_FOUND, 'ByteStream Read: NOT_FOUND',
          code)
    # a stored blob named with another size is not that blob
    code, chunks = bs_read(c, P.re.Digest(hash=sha(big), size_bytes=2 ** 62))
    check(code == grpc.StatusCode.NOT_FOUND and not chunks,
          'ByteStream Read: a stored hash with a wrong size NOT_FOUND', code)
    code, _ = bs_write(c, b'x', name='bad/resource')
    check(code == grpc.StatusCode.INVALID_ARGUMENT,
          'ByteStream Write: bad resource name', code)
    d = dig(big)
    r = c.bs.QueryWriteStatus(P.bs.QueryWriteStatusRequest(
        resource_name='uploads/%s/blobs/%s/%d' % (uuid.uuid4(), d.hash,
                                                  d.size_bytes)), timeout=10)
    check(r.complete and r.committed_size == len(big),
          'ByteStream QueryWriteStatus: complete')


def t_execute(c):
    data = b'input line\n' * 3
    sub, sblobs = directory(files=[('tool.sh', b'#!/bin/sh\necho tool\n',
                                    True)])
    root, blobs = directory(files=[('in.txt', data, False)],
                            dirs=[('bin', sub)])
    script = ('cat in.txt > out/o.txt; mkdir -p outdir/sub; '
              'echo deep > outdir/sub/f.txt; echo top > outdir/t.txt; '
              'cp bin/tool.sh outdir/x.sh; ln -s t.txt outdir/link; '
              './bin/tool.sh; echo err >&2; exit 3')
    adig = action(c, ['sh', '-c', script], root, blobs + sblobs,
                  outputs=['out/o.txt', 'missing.txt'], out_dirs=['outdir'])
    ops, er, err = execute(c, adig)
    check(er is not None, 'Execute: done operation', err)
    if er is None:
        return None
    check(ops[-1].response.type_url == 'type.googleapis.com/' + RE
          + 'ExecuteResponse', 'Execute: response type_url',
          ops[-1].response.type_url)
    stages = [stage_of(o) for o in ops[:-1]]
    check(len(ops) >= 2 and all(not o.done for o in ops[:-1])
          and set(stages) <= {2, 3} and 3 in stages,
          'Execute: not-done QUEUED/EXECUTING operations first', stages)
    check(ops[0].name.startswith('operations/') and
          all(o.name == ops[0].name for o in ops), 'Execute: operation name')
    r = er.result
    check(er.status.code == 0 and r.exit_code == 3, 'Execute: exit code 3',
          (er.status, r.exit_code))
    check(stdout_of(c, r) == b'tool\n' and stderr_of(c, r) == b'err\n',
          'Execute: stdout and stderr', (r.stdout_raw, r.stderr_raw))
    check(r.stdout_digest.hash == sha(b'tool\n') and
          c.read(r.stderr_digest) == b'err\n',
          'Execute: stdout/stderr in the CAS too')
    files = {f.path: f for f in r.output_files}
    check(list(files) == ['out/o.txt'] and
          files['out/o.txt'].digest == dig(data) and
          c.read(files['out/o.txt'].digest) == data,
          'Execute: output file digest and content', list(files))
    check(not er.cached_result, 'Execute: not a cached result')
    check(len(r.output_directories) == 1 and
          r.output_directories[0].path == 'outdir',
          'Execute: output directory')
    t_tree(c, r.output_directories[0].tree_digest)
    md = r.execution_metadata
    check(md.worker.startswith('remoteexec_proxy-executor@') and
          md.execution_start_timestamp.seconds > 0 and
          md.execution_completed_timestamp.seconds
          >= md.execution_start_timestamp.seconds and
          md.queued_timestamp.seconds > 0,
          'Execute: ExecutedActionMetadata', md)
    code, _ = grpc_code(lambda: c.ac.GetActionResult(
        P.re.GetActionResultRequest(action_digest=adig), timeout=10))
    check(code == grpc.StatusCode.NOT_FOUND, 'Execute: exit 3 is not cached',
          code)
    wops = list(c.exe.WaitExecution(
        P.re.WaitExecutionRequest(name=ops[0].name), timeout=10))
    wr = response_of(wops)
    check(wr is not None and wr.result.exit_code == 3 and
          wops[-1].name == ops[0].name, 'WaitExecution: the done operation')
    code, _ = grpc_code(lambda: list(c.exe.WaitExecution(
        P.re.WaitExecutionRequest(name='operations/nope'), timeout=10)))
    check(code == grpc.StatusCode.NOT_FOUND, 'WaitExecution: unknown name '
          'NOT_FOUND', code)
    return adig


def t_tree(c, tdig):
    raw = c.read(tdig)
    check(raw is not None and sha(raw) == tdig.hash, 'Tree: in the CAS')
    if raw is None:
        return
    tree = P.re.Tree.FromString(raw)
    root = tree.root
    check([f.name for f in root.files] == ['t.txt', 'x.sh'] and
          [d.name for d in root.directories] == ['sub'] and
          [(s.name, s.target) for s in root.symlinks] == [('link', 't.txt')],
          'Tree: root entries sorted, symlink kept', root)
    xs = [f for f in root.files if f.name == 'x.sh']
    check(xs and xs[0].is_executable and c.read(xs[0].digest)
          == b'#!/bin/sh\necho tool\n', 'Tree: executable bit and content')
    by_digest = {sha(ser(d)): d for d in tree.children}
    sub = by_digest.get(root.directories[0].digest.hash) \
        if root.directories else None
    check(sub is not None and [f.name for f in sub.files] == ['f.txt'] and
          c.read(sub.files[0].digest) == b'deep\n',
          'Tree: child directory matched by digest')


def t_output_paths(c):
    adig = action(c, ['sh', '-c', 'echo f > p/file.txt; mkdir pdir; '
                      'echo g > pdir/g.txt; ln -s file.txt p/link'],
                  out_paths=['p/file.txt', 'p/link', 'pdir'],
                  do_not_cache=True)
    _, er, err = execute(c, adig)
    r = er.result if er else None
    check(r is not None and r.exit_code == 0 and
          [(f.path, c.read(f.digest)) for f in r.output_files]
          == [('p/file.txt', b'f\n')] and
          [d.path for d in r.output_directories] == ['pdir'] and
          [(s.path, s.target) for s in r.output_symlinks]
          == [('p/link', 'file.txt')],
          'Execute: output_paths give files, directories and symlinks',
          err or r)


def t_cache(c):
    marker = uuid.uuid4().hex
    adig = action(c, ['sh', '-c', 'echo %s; echo ok > r.txt' % marker],
                  outputs=['r.txt'])
    _, er1, err = execute(c, adig)
    check(er1 is not None and er1.result.exit_code == 0 and
          not er1.cached_result, 'cache: first run executes', err)
    _, er2, err = execute(c, adig)
    check(er2 is not None and er2.cached_result and
          er2.result.output_files == er1.result.output_files and
          stdout_of(c, er2.result) == (marker + '\n').encode(),
          'cache: second Execute is a cache hit', err)
    r = c.ac.GetActionResult(P.re.GetActionResultRequest(
        instance_name='any/instance', action_digest=adig), timeout=10)
    check(r.exit_code == 0 and r.output_files == er1.result.output_files,
          'cache: GetActionResult')
    _, er3, err = execute(c, adig, skip_cache=True)
    check(er3 is not None and not er3.cached_result,
          'cache: skip_cache_lookup executes again', err)
    adig = action(c, ['sh', '-c', 'echo %s' % marker], do_not_cache=True)
    _, er4, err = execute(c, adig)
    code, _ = grpc_code(lambda: c.ac.GetActionResult(
        P.re.GetActionResultRequest(action_digest=adig), timeout=10))
    check(er4 is not None and er4.result.exit_code == 0 and
          code == grpc.StatusCode.NOT_FOUND, 'cache: do_not_cache not stored',
          code)
    fake = P.re.ActionResult(exit_code=0, stdout_raw=b'x')
    key = dig(b'some action ' + marker.encode())
    c.ac.UpdateActionResult(P.re.UpdateActionResultRequest(
        action_digest=key, action_result=fake), timeout=10)
    r = c.ac.GetActionResult(P.re.GetActionResultRequest(action_digest=key),
                             timeout=10)
    check(r.stdout_raw == b'x', 'cache: UpdateActionResult then Get')


def t_errors(c):
    absent = b'never uploaded ' + uuid.uuid4().hex.encode()
    root, _ = directory(files=[('a.txt', absent, False)])
    adig = action(c, ['true'], root, [])
    _, er, err = execute(c, adig)
    det = er.status.details if er is not None else []
    pf = P.st.PreconditionFailure.FromString(det[0].value) if det else None
    check(er is not None and er.status.code == 9 and pf is not None and
          ['blobs/%s/%d' % (sha(absent), len(absent))]
          == [v.subject for v in pf.violations] and
          pf.violations[0].type == 'MISSING',
          'missing input: FAILED_PRECONDITION with the blob', err or er)
    adig = action(c, ['true'], upload=False, salt=b'x')
    _, er, err = execute(c, adig)
    check(er is not None and er.status.code == 9,
          'missing action: FAILED_PRECONDITION', err or er)
    code, _ = grpc_code(lambda: list(c.cas.GetTree(
        P.re.GetTreeRequest(root_digest=dig(b'')), timeout=10)))
    check(code == grpc.StatusCode.UNIMPLEMENTED, 'unknown method '
          'UNIMPLEMENTED', code)
    code, _ = grpc_code(lambda: list(c.exe.Execute(P.re.ExecuteRequest(
        action_digest=P.re.Digest(hash='x')), timeout=10)))
    check(code == grpc.StatusCode.INVALID_ARGUMENT, 'Execute: bad digest '
          'INVALID_ARGUMENT', code)
    # a DAG: 20 levels that each name the level below twice stand for
    # 2^21 entries in 21 small blobs; refused, not created
    d, blobs = directory()
    for _ in range(20):
        d, b = directory(dirs=[('a', d), ('b', d)])
        blobs += b
    adig = action(c, ['true'], d, blobs, salt=b'dag')
    _, er, err = execute(c, adig)
    check(er is not None and er.status.code == 3
          and 'entries' in er.status.message,
          'input tree of 2^21 entries: INVALID_ARGUMENT', err or er)
    adig = action(c, ['/nonexistent/program'])
    _, er, err = execute(c, adig)
    check(er is not None and er.result.exit_code == 127 and
          b'nonexistent' in stderr_of(c, er.result),
          'unknown program: exit 127 and a message', err or er)


def t_queue(c, jobs=2):
    n = jobs * 2 + 1
    res = [None] * n

    def run(i):
        adig = action(c, ['sh', '-c', 'sleep 0.3; echo %d' % i],
                      do_not_cache=True, salt=uuid.uuid4().bytes)
        res[i] = execute(c, adig, timeout=30)
    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    t0 = time.time()
    for t in ts:
        t.start()
    for t in ts:
        t.join(40)
    ok = all(r and r[1] is not None and
             stdout_of(c, r[1].result) == b'%d\n' % i
             for i, r in enumerate(res))
    check(ok, 'queue: %d actions with %d jobs all complete' % (n, jobs))
    queued = sum(1 for r in res if r and any(
        not o.done and stage_of(o) == 2 for o in r[0]))
    check(queued >= 1, 'queue: some actions waited in QUEUED', queued)
    check(time.time() - t0 >= 0.55, 'queue: at most %d ran at once' % jobs,
          time.time() - t0)


def suite_grpc(c):
    t_capabilities(c)
    t_cas(c)
    t_bytestream(c)
    t_execute(c)
    t_output_paths(c)
    t_cache(c)
    t_errors(c)
    t_queue(c, ARGS.jobs)


# ---------------------------------------------------------- isolation suite

def procs_matching(pattern):
    """pids whose command line matches pattern (a regex on argv joined by
    spaces)."""
    out = []
    for p in os.listdir('/proc'):
        if not p.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % p, 'rb') as f:
                argv = f.read().rstrip(b'\0').split(b'\0')
        except OSError:
            continue
        if re.search(pattern, b' '.join(argv).decode('utf-8', 'replace')):
            out.append(int(p))
    return out


def wait_until(cond, timeout):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    return cond()


def executor_pid():
    """The executor's pid from the status page."""
    try:
        body = urllib.request.urlopen('http://127.0.0.1:%d/'
                                      % ARGS.status_port, timeout=5).read()
    except OSError:
        return None
    m = re.search(rb'<td>executor</td><td>(\d+)</td>', body)
    return int(m.group(1)) if m else None


def t_paths(c):
    for bad in ('../x', '/tmp/abs-output', 'a/../../x'):
        adig = action(c, ['true'], outputs=[bad])
        _, er, err = execute(c, adig)
        check(er is not None and er.status.code == 3,
              'output path %r: INVALID_ARGUMENT' % bad, err or er)
    adig = action(c, ['true'], wd='../up')
    _, er, err = execute(c, adig)
    check(er is not None and er.status.code == 3,
          'working_directory ../up: INVALID_ARGUMENT', err or er)
    for target in ('/etc', '../../etc', 'sub/../../x'):
        root, blobs = directory(files=[('f', b'x', False)],
                                links=[('l', target)])
        adig = action(c, ['cat', 'l/passwd'], root, blobs)
        _, er, err = execute(c, adig)
        check(er is not None and er.status.code == 3,
              'input symlink -> %s refused' % target, err or er)
    sub, sblobs = directory(links=[('up', '../f')])
    root, blobs = directory(files=[('f', b'inside\n', False)],
                            dirs=[('d', sub)])
    adig = action(c, ['cat', 'd/up'], root, blobs + sblobs)
    _, er, err = execute(c, adig)
    check(er is not None and er.status.code == 0 and
          stdout_of(c, er.result) == b'inside\n',
          'input symlink inside the input root works', err or er)
    root, blobs = directory(files=[('a', b'1', False), ('a', b'2', False)])
    adig = action(c, ['true'], root, blobs)
    _, er, err = execute(c, adig)
    check(er is not None and er.status.code == 3,
          'duplicate input names refused', err or er)


def skip(what, n):
    global N
    for _ in range(n):
        N += 1
        print('ok %d - %s # skip' % (N, what))


def t_escape(c):
    if os.geteuid() != 0:
        skip('escape checks need root (actions run as another user)', 6)
        return
    t = ARGS.testdir
    targets = ['../escape1.txt', '../../escape2.txt', '../../../escape3.txt',
               t + '/escape4.txt', t + '/executor/escape5.txt',
               t + '/executor/cas/escape6.txt']
    script = ''.join('echo x > %s 2>/dev/null && echo wrote %s; ' % (p, p)
                     for p in targets)
    script += 'ln -s %s/executor/cas leak; echo done' % t
    adig = action(c, ['sh', '-c', script], outputs=['leak'],
                  out_dirs=['leakdir'])
    _, er, err = execute(c, adig)
    out = stdout_of(c, er.result) if er else b''
    check(er is not None and out.endswith(b'done\n') and b'wrote' not in out,
          'writes outside the action directory fail', out)
    found = [p for p in (os.path.join(t, 'escape4.txt'),
                         os.path.join(t, 'executor', 'escape5.txt'),
                         os.path.join(t, 'executor', 'cas', 'escape6.txt'),
                         os.path.join(t, 'executor', 'work', 'escape2.txt'),
                         os.path.join(t, 'executor', 'escape3.txt'))
             if os.path.exists(p)]
    found += [x for x in os.listdir(os.path.join(t, 'executor', 'work'))
              if 'escape' in x]
    check(not found, 'no escape file outside the work directory', found)
    syms = [(s.path, s.target) for s in er.result.output_symlinks] \
        if er else []
    check(er is not None and not er.result.output_files and
          syms == [('leak', t + '/executor/cas')],
          'a symlink output is reported, not followed', syms)
    adig = action(c, ['sh', '-c', 'id -u; id -g; cat /etc/shadow > s.txt'],
                  outputs=['s.txt'])
    _, er, err = execute(c, adig)
    ids = stdout_of(c, er.result).split() if er else []
    check(ids and ids[0] != b'0' and int(ids[0]) == ARGS.uid,
          'the action does not run as root', ids)
    outs = [c.read(f.digest) for f in er.result.output_files] if er else []
    check(er is not None and er.result.exit_code != 0 and outs in ([], [b'']),
          'the action cannot read /etc/shadow', er and er.result)
    secret = os.path.join(t, 'secret.txt')
    with open(secret, 'w') as f:
        f.write('secret\n')
    os.chmod(secret, 0o600)
    adig = action(c, ['sh', '-c', 'ln %s hard.txt 2>/dev/null; '
                      'ln -s %s soft.txt; true' % (secret, secret)],
                  outputs=['hard.txt', 'soft.txt'])
    _, er, err = execute(c, adig)
    check(er is not None and not er.result.output_files,
          'outputs linked to unreadable files are not collected',
          er and er.result.output_files)


def t_timeout(c):
    mark = '%d.%03d' % (100 + os.getpid() % 100, os.getpid() % 1000)
    adig = action(c, ['sh', '-c', 'sleep %s & sleep %s; echo never' % (mark,
                                                                       mark)],
                  timeout=1)
    t0 = time.time()
    _, er, err = execute(c, adig, timeout=30)
    took = time.time() - t0
    check(er is not None and er.status.code == 4,
          'timeout: DEADLINE_EXCEEDED', err or (er and er.status))
    # the action sleeps 100 s: well under that proves the kill (not a
    # timing goal; the machine may be loaded)
    check(took < 60, 'timeout: the action was killed, not waited for', took)
    left = wait_until(lambda: not procs_matching(r'^sleep %s$' % mark), 3)
    check(left, 'timeout: no sleep process left',
          procs_matching(r'^sleep %s$' % mark))
    code, _ = grpc_code(lambda: c.ac.GetActionResult(
        P.re.GetActionResultRequest(action_digest=adig), timeout=10))
    check(code == grpc.StatusCode.NOT_FOUND, 'timeout: not cached', code)


def t_escaped(c):
    """Descendants that leave the action's process group (a session of
    their own) are killed when the action ends."""
    mark = '%d.%03d' % (200 + os.getpid() % 100, os.getpid() % 1000)
    # the action ends once the sleeper is in its own session for sure
    adig = action(c, ['sh', '-c', 'setsid sh -c "touch ready; exec sleep %s"'
                      ' >/dev/null 2>&1 & until [ -e ready ]; do sleep 0.01;'
                      ' done; echo started' % mark], do_not_cache=True)
    _, er, err = execute(c, adig, timeout=30)
    check(er is not None and er.result.exit_code == 0,
          'escaped: the action ends', err or er)
    left = wait_until(lambda: not procs_matching(r'^sleep %s$' % mark), 3)
    check(left, 'escaped: no process of another session left',
          procs_matching(r'^sleep %s$' % mark))


def t_kill(c):
    pid = executor_pid()
    check(pid is not None, 'kill: executor pid on the status page', pid)
    if pid is None:
        return
    mark = '%d.%03d' % (200 + os.getpid() % 100, os.getpid() % 1000)
    adig = action(c, ['sh', '-c', 'sleep %s; echo late' % mark],
                  do_not_cache=True)
    box = {}
    started = threading.Event()

    def run():
        ops = []
        try:
            for op in c.exe.Execute(P.re.ExecuteRequest(action_digest=adig),
                                    timeout=60):
                ops.append(op)
                if not op.done and stage_of(op) == 3:
                    started.set()
            box['result'] = ('ok', ops)
        except grpc.RpcError as e:
            box['result'] = (e.code(), ops)
        started.set()
    th = threading.Thread(target=run)
    th.start()
    check(started.wait(15) and
          wait_until(lambda: procs_matching(r'^sleep %s$' % mark), 5),
          'kill: action running', box.get('result'))
    os.kill(pid, signal.SIGKILL)
    th.join(20)
    res = box.get('result')
    check(not th.is_alive() and res is not None and res[0] != 'ok',
          'kill: the in-flight Execute fails, does not hang',
          res and res[0])
    check(res is not None and res[0] in (grpc.StatusCode.UNAVAILABLE,
                                         grpc.StatusCode.CANCELLED,
                                         grpc.StatusCode.INTERNAL,
                                         grpc.StatusCode.UNKNOWN),
          'kill: with UNAVAILABLE or similar', res and res[0])
    new = wait_until(lambda: (executor_pid() not in (None, pid))
                     and executor_pid(), 15)
    check(new, 'kill: the master started a new executor', (pid, new))
    sc = None
    for _ in range(100):
        try:
            sc = Client(ARGS.target).caps.GetCapabilities(
                P.re.GetCapabilitiesRequest(), timeout=2)
            break
        except grpc.RpcError:
            time.sleep(0.1)
    check(sc is not None and sc.execution_capabilities.exec_enabled,
          'kill: the new executor serves')
    left = wait_until(lambda: not procs_matching(r'^sleep %s$' % mark), 5)
    check(left, "kill: the killed executor's action is gone",
          procs_matching(r'^sleep %s$' % mark))
    c2 = Client(ARGS.target)
    adig = action(c2, ['sh', '-c', 'echo again'], do_not_cache=True,
                  salt=uuid.uuid4().bytes)
    _, er, err = execute(c2, adig)
    check(er is not None and stdout_of(c2, er.result) == b'again\n',
          'kill: actions run again', err)


def suite_isolation(c):
    t_paths(c)
    t_escape(c)
    t_timeout(c)
    t_escaped(c)
    t_kill(c)


def suite_sandbox_missing(c):
    adig = action(c, ['true'], do_not_cache=True)
    _, er, err = execute(c, adig)
    check(er is not None and er.status.code == 9 and
          'not installed' in er.status.message,
          'sandbox missing: FAILED_PRECONDITION', err or er)


def suite_sandbox(c):
    tmp = '/tmp/rx-bwrap-%s' % uuid.uuid4().hex
    opendir = os.path.join(ARGS.testdir, 'open')
    os.makedirs(opendir, exist_ok=True)
    os.chmod(opendir, 0o777)    # writable by anybody, but not in bwrap
    root, blobs = directory(files=[('in.txt', b'sandboxed\n', False)])
    adig = action(c, ['sh', '-c', 'cat in.txt > out.txt; echo private > %s; '
                      'touch %s/bwrap-escape 2>/dev/null; cat %s out.txt'
                      % (tmp, opendir, tmp)], root, blobs,
                  outputs=['out.txt'], do_not_cache=True)
    _, er, err = execute(c, adig)
    check(er is not None and er.status.code == 0 and er.result.exit_code == 0
          and stdout_of(c, er.result) == b'private\nsandboxed\n' and
          [f.path for f in er.result.output_files] == ['out.txt'] and
          not os.path.exists(tmp),
          'bwrap: the action runs with a private /tmp',
          err or (er and (er.result, stderr_of(c, er.result))))
    check(not os.path.exists(os.path.join(opendir, 'bwrap-escape')),
          'bwrap: / is read-only, even where the user may write')
    # of the server's files the action sees its own input root only
    srv = ARGS.server_dir or ARGS.testdir
    probe = ('import os, socket\n'
             's = socket.socket(socket.AF_UNIX)\n'
             'try:\n'
             '    s.connect(%r)\n'
             '    print("socket reachable")\n'
             'except OSError:\n'
             '    print("socket hidden")\n'
             'for d in %r:\n'
             '    try:\n'
             '        seen = bool(os.listdir(d))\n'
             '    except FileNotFoundError:\n'
             '        seen = False\n'
             '    except OSError:\n'
             '        seen = True\n'  # there, only not readable
             '    print(d, "visible" if seen else "hidden")\n'
             % (os.path.join(srv, 'executor.sock'),
                [os.path.join(srv, 'executor', 'cas'),
                 os.path.join(srv, 'executor', 'ac'),
                 os.path.join(srv, 'files')]))
    adig = action(c, ['/usr/bin/python3', '-c', probe], do_not_cache=True)
    _, er, err = execute(c, adig)
    out = stdout_of(c, er.result).decode() if er is not None else ''
    check(er is not None and er.result.exit_code == 0
          and out.count('hidden') == 4 and 'visible' not in out,
          'bwrap: the executor socket, CAS, action cache and file store '
          'are out of sight', err or out)


def suite_persist(c):
    data = b'kept across restarts\n'
    adig = action(c, ['sh', '-c', 'echo persist; cp in.txt out.txt'],
                  *directory(files=[('in.txt', data, False)]),
                  outputs=['out.txt'])
    _, er, err = execute(c, adig)
    want = ARGS.cached == 'yes'
    check(er is not None and er.cached_result == want and
          er.result.exit_code == 0 and
          [c.read(f.digest) for f in er.result.output_files] == [data],
          'persist: cached_result %s' % want, err or er)


def suite_reload(c):
    """An action in flight while the master reloads: the old executor
    finishes it (graceful QUIT) and the new one serves new calls."""
    adig = action(c, ['sh', '-c', 'sleep 1; echo finished'],
                  do_not_cache=True, salt=uuid.uuid4().bytes)
    box = {}
    started = threading.Event()

    def run():
        ops = []
        try:
            for op in c.exe.Execute(P.re.ExecuteRequest(action_digest=adig),
                                    timeout=30):
                ops.append(op)
                if not op.done and stage_of(op) == 3:
                    started.set()
            box['r'] = response_of(ops)
        except grpc.RpcError as e:
            box['r'] = e.code()
        started.set()
    th = threading.Thread(target=run)
    th.start()
    started.wait(15)
    os.kill(ARGS.master, signal.SIGHUP)
    th.join(30)
    r = box.get('r')
    check(not th.is_alive() and isinstance(r, P.re.ExecuteResponse) and
          r.status.code == 0 and stdout_of(c, r.result) == b'finished\n',
          'reload: the action in flight completes', r)
    ok = False
    for _ in range(100):
        try:
            c2 = Client(ARGS.target)
            ok = c2.caps.GetCapabilities(P.re.GetCapabilitiesRequest(),
                                         timeout=2).execution_capabilities \
                .exec_enabled
            break
        except grpc.RpcError:
            time.sleep(0.1)
    check(ok, 'reload: new calls are served')


EVICT_SEED = b'evict test blob %d '


def evict_blobs():
    return [(EVICT_SEED % i).ljust(20000, b'.') for i in range(8)]


def suite_evict_fill(c):
    """executor.max_size 100k: 8 blobs of 20 kB, the first used again after
    each upload, so that whenever the eviction runs it is never the least
    recently used."""
    blobs = evict_blobs()
    for b in blobs:
        c.upload([b])
        c.missing([dig(blobs[0])])
    check(c.missing([dig(blobs[0])]) == set(), 'evict: blobs stored')


def suite_evict_check(c):
    """After the eviction: the least recently used blobs went."""
    blobs = evict_blobs()
    miss = c.missing([dig(b) for b in blobs])
    kept = [i for i, b in enumerate(blobs) if sha(b) not in miss]
    check(sum(len(blobs[i]) for i in kept) <= 100 * 1024,
          'evict: the CAS is kept under max_size', kept)
    check(kept == [0, 5, 6, 7], 'evict: least recently used blobs went '
          'first', kept)


def evict_results():
    return [(dig(b'evict test action %d' % i),
             P.re.ActionResult(exit_code=0,
                               stdout_raw=(b'%d' % i).ljust(20000, b'.')))
            for i in range(8)]


def get_result(c, key):
    code, r = grpc_code(lambda: c.ac.GetActionResult(
        P.re.GetActionResultRequest(action_digest=key), timeout=10))
    return r if code == grpc.StatusCode.OK else None


def suite_evict_ac_fill(c):
    """Action results count against executor.max_size too: 8 results of
    20 kB, the first read again after each write."""
    results = evict_results()
    for key, r in results:
        c.ac.UpdateActionResult(P.re.UpdateActionResultRequest(
            action_digest=key, action_result=r), timeout=10)
        get_result(c, results[0][0])
    r = get_result(c, results[0][0])
    check(r is not None and r.stdout_raw == results[0][1].stdout_raw,
          'evict ac: results stored')


def suite_evict_ac_check(c):
    """After the eviction: the least recently used results went, and the
    older blobs before them."""
    results = evict_results()
    kept = [i for i, (key, _) in enumerate(results)
            if get_result(c, key) is not None]
    check(kept == [0, 5, 6, 7], 'evict ac: least recently used results '
          'went first', kept)
    miss = c.missing([dig(b) for b in evict_blobs()])
    check(len(miss) == 8, 'evict ac: the older blobs went before them',
          len(miss))


def suite_term(c):
    """SIGTERM to the master (--master PID) with an action running: the
    call fails, the action's process group is killed."""
    mark = '%d.%03d' % (300 + os.getpid() % 100, os.getpid() % 1000)
    adig = action(c, ['sh', '-c', 'sleep %s & sleep %s' % (mark, mark)],
                  do_not_cache=True)
    box = {}

    def run():
        box['r'] = execute(c, adig, timeout=30)
    th = threading.Thread(target=run)
    th.start()
    check(wait_until(lambda: procs_matching(r'^sleep %s$' % mark), 10),
          'term: action running')
    os.kill(ARGS.master, signal.SIGTERM)
    th.join(20)
    r = box.get('r')
    check(not th.is_alive() and r is not None and r[2] is not None,
          'term: the in-flight Execute fails', r and r[1])
    check(wait_until(lambda: not procs_matching(r'^sleep %s$' % mark), 5),
          'term: the action was killed', procs_matching(r'^sleep %s$' % mark))


def main():
    global P, ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument('--target', required=True)
    ap.add_argument('--suite', default='grpc')
    ap.add_argument('--status-port', type=int, default=0)
    ap.add_argument('--testdir', default='')
    ap.add_argument('--server-dir', default='',
                    help='where executor.root, its socket and the file '
                    'store are, when not in --testdir')
    ap.add_argument('--jobs', type=int, default=2)
    ap.add_argument('--uid', type=int, default=65534)
    ap.add_argument('--cached', default='no')
    ap.add_argument('--master', type=int, default=0)
    ARGS = ap.parse_args()
    P, tmp = RS.load_stubs()
    try:
        c = Client(ARGS.target)
        grpc.channel_ready_future(c.ch).result(timeout=10)
        {'grpc': suite_grpc, 'isolation': suite_isolation,
         'sandbox-missing': suite_sandbox_missing,
         'sandbox': suite_sandbox,
         'persist': suite_persist,
         'reload': suite_reload,
         'term': suite_term,
         'evict-fill': suite_evict_fill,
         'evict-check': suite_evict_check,
         'evict-ac-fill': suite_evict_ac_fill,
         'evict-ac-check': suite_evict_ac_check}[ARGS.suite](c)
    except Exception:           # noqa: BLE001 - report, do not hang
        import traceback
        check(False, 'suite %s ran to the end' % ARGS.suite,
              traceback.format_exc())
    finally:
        if tmp:
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)
    print('1..%d' % N)
    sys.stdout.flush()
    os._exit(1 if FAILED else 0)


if __name__ == '__main__':
    main()
