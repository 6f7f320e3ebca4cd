#!/usr/bin/perl
#
# Goma FileService and LogService (GOMA_PROTOCOL.md §2, §8.1, §8.12-8.14,
# §10.3; REMOTEEXEC.md §4): StoreFile answers the sha256 of the exact
# FileBlob bytes the client sent, one key per blob and "" for refused ones;
# LookupFile returns the stored bytes unchanged, FILE_UNSPECIFIED for
# unknown or malformed keys; blobs stored through one worker are found
# through the other; SaveLog answers an empty 200; routing errors.
#
# Request bodies come from Debian's protoc (t/proto/goma_wire.proto), never
# from our own encoder.

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
file_store: {path: files, index_entries: 4096}
EOF
$t->plan(76)->run;

my $port = $t->port(0);
my $MISSING = "\x08\x00";    # FileBlob{blob_type: FILE_UNSPECIFIED}
my $CHUNK = 2 * 1024 * 1024;

# the request as the independent encoder builds it
sub blobs_of { return @{ store_req(@_)->{blobs} } }

# A FileBlob is stored: lookup gives back these exact bytes.
sub found {
    my ($where, $req) = @_;
    my ($got) = lookup_keys($where, @{ $req->{keys} });
    return 0 unless $got && @$got == @{ $req->{blobs} };
    for my $i (0 .. $#$got) {
        return 0 unless $got->[$i] eq $req->{blobs}[$i];
    }
    return 1;
}

sub store_dir_usage {
    my ($n, $bytes) = (0, 0);
    for (glob $t->testdir . '/files/[0-9a-f][0-9a-f]/*') {
        $n++;
        $bytes += -s $_;
    }
    my @tmp = glob $t->testdir . '/files/tmp/*';
    return "$n files, $bytes bytes, " . scalar(@tmp) . ' temp files';
}

# the pid of the worker that logged the newest "probe" line
sub probe_pid {
    my $log = $t->read_file($t->error_log);
    my @p = $log =~ /\[info\] (\d+): StoreFile: invalid blob_type refused/g;
    return $p[-1];
}

# SIGSTOP and wait until the worker is really stopped: before that it may
# still take a new connection off the listen socket (EPOLLEXCLUSIVE wakes
# only one worker) and keep it while stopped.
sub pause_worker {
    my ($pid) = @_;
    kill 'STOP', $pid;
    return $t->wait_for(sub {
        open my $fh, '<', "/proc/$pid/stat" or return 0;
        my $st = <$fh> // '';
        return $st =~ /\)\s+([Tt])\s/ ? 1 : 0;
    }, 5);
}

# A StoreFile with one refused blob: the serving worker logs its pid.
sub probe {
    my ($sock) = @_;
    my $req = store_req({ content => 'probe' }, { type => 'FILE_UNSPECIFIED' });
    my $r = rpc($sock, 's', $req->{body});
    return $r && $r->{status} == 200 ? probe_pid() : undef;
}

###############################################################################
# the encoder itself: the blobs split out of protoc's StoreFileReq are the
# bytes protoc encodes for a lone FileBlob

{
    my $spec = { content => "a\0b\xff\n\"\\", file_size => 8 };
    my $alone = pb_encode('FileBlob', blob_text(%$spec));
    my ($split) = blobs_of($spec);
    is(unpack('H*', $split), unpack('H*', $alone),
        'encoder: FileBlob in a StoreFileReq = protoc --encode=FileBlob');
}

###############################################################################
# valid blobs of every type: key = sha256 of the independently encoded blob

my $file = { content => "int main() { return 0; }\n" };
my $bin = { content => join('', map { chr } 0 .. 255) x 4 };
my $empty = { content => '', file_size => 0 };
my $chunk0 = { type => 'FILE_CHUNK', offset => 0, content => 'x' x 1000,
    file_size => 1000 };
my $chunk1 = { type => 'FILE_CHUNK', offset => 1000, content => 'y' x 10,
    file_size => 10 };
my $chunk_keys = store_req($chunk0, $chunk1)->{keys};
my $meta = { type => 'FILE_META', file_size => 1010,
    hash_keys => $chunk_keys };
my $ref = { type => 'FILE_REF', file_size => 25,
    hash_keys => [ store_req($file)->{keys}[0] ] };

my @valid = ($file, $bin, $empty, $chunk0, $chunk1, $meta, $ref);
my ($keys, $req, $r) = store_blobs($port, @valid);
is($r && $r->{status}, 200, 'StoreFile of valid blobs: 200');
is_deeply($keys, $req->{keys},
    'StoreFile keys are sha256 of the protoc-encoded blobs, in order');
