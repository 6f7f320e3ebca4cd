#!/usr/bin/perl
#
# Goma RPC compression (GOMA_PROTOCOL.md §3.2, §4, §7): request bodies in
# every form the client produces (gzip, "deflate" = zlib stream minus its
# header with or without the Adler-32 trailer, a zlib-headed deflate,
# identity), response bodies chosen by Accept-Encoding (gzip, raw deflate
# without zlib header or trailer, identity), the Accept-Encoding response
# header, and the failures: corrupt or unknown encodings -> 400 "bad
# request", a decompression bomb -> 413 with the worker alive.

use strict;
use warnings;
use Test::More;

use lib 't/lib';
use Test::Rx;
use Test::Rx::Goma;

my $t = Test::Rx->new;
goma_progs($t);
$t->write_config(<<'EOF');
listen: ["127.0.0.1:%%PORT_0%%"]
file_store: {path: files, index_entries: 1024}
EOF
$t->plan(84)->run;

my $port = $t->port(0);

# one stored blob, its LookupFileReq and the expected LookupFileResp, all
# from protoc
my $spec = { content => "#include <stdio.h>\n" x 200 . "\0\x01\x02\xff" };
my ($keys, $req, $sr) = store_blobs($port, $spec);
is_deeply($keys, $req->{keys}, 'blob stored');
my $L = lookup_req(@$keys);
my $E = pb_encode('LookupFileResp', 'blob { ' . blob_text(%$spec) . ' }');

###############################################################################
# request encodings

for my $case (
    [ 'gzip',                { enc => 'gzip' } ],
    [ 'deflate + Adler-32',  { enc => 'deflate' } ],
    [ 'deflate, no trailer', { enc => 'deflate-notrailer' } ],
    [ 'zlib-headed deflate', { enc => 'zlib' } ],
    [ 'no Content-Encoding', {} ],
    [ 'identity',            { content_encoding => 'identity' } ],
    [ 'x-gzip',              { enc => 'gzip', content_encoding => 'x-gzip' } ],
    [ 'deflate + garbage after the stream',
      { content_encoding => 'deflate',
        body => compress('deflate', $L) . "trailing junk" } ],
    )
{
    my ($name, $o) = @$case;
    my $body = delete $o->{body} // $L;
    my $r = rpc($port, 'l', $body, %$o, accept => 'identity');
    is($r && $r->{status}, 200, "request $name: 200");
    is($r && unpack('H*', $r->{raw}), unpack('H*', $E),
        "request $name: decoded (LookupFileResp as protoc encodes it)");
}

# two gzip members: decoded as their concatenation (a multistream reader)
{
    my $half = int(length($L) / 2);
    my $two = compress('gzip', substr($L, 0, $half))
        . compress('gzip', substr($L, $half));
    my $r = rpc($port, 'l', $two, content_encoding => 'gzip');
    is($r && $r->{raw}, $E, 'request in two gzip members');
}

# a real goma deflate body of a bigger message (raw deflate, many blocks)
{
    my @big = map { { content => "line $_ " x 5000 } } 1 .. 4;
    my $big = store_req(@big);
    my $r = rpc($port, 's', $big->{body}, enc => 'deflate',
        accept => 'deflate');
    is_deeply($r && parse_store_resp($r->{body}), $big->{keys},
        'StoreFile of 160 KB in goma deflate, answered in deflate');
}

###############################################################################
# response encodings, by the request's Accept-Encoding

for my $case (
    [ 'gzip',          'gzip',     'gzip, deflate' ],
    [ 'deflate',       'deflate',  'deflate' ],
    [ 'gzip,deflate',  'gzip',     'gzip, deflate' ],
    [ 'deflate, gzip', 'gzip',     'gzip, deflate' ],
    [ 'lzma2',         'identity', 'deflate' ],
    [ undef,           'identity', 'deflate' ],
    [ 'identity',      'identity', 'deflate' ],
    [ 'lzma2,deflate', 'deflate',  'deflate' ],
    )
{
    my ($ae, $want_ce, $want_ae) = @$case;
    my $name = defined $ae ? "Accept-Encoding $ae" : 'no Accept-Encoding';
    my $r = rpc($port, 'l', $L, enc => 'gzip', accept => $ae);
    is($r && $r->{headers}{'content-encoding'}, $want_ce,
        "$name: Content-Encoding $want_ce");
    is($r && $r->{body}, $E, "$name: body decodes to the LookupFileResp");
    is($r && $r->{headers}{'accept-encoding'}, $want_ae,
        "$name: Accept-Encoding: $want_ae");
    is($r && $r->{headers}{'content-type'}, 'binary/x-protocol-buffer',
        "$name: Content-Type");
}

