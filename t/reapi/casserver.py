#!/usr/bin/python3
# -*- coding: utf-8 -*-
"""Run Debian's BuildStream CAS server on loopback for tests.

Debian 12 package python3-buildstream 1.6.8 ships the server as the module
buildstream._artifactcache.casserver (the `bst-artifact-server` console
script belongs to the separate `buildstream` package, and the module has no
__main__, so `python3 -m` does not work).  Its CLI entry point
server_main(--port N, --server-key/--server-cert/--client-certs,
--enable-push, --head-room-min/--head-room-max, REPO) always binds
"[::]:<port>" (all interfaces) and has no address option.  This wrapper
therefore calls the module's create_server(repo, enable_push=...,
min_head_size=..., max_head_size=...), which returns an unstarted
grpc.Server without any port, and binds it itself to a loopback address (or
a unix socket).

Services it offers (all in-process, a CAS directory on disk):
  build.bazel.remote.execution.v2.Capabilities   SHA256 only (in the old
      field 1 of CacheCapabilities), max_batch_total_size_bytes 1 MiB,
      symlink_absolute_path_strategy ALLOWED, api versions 2.0, no
      execution_capabilities, action_cache_update_capabilities.update_enabled
      false
  build.bazel.remote.execution.v2.ContentAddressableStorage
      FindMissingBlobs, BatchReadBlobs, BatchUpdateBlobs (sum of digest
      sizes > 1 MiB -> INVALID_ARGUMENT for the whole call)
  google.bytestream.ByteStream  Read (1 MiB chunks), Write
  buildstream.v2.ReferenceStorage (BuildStream's own)
  Not offered: ActionCache, Execution, GetTree (UNIMPLEMENTED).
Quirks: resource names must have NO instance name ("blobs/H/S",
"uploads/UUID4/blobs/H/S"; anything else -> NOT_FOUND on Read, Write);
the upload UUID must be version 4; Write requires write_offset continuity
and checks the hash on finish (FAILED_PRECONDITION otherwise).  A
BatchUpdateBlobs entry whose data does not match its digest (hash or size)
makes the whole call fail with UNKNOWN "Exception calling application:
<StatusCode.FAILED_PRECONDITION ...> has type StatusCode, but expected one
of: int" (a bug: it assigns the enum to Status.code); a hash-mismatched
blob is still stored under its real hash.  Read ignores read_limit (honours
read_offset).  Write of a blob that already exists is accepted normally
(no early answer).  The empty blob is not special: FindMissingBlobs reports
it missing until it is uploaded.
--enable-push is needed for any upload (else PERMISSION_DENIED); this
wrapper enables it unless --read-only.  Disk head room: the module refuses
uploads when the file system has less than min_head_size free (default
2e9); this wrapper passes 0 / 1 MiB unless told otherwise.

Usage: casserver.py [--listen 127.0.0.1:0 | --unix PATH] [--repo DIR]
           [--read-only] [--tls-cert C --tls-key K [--client-ca CA]]
           [--max-lifetime S]
Prints "PORT <n>" (or "UNIX <path>") and then "READY", flushed.  Exits on
SIGTERM/SIGINT, when stdin (a pipe/socket/tty) reaches EOF, and after
--max-lifetime seconds (default 900).  Without --repo a temporary CAS
directory is used and removed at exit.
"""

import argparse
import ipaddress
import os
import shutil
import signal
import stat
import sys
import tempfile
import threading


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--listen', default='127.0.0.1:0')
    p.add_argument('--unix')
    p.add_argument('--repo')
    p.add_argument('--read-only', action='store_true')
    p.add_argument('--head-room-min', type=int, default=0)
    p.add_argument('--head-room-max', type=int, default=1024 * 1024)
    p.add_argument('--tls-cert')
    p.add_argument('--tls-key')
    p.add_argument('--client-ca')
    p.add_argument('--max-lifetime', type=float, default=900.0)
    a = p.parse_args()
    host = a.listen.rpartition(':')[0].strip('[]')
    if not a.unix and host != 'localhost':
        try:
            if not ipaddress.ip_address(host).is_loopback:
                p.error('--listen must be a loopback address')
        except ValueError:
            p.error('--listen must be a loopback address')
    return a


def credentials(grpc, a):
    with open(a.tls_key, 'rb') as fp:
        key = fp.read()
    with open(a.tls_cert, 'rb') as fp:
        cert = fp.read()
    ca = None
    if a.client_ca:
        with open(a.client_ca, 'rb') as fp:
            ca = fp.read()
    return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca,
                                       require_client_auth=ca is not None)


def watch_stdin(stop):
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
        stop.set()
    threading.Thread(target=reader, daemon=True).start()


def main():
    a = parse_args()
    import grpc
    from buildstream._artifactcache import casserver
    tmp = None
    repo = a.repo
    if repo is None:
        tmp = repo = tempfile.mkdtemp(prefix='bst-cas-')
    try:
        server = casserver.create_server(
            repo, enable_push=not a.read_only,
            min_head_size=a.head_room_min, max_head_size=a.head_room_max)
        addr = 'unix:' + a.unix if a.unix else a.listen
        if a.tls_cert:
            port = server.add_secure_port(addr, credentials(grpc, a))
        else:
            port = server.add_insecure_port(addr)
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        server.start()
        print('UNIX %s' % a.unix if a.unix else 'PORT %d' % port)
        print('READY', flush=True)
        watch_stdin(stop)
        stop.wait(a.max_lifetime or None)
        server.stop(0).wait(5)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