like($keys && $keys->[0], qr/^[0-9a-f]{64}\z/, 'keys are lower-case hex');
ok(found($port, $req), 'LookupFile returns every blob byte-identical');

{
    my ($got, $lr) = lookup_keys($port, @{ $req->{keys} });
    my $expect = pb_encode('LookupFileResp',
        join("\n", map { 'blob { ' . blob_text(%$_) . ' }' } @valid));
    is(unpack('H*', $lr->{body}), unpack('H*', $expect),
        'LookupFileResp equals protoc --encode of the same blobs');
    is_deeply(lookup_resp_types($lr->{body}),
        [qw(FILE FILE FILE FILE_CHUNK FILE_CHUNK FILE_META FILE_REF)],
        'protoc decodes the blob types');
}

###############################################################################
# across workers: stop one worker, store through the other; then the other
# way round (fresh connections each time)

my @w = $t->worker_pids;
is(scalar @w, 2, 'two workers');
END { kill 'CONT', @w if @w }    # never leave a stopped worker behind

SKIP: {
    skip 'need two workers', 8 unless @w == 2;

    pause_worker($w[0]);
    my $s = rpc_conn($port);
    my $p1 = probe($s);
    my ($k1, $cross) =
        store_blobs($s, map { { content => "cross-worker $_\n" x 50 } } 1 .. 5);
    kill 'CONT', $w[0];
    is($p1, $w[1], 'stored through the second worker');
    is_deeply($k1, $cross->{keys}, 'keys from the second worker');

    pause_worker($w[1]);
    my ($p2, $ok) = (undef, 1);
    for (1 .. 5) {
        $s = rpc_conn($port);
        $p2 = probe($s);
        $ok &&= found($s, $cross);
    }
    kill 'CONT', $w[1];
    is($p2, $w[0], 'looked up through the first worker');
    ok($ok, 'blobs stored by one worker are found through the other');

    # and the first worker stores, the second finds
    pause_worker($w[1]);
    $s = rpc_conn($port);
    my $more = store_req({ content => 'from the first worker' });
    my $p3 = probe($s);
    my ($k3) = store_blobs($s, { content => 'from the first worker' });
    kill 'CONT', $w[1];
    pause_worker($w[0]);
    $s = rpc_conn($port);
    my $p4 = probe($s);
    my $ok4 = found($s, $more);
    kill 'CONT', $w[0];
    is($p3, $w[0], 'stored through the first worker');
    is($p4, $w[1], 'looked up through the second worker');
    ok($k3 && $k3->[0] eq $more->{keys}[0] && $ok4,
        'found through the other worker again');

    is_deeply([ $t->worker_pids ], \@w, 'workers unchanged after SIGSTOP/CONT');
}

# many fresh connections, both workers awake
{
    my $ok = 1;
    for (1 .. 30) {
        my $s = rpc_conn($port);
        $ok &&= found($s, $req);
        close $s;
    }
    ok($ok, 'lookup works from 30 fresh connections');
}

###############################################################################
# lookup of unknown and malformed keys: FILE_UNSPECIFIED, in order

