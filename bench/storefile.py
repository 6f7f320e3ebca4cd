#!/usr/bin/python3
"""bench/run storefile helper: builds the request bodies with python3-protobuf
stubs of t/proto/goma_wire.proto (independent of the C code), posts them on
keep-alive connections with pre-built bytes, and times hashing.

    storefile.py build stubs=DIR out=DIR blobs=N per_req=4 level=3
    storefile.py post port=P path=/cxx-compiler-service/s files=GLOB
                 encoding=gzip|identity accept=gzip|identity concurrency=C
                 pids=PID,... [verify=store|lookup stubs=DIR keys=FILE]
    storefile.py hash stubs=DIR dir=DATA reps=N
    storefile.py report dir=OUT data=DATA rounds=N reps=N

Each prints one JSON object (report: the summary, then a "KV" line)."""
import glob, gzip, hashlib, json, os, socket, sys, threading, time

CHUNK = 2 * 1024 * 1024


def stubs(d):
    sys.path.insert(0, d)
    import goma_wire_pb2
    return goma_wire_pb2


def sources(limit):
    """distinct 2 MiB slices of the machine's shared/static libraries"""
    seen, out = set(), []
    files = glob.glob('/usr/lib/x86_64-linux-gnu/*.so*')
    files += glob.glob('/usr/lib/x86_64-linux-gnu/*.a')
    for f in sorted(set(files)):
        try:
            st = os.stat(f)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen or st.st_size < CHUNK:
            continue
        seen.add((st.st_dev, st.st_ino))
        out.append(f)
    # round robin over the files, a slice each turn: a mix of libraries
    todo = [[f, os.stat(f).st_size // CHUNK, 0] for f in out]
    blobs, digests, used = [], set(), {}
    while todo and len(blobs) < limit:
        for t in list(todo):
            f, n, k = t
            if k == n or len(blobs) == limit:
                todo.remove(t)
                continue
            t[2] += 1
            with open(f, 'rb') as fh:  # spread over the file
                fh.seek((k * 7919 % n) * CHUNK)
                c = fh.read(CHUNK)
            d = hashlib.sha256(c).digest()
            if len(c) != CHUNK or d in digests:
                continue
            digests.add(d)
            blobs.append(c)
            used[f] = used.get(f, 0) + 1
    if len(blobs) == limit:
        return blobs, sorted(used.items())
    raise SystemExit('storefile: only %d distinct 2 MiB slices of '
                     '/usr/lib/x86_64-linux-gnu/*.so/*.a, %d wanted'
                     % (len(blobs), limit))


def cmd_build(a):
    pb = stubs(a['stubs'])
    n, per, out = int(a['blobs']), int(a['per_req']), a['out']
    level = int(a['level'])
    chunks, used = sources(n)
    os.makedirs(out, exist_ok=True)
    keys, raws = [], []
    info = pb.RequesterInfo(addr='127.0.0.1', username='bench',
                            compiler_proxy_id='bench-storefile', pid=1,
                            goma_revision='0' * 40, build_id='bench')
    for i, c in enumerate(chunks):
        # chunks of consecutive 8 MiB "files", as the client splits them
        b = pb.FileBlob(blob_type=pb.FileBlob.FILE_CHUNK,
                        offset=(i % per) * CHUNK, content=c, file_size=len(c))
        raw = b.SerializeToString()
        raws.append(raw)
        keys.append(hashlib.sha256(raw).hexdigest())
    sizes = {'id': 0, 'gz': 0}
    nreq = 0
    for r in range(0, n, per):
        req = pb.StoreFileReq(requester_info=info)
        for raw in raws[r:r + per]:
            req.blob.add().ParseFromString(raw)
        body = req.SerializeToString()
        assert all(raw in body for raw in raws[r:r + per])
        gz = gzip.compress(body, compresslevel=level, mtime=0)
        for ext, data in (('id', body), ('gz', gz)):
            with open('%s/s%03d.%s' % (out, nreq, ext), 'wb') as f:
                f.write(data)
            sizes[ext] += len(data)
        nreq += 1
    nl = 0
    for r in range(0, n, 5):
        req = pb.LookupFileReq(hash_key=keys[r:r + 5], requester_info=info)
        with open('%s/l%03d.gz' % (out, nl), 'wb') as f:
            f.write(gzip.compress(req.SerializeToString(), compresslevel=level,
                                  mtime=0))
        nl += 1
    with open(out + '/keys.txt', 'w') as f:
        f.write('\n'.join(keys) + '\n')
    meta = {'blobs': n, 'per_req': per, 'store_requests': nreq,
            'lookup_requests': nl, 'content_bytes': sum(map(len, chunks)),
            'blob_bytes': sum(map(len, raws)), 'identity_bytes': sizes['id'],
            'gzip_bytes': sizes['gz'], 'level': level,
            'sources': ['%s:%d' % u for u in used]}
    with open(out + '/meta.json', 'w') as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta))