# deflate answers are raw RFC 1951: no zlib header, no Adler-32 trailer
{
    my $r = rpc($port, 'l', $L, accept => 'deflate');
    my ($b0, $b1) = unpack 'C2', $r->{raw};
    ok(!(($b0 & 0x0f) == 8 && (($b0 << 8) | $b1) % 31 == 0),
        'deflate response does not start with a zlib header');
    ok(defined decompress('deflate', $r->{raw}),
        'deflate response is exactly one raw deflate stream');
    ok(!defined decompress('zlib', $r->{raw}),
        'deflate response is not a zlib stream');
    my $gz = rpc($port, 'l', $L, accept => 'gzip');
    is(substr($gz->{raw}, 0, 2), "\x1f\x8b",
        'gzip response has the gzip magic');
}

# ping advertises the same Accept-Encoding, never compresses
{
    my $p = rpc($port, 'ping', '', accept => 'gzip');
    is($p && "$p->{status} $p->{raw}", "200 ok\n", 'ping: ok');
    is($p && $p->{headers}{'accept-encoding'}, 'gzip, deflate',
        'ping with gzip: Accept-Encoding: gzip, deflate');
    ok($p && !exists $p->{headers}{'content-encoding'}, 'ping not compressed');
    $p = rpc($port, 'ping', '', accept => 'lzma2');
    is($p && $p->{headers}{'accept-encoding'}, 'deflate',
        'ping without gzip: Accept-Encoding: deflate');
}

###############################################################################
# undecodable bodies: 400 "bad request\n" as text/plain with nosniff and
# no Accept-Encoding (GOMA_PROTOCOL.md §3.2)

{
    my $gz = compress('gzip', $L);
    my $bad = $gz;
    substr($bad, 12, 8) = "\xff" x 8;
    my $df = compress('deflate', $L);
    for my $case (
        [ 'corrupt gzip', $bad, 'gzip' ],
        [ 'truncated gzip', substr($gz, 0, length($gz) - 10), 'gzip' ],
        [ 'gzip + garbage after it', $gz . 'garbage!', 'gzip' ],
        [ 'gzip header only', substr($gz, 0, 10), 'gzip' ],
        [ 'not gzip at all', $L, 'gzip' ],
        [ 'truncated deflate', substr($df, 0, 5), 'deflate' ],
        [ 'corrupt deflate', "\xff\xff\xff\xff" . $df, 'deflate' ],
        [ 'Content-Encoding br', $L, 'br' ],
        [ 'Content-Encoding compress', $L, 'compress' ],
        [ 'gzip of a bad LookupFileReq', compress('gzip', "\x0a\xff"), 'gzip' ],
        )
    {
        my ($name, $body, $ce) = @$case;
        my $r = rpc($port, 'l', $body, content_encoding => $ce,
            accept => 'gzip');
        is($r && "$r->{status} $r->{raw}", "400 bad request\n", "$name: 400");
        ok($r && $r->{headers}{'content-type'} eq 'text/plain; charset=utf-8'
            && ($r->{headers}{'x-content-type-options'} // '') eq 'nosniff'
            && !exists $r->{headers}{'accept-encoding'},
            "$name: text/plain, nosniff, no Accept-Encoding");
    }
}

###############################################################################
# decompression bombs: 413, the worker stays up

{
    my @w = $t->worker_pids;
    my $s = rpc_conn($port);
    my $r = rpc($s, 's', deflate_bomb(200, 'gzip'), content_encoding => 'gzip');
    is($r && $r->{status}, 413, '200 MB of zeros in ~200 KB gzip -> 413');
    $r = rpc(rpc_conn($port), 'l', deflate_bomb(65, 'deflate'),
        content_encoding => 'deflate');
    is($r && $r->{status}, 413, '65 MB in goma deflate -> 413');
    $r = rpc(rpc_conn($port), 'l', compress('gzip', $L),
        content_encoding => 'gzip', accept => 'gzip');
    is($r && $r->{body}, $E, 'next request OK');
    is_deeply([ $t->worker_pids ], \@w, 'same worker pids');
    ok($t->wait_for_log(qr/decoded body too large/, 1),
        'the error log says why');
}
