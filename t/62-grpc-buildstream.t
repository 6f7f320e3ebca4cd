#!/usr/bin/perl
#
# The REAPI client (src/rpc/rx_grpc*.c, rx_reapi*.c) against a CAS server
# we did not write: Debian's BuildStream CAS server, run on loopback by
# t/reapi/casserver.py.  Its batch limit is 1 MiB, so uploads split into
# several BatchUpdateBlobs calls and a 3 MiB blob goes by ByteStream.Write;
# it reports the empty blob missing until it is uploaded.  The C side is
# $RX_OBJS/unit/reapi_tool (t/unit/reapi_tool.c); its TAP lines become
# tests here.
#
# TEST_RX_VALGRIND=1 runs reapi_tool under valgrind --leak-check=full.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use Test::Rx::Reapi qw(missing tool);

my $why = missing(qw(tool grpc buildstream));
plan skip_all => $why if $why;

my $dir = tempdir('rx-bst-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $cas = Test::Rx::Reapi->start(dir => $dir, kind => 'cas',
    args => ['--repo', "$dir/cas"]);
BAIL_OUT('casserver.py did not start') unless $cas;
my $port = $cas->port;

my $conf = "$dir/bst.yaml";
open my $fh, '>', $conf or die "$conf: $!";
print {$fh} "backend:\n  address: 127.0.0.1:$port\n  insecure: on\n";
close $fh or die "$conf: $!";

tool($conf,
    'caps:label=GetCapabilities,max_batch=1048576,exec=0',
    'find:label=FindMissingBlobs%20of%20unknown%20blobs,n=50',
    # 400 KB each: two per 1 MiB batch, so three BatchUpdateBlobs calls
    'upload:label=five%20400%20KB%20blobs,blobs=5x400000,batches_min=3,'
        . 'writes=0',
    'upload:label=a%203%20MiB%20blob,blobs=1x3145728,writes=1',
    'upload:label=small%20and%20large%20together,'
        . 'blobs=20x30000+2x1500000,batches_min=1,writes=2',
    # BuildStream does not special-case the empty blob
    'upload:label=the%20empty%20blob,blobs=1x0,expect_missing=1',
    'call:label=no%20action%20cache,method=GetActionResult,'
        . 'code=UNIMPLEMENTED,max_attempts=1');

ok($cas->running, 'casserver.py still running')
    or diag('casserver.py exited with status ' . ($cas->status >> 8) . ":\n"
        . $cas->err_text);

done_testing();