def server_ns(pids):
    """CPU time (ns) each server process ran: /proc/PID/schedstat"""
    t = {}
    for p in pids:
        try:
            with open('/proc/%s/schedstat' % p) as f:
                t[p] = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            try:
                with open('/proc/%s/stat' % p) as f:
                    s = f.read().rsplit(')', 1)[1].split()
                t[p] = (int(s[11]) + int(s[12])) * 10 ** 9 // \
                    os.sysconf('SC_CLK_TCK')
            except (OSError, ValueError, IndexError):
                t[p] = 0
    return t


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(('127.0.0.1', port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray(1 << 16)
        self.extra = b''

    def recv_head(self):
        data = self.extra
        while b'\r\n\r\n' not in data:
            n = self.s.recv_into(self.buf)
            if n == 0:
                raise IOError('connection closed by the server')
            data += bytes(self.buf[:n])
        head, rest = data.split(b'\r\n\r\n', 1)
        return head.decode('latin-1'), rest

    def call(self, req):
        self.s.sendall(req)
        head, rest = self.recv_head()
        lines = head.split('\r\n')
        status = int(lines[0].split()[1])
        hdr = {}
        for l in lines[1:]:
            k, _, v = l.partition(':')
            hdr[k.strip().lower()] = v.strip()
        n = int(hdr.get('content-length', '-1'))
        if n < 0:
            raise IOError('response without Content-Length: ' + lines[0])
        body = bytearray(n)
        view = memoryview(body)
        got = min(len(rest), n)
        view[:got] = rest[:got]
        self.extra = rest[got:]
        while got < n:
            k = self.s.recv_into(view[got:])
            if k == 0:
                raise IOError('connection closed mid-body')
            got += k
        return status, hdr, body


def cmd_post(a):
    port, path, conc = int(a['port']), a['path'], int(a['concurrency'])
    files = sorted(glob.glob(a['files']))
    if not files:
        raise SystemExit('storefile: no files match ' + a['files'])
    reqs, up = [], 0
    for fn in files:
        with open(fn, 'rb') as f:
            body = f.read()
        h = ('POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n'
             'User-Agent: compiler-proxy built by bench at 0@0 on -\r\n'
             'Content-Type: binary/x-protocol-buffer\r\n'
             'Content-Length: %d\r\n' % (path, len(body)))
        if a['encoding'] != 'identity':
            h += 'Content-Encoding: %s\r\n' % a['encoding']
        h += 'Accept-Encoding: %s\r\n\r\n' % a['accept']
        reqs.append(h.encode() + body)
        up += len(body)
    pids = a['pids'].split(',') if a.get('pids') else []
    conns = [Conn(port) for _ in range(min(conc, len(reqs)))]
    results = [None] * len(reqs)
    lock = threading.Lock()
    nxt = [0]
    errors = []
    start = threading.Barrier(len(conns) + 1)

    def run(c):
        start.wait()
        try:
            while True:
                with lock:
                    i = nxt[0]
                    nxt[0] += 1
                if i >= len(reqs):
                    return
                results[i] = c.call(reqs[i])
        except Exception as e:  # reported below
            errors.append(repr(e))

    ths = [threading.Thread(target=run, args=(c,)) for c in conns]
    for t in ths:
        t.start()
    s0, c0 = server_ns(pids), time.process_time()
    t0 = time.perf_counter()
    start.wait()
    for t in ths:
        t.join()
    t1 = time.perf_counter()
    s1, c1 = server_ns(pids), time.process_time()
    for c in conns:
        c.s.close()
    if errors:
        raise SystemExit('storefile: %s: %s' % (path, errors[0]))
    down = sum(len(r[2]) for r in results)
    bad = [r[0] for r in results if r[0] != 200]
    if bad:
        raise SystemExit('storefile: %s: HTTP status %s (%d of %d)'
                         % (path, bad[0], len(bad), len(results)))
    check = verify(a, results) if a.get('verify') else 'not checked'
    print(json.dumps({'path': path, 'requests': len(reqs),
                      'connections': len(conns), 'encoding': a['encoding'],
                      'accept': a['accept'], 'wall_s': t1 - t0,
                      'server_cpu_s': sum(s1.values()) / 1e9
                      - sum(s0.values()) / 1e9,
                      'server_cpu_by_pid': [(s1[p] - s0[p]) / 1e9
                                            for p in pids],
                      'client_cpu_s': c1 - c0, 'up_bytes': up,
                      'down_bytes': down, 'check': check}))


def verify(a, results):
    pb = stubs(a['stubs'])
    with open(a['keys']) as f:
        keys = f.read().split()
    got = []
    for status, hdr, body in results:
        body = bytes(body)
        enc = hdr.get('content-encoding', '')
        if enc == 'gzip':
            body = gzip.decompress(body)
        elif enc not in ('', 'identity'):
            raise SystemExit('storefile: unexpected Content-Encoding ' + enc)
        if a['verify'] == 'store':
            m = pb.StoreFileResp.FromString(body)
            got += list(m.hash_key)
        else:
            m = pb.LookupFileResp.FromString(body)
            for b in m.blob:
                if b.blob_type != pb.FileBlob.FILE_CHUNK:
                    got.append('missing')
                else:
                    got.append(hashlib.sha256(b.SerializeToString())
                               .hexdigest())
    if got != keys:
        diff = sum(1 for x, y in zip(got, keys) if x != y)
        raise SystemExit('storefile: %s: %d answer(s) of %d do not match the '
                         'keys (%d expected)' % (a['verify'], diff, len(got),
                                                 len(keys)))
    return 'ok %d keys' % len(keys)


def cmd_hash(a):
    """sha256 of the FileBlob bytes the server hashes, in one stream, best
    of reps (hashlib: OpenSSL's EVP sha256, as the server's rx_sha256)"""
    pb = stubs(a['stubs'])
    blobs = []
    for fn in sorted(glob.glob(a['dir'] + '/s*.id')):
        with open(fn, 'rb') as f:
            req = pb.StoreFileReq.FromString(f.read())
        blobs += [b.SerializeToString() for b in req.blob]
    best_h = None
    for _ in range(int(a['reps'])):
        t0 = time.perf_counter()
        for b in blobs:
            hashlib.sha256(b).digest()
        best_h = min(best_h or 1e9, time.perf_counter() - t0)
    print(json.dumps({'sha256_s': best_h, 'bytes': sum(map(len, blobs))}))


def best(d, phase, key):
    v = [r[key] for r in d.get(phase, [])]
    return min(v) if v else None


def cmd_report(a):
    """best of rounds per phase, the cost split, the baseline and the goal"""
    with open(a['data'] + '/meta.json') as f:
        meta = json.load(f)
    with open(a['dir'] + '/hash.json') as f:
        hsh = json.load(f)
    d = {}
    for fn in sorted(glob.glob(a['dir'] + '/*-r*.json')):
        with open(fn) as f:
            d.setdefault(os.path.basename(fn).rsplit('-r', 1)[0],
                         []).append(json.load(f))
    base = {}
    with open(a['dir'] + '/baseline.txt') as f:
        for line in f:
            w = line.split()
            t = base.setdefault(w[0], [1e9, 1e9])
            t[0] = min(t[0], float(w[1]))
            t[1] = min(t[1], float(w[2]) + float(w[3]))
    mb = meta['content_bytes'] / 1e6
    W = lambda p: best(d, p, 'wall_s')
    C = lambda p: best(d, p, 'server_cpu_s')
    K = lambda p: best(d, p, 'client_cpu_s')
    out = []
    p = out.append
    p('storefile: %d FILE_CHUNK blobs of 2 MiB (%.1f MB of content), %d '
      'StoreFileReq of %d blobs: %.1f MB identity, %.1f MB gzip -%d (%.2fx)'
      % (meta['blobs'], mb, meta['store_requests'], meta['per_req'],
         meta['identity_bytes'] / 1e6, meta['gzip_bytes'] / 1e6,
         meta['level'], meta['identity_bytes'] / meta['gzip_bytes']))
    p('storefile: best of %s round(s); MB = 10^6 bytes of blob content; '
      'server CPU = master + workers (/proc/PID/schedstat)' % a['rounds'])
    names = [('store_gz', 'StoreFile  gzip body    '),
             ('store_id', 'StoreFile  identity body'),
             ('lookup_gz', 'LookupFile Accept gzip   '),
             ('lookup_id', 'LookupFile Accept ident. '),
             ('ping_id', 'ping with the id. bodies '),
             ('sl_id', 'SaveLog    identity body'),
             ('sl_gz', 'SaveLog    gzip body    ')]
    for k, label in names:
        if W(k) is None:
            continue
        p('storefile: %s %7.1f MB/s  wall %6.3f s  server CPU %6.3f s  '
          'client CPU %6.3f s' % (label, mb / W(k), W(k), C(k), K(k)))
    dec = C('store_gz') - C('store_id')
    dec2 = C('sl_gz') - C('sl_id')
    h = hsh['sha256_s']
    ovh = C('ping_id')
    store = C('store_id') - h - ovh
    copy = C('sl_id') - ovh
    tot = C('store_gz')
    pc = lambda x: 100.0 * x / tot if tot > 0 else 0
    p('storefile: split of StoreFile gzip, server CPU %.3f s:' % tot)
    p('storefile:   decompress %6.3f s (%4.1f%%) = store_gz - store_id '
      '[check: sl_gz - sl_id = %.3f s]' % (dec, pc(dec), dec2))
    p('storefile:   hash       %6.3f s (%4.1f%%) = sha256 of the %d FileBlob '
      'bytes, one stream (OpenSSL via hashlib)' % (h, pc(h), meta['blobs']))
    p('storefile:   overhead   %6.3f s (%4.1f%%) = ping_id: receiving the '
      'same identity bodies (HTTP, buffers), no RPC' % (ovh, pc(ovh)))
    p('storefile:   store      %6.3f s (%4.1f%%) = store_id - hash - '
      'overhead (FileBlob unpack, tmpfs write, index, answer)'
      % (store, pc(store)))
    p('storefile:     of which protobuf-c unpack copy ~%.3f s = sl_id - '
      'ping_id' % copy)
    bw, bc = base['pipe']
    gw, gc = base.get('gunzip', (0, 0))
    sw, sc = base.get('sha256sum', (0, 0))
    p('storefile: baseline cat *.gz | gzip -dc | sha256sum: wall %.3f s, '
      'CPU %.3f s (best of %s)' % (bw, bc, a['reps']))
    p('storefile:   alone: gzip -dc %.3f s wall, %.3f s CPU; sha256sum of '
      'the identity bodies %.3f s wall, %.3f s CPU' % (gw, gc, sw, sc))
    fast = min(d['store_gz'], key=lambda r: r['wall_s'])
    used = sum(1 for x in fast['server_cpu_by_pid']
               if x > 0.1 * fast['server_cpu_s'])
    p('storefile: the fastest StoreFile gzip round kept %d server process(es) '
      'busy (the %d connections are accepted by whichever worker wakes up; '
      'one worker alone doubles the wall time on 2 CPUs)'
      % (used, fast['connections']))
    ratio = W('store_gz') / bw
    cratio = tot / bc
    met = ratio <= 2.0
    p('storefile: StoreFile gzip wall %.3f s vs baseline %.3f s: ratio %.2f '
      '(server CPU %.3f s vs %.3f s: %.2f)'
      % (W('store_gz'), bw, ratio, tot, bc, cratio))
    p('storefile: goal: <= 2.0 (%s)' % ('met' if met else 'not-met'))
    kv = [('store_mbps', mb / W('store_gz')),
          ('store_identity_mbps', mb / W('store_id')),
          ('lookup_gzip_mbps', mb / W('lookup_gz')),
          ('lookup_identity_mbps', mb / W('lookup_id')),
          ('store_s', W('store_gz')), ('baseline_s', bw), ('ratio', ratio),
          ('store_cpu_s', tot), ('baseline_cpu_s', bc),
          ('cpu_ratio', cratio), ('decompress_s', dec), ('hash_s', h),
          ('overhead_s', ovh), ('store_only_s', store),
          ('lookup_gzip_cpu_s', C('lookup_gz')),
          ('lookup_identity_cpu_s', C('lookup_id')),
          ('busy_workers', used)]
    with open(a['dir'] + '/summary.txt', 'w') as f:
        f.write('\n'.join(out) + '\n')
    print('\n'.join(out))
    fmt = lambda k, v: ('%s=%.3f' if isinstance(v, float) else '%s=%d') % (k, v)
    print('KV %s %s' % ('met' if met else 'not-met',
                        ' '.join(fmt(k, v) for k, v in kv)))


def main():
    a = dict(x.split('=', 1) for x in sys.argv[2:])
    {'build': cmd_build, 'post': cmd_post, 'hash': cmd_hash,
     'report': cmd_report}[sys.argv[1]](a)


main()