{
    my @k = (
        $req->{keys}[0],
        sha256_hex('not stored'),
        '',
        'xyz',
        substr($req->{keys}[1], 0, 63),
        $req->{keys}[1] . '0',
        'g' x 64,
        ' ' . substr($req->{keys}[1], 1),
        "\0" x 64,
        $req->{keys}[1],
    );
    my ($got, $lr) = lookup_keys($port, @k);
    is($lr && $lr->{status}, 200, 'lookup of odd keys: 200');
    is(scalar @{ $got // [] }, scalar @k, 'one blob per requested key');
    is_blobs($got,
        [ $req->{blobs}[0], ($MISSING) x 8, $req->{blobs}[1] ],
        'unknown/malformed keys -> FILE_UNSPECIFIED only, in order');
    is_deeply(lookup_resp_types($lr->{body}),
        [ 'FILE', ('FILE_UNSPECIFIED') x 8, 'FILE' ],
        'protoc agrees on the types');

    ($got, $lr) = lookup_keys($port);
    is($lr && $lr->{status}, 200, 'lookup of no keys: 200');
    is($lr && $lr->{raw}, '', 'empty LookupFileResp is 0 bytes');
    ok($lr && !exists $lr->{headers}{'content-encoding'},
        'empty response has no Content-Encoding');

    my @many = map { sha256_hex("missing $_") } 1 .. 200;
    ($got) = lookup_keys($port, @many);
    is_blobs($got, [ ($MISSING) x 200 ], '200 unknown keys: 200 entries');
}

###############################################################################
# mixed valid and invalid blobs in one StoreFile

{
    my @specs = (
        { content => 'good one' },                                  # ok
        { content => 'four', file_size => 5 },                      # size
        { content => 'long', file_size => 3 },                      # size
        { type => 'FILE', file_size => 0 },                         # no content
        { type => 'FILE_CHUNK', content => 'no offset', file_size => 9 },
        { type => 'FILE_CHUNK', offset => 0,
          content => 'z' x ($CHUNK + 1), file_size => $CHUNK + 1 },  # > 2 MiB
        { type => 'FILE_META', file_size => 5,
          hash_keys => [ sha256_hex('a') ] },                       # 1 key
        { type => 'FILE_UNSPECIFIED' },                             # type 0
        { type => 'FILE_CHUNK', offset => 7, content => 'good chunk',
          file_size => 10 },                                        # ok
        { type => 'FILE_REF',
          hash_keys => [ sha256_hex('a'), sha256_hex('b') ] },      # 2 keys
        { type => 'FILE_META', file_size => 9,
          hash_keys => [ sha256_hex('a'), sha256_hex('b') ] },       # ok
        { type => 'FILE', offset => 0, content => 'with offset' },
    );
    my @ok = (0, 8, 10);
    my ($k, $mreq, $mr) = store_blobs($port, @specs);
    is($mr && $mr->{status}, 200, 'mixed StoreFile: 200');
    is(scalar @{ $k // [] }, scalar @specs,
        'mixed StoreFile: one key per blob');
    my @want = ('') x @specs;
    $want[$_] = $mreq->{keys}[$_] for @ok;
    is_deeply($k, \@want,
        'invalid blobs -> "", valid ones -> sha256 of their bytes');
    my ($got) = lookup_keys($port, @{ $mreq->{keys} });
    my @wblobs = ($MISSING) x @specs;
    $wblobs[$_] = $mreq->{blobs}[$_] for @ok;
    is_blobs($got, \@wblobs, 'only the valid blobs were stored');

    # each invalid kind alone fails the whole request
    for my $i (grep { my $j = $_; !grep { $_ == $j } @ok } 0 .. $#specs) {
        my $one = store_req($specs[$i]);
        my $r1 = rpc($port, 's', $one->{body}, enc => 'gzip', accept => 'gzip');
        is($r1 && "$r1->{status} $r1->{raw}", "400 bad request\n",
            "single invalid blob #$i -> 400 bad request");
    }
}

# a StoreFileReq that is not protobuf, and one with a truncated blob
{
    my $r1 = rpc($port, 's', "\x0a\x05ab", enc => 'gzip');
    is($r1 && "$r1->{status} $r1->{raw}", "400 bad request\n",
        'truncated StoreFileReq -> 400');
    $r1 = rpc($port, 's', "\x0a\x03\x08\x01\x5a", enc => 'gzip');
    is($r1 && "$r1->{status} $r1->{raw}", "400 bad request\n",
        'unparsable single FileBlob -> 400');
    $r1 = rpc($port, 's', '', accept => 'gzip');
    is($r1 && $r1->{status}, 200, 'StoreFile of no blobs: 200');
    is($r1 && $r1->{raw}, '', 'StoreFile of no blobs: empty response');
}

###############################################################################
# 2 MiB boundaries

{
    my $c = { type => 'FILE_CHUNK', offset => 4 * $CHUNK,
        content => substr("\0\xff\n" . '0123456789abcdef' x 131072, 0, $CHUNK),
        file_size => $CHUNK };
    my $f = { content => 'q' x $CHUNK };
    my ($k, $creq, $cr) = store_blobs($port, $c, $f);
    is($cr && $cr->{status}, 200, 'StoreFile of two 2 MiB blobs: 200');
    is_deeply($k, $creq->{keys}, 'FILE_CHUNK and FILE of exactly 2 MiB stored');
    ok(found($port, $creq), '2 MiB blobs come back byte-identical');
    my $one = store_req({ %$c, offset => 0 });
    my $r1 = rpc($port, 's', $one->{body}, enc => 'deflate',
        accept => 'deflate');
    is_deeply($r1 && parse_store_resp($r1->{body}), $one->{keys},
        'single 2 MiB FILE_CHUNK accepted (deflate both ways)');
}

###############################################################################
# same blob twice: same key, the store does not grow

{
    my $spec = { content => "stored twice\n" x 100 };
    my ($k1, $sreq) = store_blobs($port, $spec);
    my $before = store_dir_usage();
    my ($k2) = store_blobs($port, $spec);
    my ($k3) = store_blobs(rpc_conn($port), $spec, $spec);
    is_deeply($k1, $sreq->{keys}, 'first store: key');
    is_deeply($k2, $k1, 'second store: same key');
    is_deeply($k3, [ @$k1, @$k1 ], 'same blob twice in one request: same key');
    is(store_dir_usage(), $before, "the store did not grow ($before)");
    ok(found($port, $sreq), 'and the blob is intact');
}

###############################################################################
# nothing stored later changes what an existing key returns

{
    my $a = { content => "original content A\n" };
    my ($ka, $areq) = store_blobs($port, $a);
    my @others = (
        { content => "different content B\n" },
        { content => "original content A" },
        { content => "original content A\n\0" },
        { type => 'FILE_CHUNK', offset => 0, content => "original content A\n",
          file_size => 19 },
        { type => 'FILE_REF', file_size => 19, hash_keys => $ka },
        { type => 'FILE_META', file_size => 38, hash_keys => [ @$ka, @$ka ] },
    );
    my ($kb, $breq) = store_blobs($port, @others);
    my %dup = map { $_ => 1 } grep { $_ eq $ka->[0] } @{ $kb // [] };
    ok(!%dup, 'no other blob is given the key of A');
    ok(found($port, $areq), 'A is unchanged after storing other blobs');
    ok(found($port, $breq), 'the other blobs are stored under their own keys');
    my $path = sprintf '%s/files/%s/%s', $t->testdir, substr($ka->[0], 0, 2),
        $ka->[0];
    is(-s $path, length $areq->{blobs}[0],
        'A on disk: the exact blob length');
}

###############################################################################
# SaveLog

{
    my $body = save_log_req('exec log 1', "\x0a\x03abc");
    for my $enc (qw(gzip deflate identity)) {
        my $sl = rpc($port, 'sl', $body, enc => $enc, accept => 'gzip');
        is($sl && $sl->{status}, 200, "SaveLog ($enc): 200");
        ok($sl && $sl->{raw} eq ''
            && ($sl->{headers}{'content-length'} // '') eq '0',
            "SaveLog ($enc): empty body");
        ok($sl && !exists $sl->{headers}{'content-encoding'},
            "SaveLog ($enc): no Content-Encoding");
    }
    my $sl = rpc($port, 'sl', '', accept => 'gzip');
    is($sl && "$sl->{status}:$sl->{raw}", '200:',
        'SaveLog with an empty body: 200');
    $sl = rpc($port, 'sl', "\x0a\x10abc", enc => 'gzip');
    is($sl && "$sl->{status} $sl->{raw}", "400 bad request\n",
        'SaveLog of garbage -> 400');
    $sl = rpc($port, 'sl', "\xff\xff\xff\xff", accept => 'gzip');
    is($sl && "$sl->{status} $sl->{raw}", "400 bad request\n",
        'SaveLog of a bad tag -> 400');
}

###############################################################################
# routing

{
    for my $p (qw(/cxx-compiler-service/x /cxx-compiler-service/s/
        /cxx-compiler-service/blobs/abc /cxx-compiler-service/S)) {
        my $r1 = rpc($port, $p, lookup_req());
        is($r1 && "$r1->{status} $r1->{raw}", "404 404 page not found\n",
            "unknown path $p -> 404");
    }
    my $r1 = rpc($port, 's', '', method => 'GET');
    is($r1 && $r1->{status}, 405, 'GET on /s -> 405');
    like($r1 && $r1->{headers}{allow}, qr/POST/, '405 names POST in Allow');
    $r1 = rpc($port, "/cxx-compiler-service/l?foo=bar", lookup_req(@$keys));
    is($r1 && $r1->{body},
        join('', map { "\x12" . pb_varint(length) . $_ } @{ $req->{blobs} }),
        'query string ignored for routing');
    $r1 = rpc($port, "http://localhost:$port/cxx-compiler-service/l",
        lookup_req($keys->[0]));
    is($r1 && $r1->{status}, 200, 'absolute-form request target routed');
}

ok(probe_pid(), 'the error log carries the probe lines');
diag(store_dir_usage()) if $ENV{TEST_RX_VERBOSE};

###############################################################################
