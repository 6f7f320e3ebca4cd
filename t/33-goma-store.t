#!/usr/bin/perl
#
# The disk file store behind StoreFile/LookupFile (REMOTEEXEC.md §4.4):
# it survives a reload and a restart (the cache manager loads the index
# from disk), loses nothing under concurrent StoreFile bursts, never serves
# a blob whose bytes no longer match its key, answers "" (or 500 for a
# single blob) when it cannot write, and the cache manager keeps it under
# file_store.max_size while the workers go on serving.

use strict;
use warnings;
use Test::More;
use POSIX ();
use Time::HiRes qw(time);

use lib 't/lib';
use Test::Rx;
use Test::Rx::Goma;

my $t = Test::Rx->new;
goma_progs($t);
$t->write_config(<<'EOF');
listen: ["127.0.0.1:%%PORT_0%%"]
file_store: {path: files, index_entries: 4096}
EOF

my $e = Test::Rx->new;    # eviction, a sampled index of 1024 entries
$e->write_config(<<'EOF');
listen: ["127.0.0.1:%%PORT_0%%"]
file_store: {path: files, max_size: 1m, index_entries: 1024}
EOF

my $d = Test::Rx->new;    # eviction with the default index size
$d->write_config(<<'EOF');
listen: ["127.0.0.1:%%PORT_0%%"]
file_store: {path: files, max_size: 1m}
EOF

# 40 tests of ours, one final check for each of the three objects
$t->plan(40 + 2);
$t->run;
$e->run;
$d->run;

my $port = $t->port(0);
my $MISSING = "\x08\x00";

sub found_all {
    my ($where, $req) = @_;
    my ($got) = lookup_keys($where, @{ $req->{keys} });
    return $got && join("\0", @$got) eq join("\0", @{ $req->{blobs} });
}

sub blob_path {
    my ($obj, $key) = @_;
    return sprintf '%s/files/%s/%s', $obj->testdir, substr($key, 0, 2), $key;
}

# (number of blob files, their total size) under $obj's store
sub usage {
    my ($obj) = @_;
    my ($n, $bytes) = (0, 0);
    for (glob $obj->testdir . '/files/[0-9a-f][0-9a-f]/*') {
        my $s = -s $_;
        next unless defined $s;    # evicted meanwhile
        $n++;
        $bytes += $s;
    }
    return ($n, $bytes);
}

# StoreFile without compression (big blobs: saves a gzip run each)
sub store_plain {
    my ($where, @specs) = @_;
    my $req = store_req(@specs);
    my $r = rpc($where, 's', $req->{body}, accept => 'identity');
    my $k = $r && $r->{status} == 200 ? parse_store_resp($r->{body}) : undef;
    return ($k, $req);
}

sub wait_old_workers {
    my ($obj, @old) = @_;
    return $obj->wait_for(sub {
        my %now = map { $_ => 1 } $obj->worker_pids;
        return !grep { $now{$_} || kill(0, $_) } @old;
    }, 10);
}

###############################################################################
# reload and restart

my @kept = map { { content => "kept across restarts $_\n" x 30 } } 1 .. 3;
my $keep = store_req(@kept);
{
    my ($k) = store_blobs($port, @kept);
    is_deeply($k, $keep->{keys}, 'stored before the reload');
    my @old = $t->worker_pids;
    is($t->reload, 1, 'reload');
    ok(wait_old_workers($t, @old), 'old workers gone');
    ok(found_all(rpc_conn($port), $keep), 'blobs found after the reload');

    $t->stop;
    $t->write_file('files/tmp/12345.1', 'a writer died here');
    my $mark = $t->log_offset;
    $t->run;
    my $line = $t->wait_for_log(qr/file store loaded: \d+ blob/, 5, $mark);
    my ($n) = ($line // '') =~ /loaded: (\d+) blob/;
    ok(defined $n && $n >= 3, 'restart: the index loaded from disk')
        or diag($line);
    ok(found_all(rpc_conn($port), $keep), 'blobs found after the restart');
    ok(!-e $t->testdir . '/files/tmp/12345.1',
        'temp files of dead writers removed at load');
    my ($k2) = store_blobs($port, $kept[0]);
    is($k2 && $k2->[0], $keep->{keys}[0], 'storing it again: same key');
}

###############################################################################
# a burst of StoreFile from 8 processes, 20 blobs each over 4 connections

{
    my @all = store_reqs(5, map {
        my ($c, $i) = (int($_ / 20), $_ % 20);
        { content => "burst $c/$i " . ('.' x (500 + $_)) }
    } 0 .. 159);
    my @reqs = map { [ @all[ $_ * 4 .. $_ * 4 + 3 ] ] } 0 .. 7;
    pipe(my $go_r, my $go_w) or die "pipe: $!";
    my @kids;
    for my $c (0 .. 7) {
        my $pid = fork() // die "fork: $!";
        if ($pid == 0) {
            close $go_w;
            sysread($go_r, my $x, 1);    # wait for all of them
            my $bad = 0;
            for my $req (@{ $reqs[$c] }) {
                my $r = rpc(rpc_conn($port), 's', $req->{body});
                my @k = $r && $r->{status} == 200
                    ? map { $_->[2] } eval { pb_fields($r->{body}) } : ();
                $bad++ unless "@k" eq "@{ $req->{keys} }";
            }
            POSIX::_exit($bad);
        }
        push @kids, $pid;
    }
    close $go_r;
    close $go_w;    # go
    my %st;
    $t->wait_for(sub {
        for my $k (grep { !exists $st{$_} } @kids) {
            $st{$k} = $? >> 8 if waitpid($k, POSIX::WNOHANG()) == $k;
        }
        return keys %st == @kids;
    }, 20);
    kill 'KILL', grep { !exists $st{$_} } @kids;
    is(scalar(grep { defined $st{$_} && $st{$_} == 0 } @kids), 8,
        'every StoreFile of the burst answered the right keys');
    my ($ok, $n) = (1, 0);
    for my $i (0 .. 3) {    # 40 keys per lookup
        my @part = @all[ $i * 8 .. $i * 8 + 7 ];
        my $req = { keys => [ map { @{ $_->{keys} } } @part ],
                    blobs => [ map { @{ $_->{blobs} } } @part ] };
        $ok &&= found_all($port, $req);
        $n += @{ $req->{keys} };
    }
    ok($ok, "all $n blobs of the burst found");
    my $count = grep { -e blob_path($t, $_) } map { @{ $_->{keys} } } @all;
    is($count, 160, 'one file per blob on disk');
}

###############################################################################
# a blob whose file no longer matches its key is never served

{
    my @specs = map { { content => "soon corrupt $_\n" x 20 } } 1 .. 5;
    my ($k, $req) = store_blobs($port, @specs);
    is_deeply($k, $req->{keys}, 'five blobs stored');
    my @p = map { blob_path($t, $_) } @$k;

    # 0: bytes overwritten in place; 1: truncated; 2: emptied;
    # 3: replaced by the bytes of blob 4 (a valid blob, the wrong key)
    open(my $fh, '+<', $p[0]) or die "$p[0]: $!";
    binmode $fh;
    seek($fh, 10, 0);
    print $fh 'CORRUPTED';
    close $fh;
    truncate($p[1], 20) or die "truncate: $!";
    truncate($p[2], 0) or die "truncate: $!";
    $t->write_file($p[3], $req->{blobs}[4]);

    my ($got, $r) = lookup_keys($port, @$k);
    is($r && $r->{status}, 200, 'lookup of corrupt blobs: 200');
    is_blobs($got, [ ($MISSING) x 4, $req->{blobs}[4] ],
        'corrupt blobs -> FILE_UNSPECIFIED, the intact one served');
    ok(!grep({ -e $_ } @p[0 .. 3]), 'corrupt files removed');
    ($got) = lookup_keys(rpc_conn($port), @$k[ 0 .. 3 ]);
    is_blobs($got, [ ($MISSING) x 4 ], 'still FILE_UNSPECIFIED afterwards');
    my ($k2) = store_blobs($port, @specs);
    is_deeply($k2, $req->{keys}, 'storing them again: the same keys');
    ok(found_all(rpc_conn($port), $req), 'and they are served again');
    ok($t->wait_for_log(qr/does not match its key/, 1),
        'the error log reports the corruption');

    # damaged behind the index, then stored again before any lookup
    open($fh, '+<', $p[0]) or die "$p[0]: $!";
    binmode $fh;
    print $fh 'CORRUPTED';
    close $fh;
    unlink $p[1] or die "unlink: $!";
    ($k2) = store_blobs($port, @specs[ 0, 1 ]);
    is_deeply($k2, [ @$k[ 0, 1 ] ], 'stored again: the same keys');
        my ($g) = lookup_keys($port, @$k[ 0, 1 ]);
        is_blobs($g, [ @{ $req->{blobs} }[ 0, 1 ] ],
            'a StoreFile answered with the key means the blob is served');
}

###############################################################################
# write errors: files/tmp is a regular file, so creating temp files fails
# with ENOTDIR (chmod would not stop root)

{
    my $tmp = $t->testdir . '/files/tmp';
    my @w = $t->worker_pids;
    rename($tmp, "$tmp.saved") or die "rename: $!";
    $t->write_file($tmp, 'not a directory');

    my ($k, $req, $r) = store_blobs($port, { content => 'unwritable 1' },
        { content => 'unwritable 2' }, $kept[1]);
    is($r && $r->{status}, 200, 'StoreFile with a broken store: 200');
    is_deeply($k, [ '', '', $keep->{keys}[1] ],
        'blobs that cannot be written -> "", a stored one keeps its key');
    ($k, $req, $r) = store_blobs($port, { content => 'unwritable 3' });
    is($r && $r->{status}, 500, 'a single blob that cannot be written -> 500');
    my ($got) = lookup_keys($port, sha256_hex($req->{blobs}[0]));
    is_blobs($got, [$MISSING], 'nothing stored');
    ok($t->wait_for_log(qr/file store write of .* failed .*Not a directory/, 1),
        'the error log says why');
    is_deeply([ $t->worker_pids ], \@w, 'workers still up');

    unlink $tmp;
    rename("$tmp.saved", $tmp) or die "rename: $!";
    ($k, $req) = store_blobs($port, { content => 'unwritable 1' });
    is_deeply($k, $req->{keys}, 'the store works again once repaired');
    ok(found_all($port, $req), 'and serves it');
}

###############################################################################
# eviction: max_size 1m, 30 blobs of 100 KB

my $BLOB = 100 * 1024;

sub big_blobs {
    my ($tag, @n) = @_;
    return map {
        my $seed = "$tag $_ ";
        { content => substr($seed x (int($BLOB / length $seed) + 1), 0, $BLOB) }
    } @n;
}

{
    my $ep = $e->port(0);
    my $dp = $d->port(0);
    my (@old, @recent, $ok);
    $ok = 1;
    for my $i (0 .. 3) {    # 20 "old" blobs, to both stores
        my @b = big_blobs('old', $i * 5 .. $i * 5 + 4);
        my ($k, $req) = store_plain(rpc_conn($ep), @b);
        $ok &&= $k && "@$k" eq "@{ $req->{keys} }";
        push @old, $req;
        ($k) = store_plain(rpc_conn($dp), @b);
        $ok &&= $k && "@$k" eq "@{ $req->{keys} }";
    }
    my $d_stored = time;
    ok($ok, '20 blobs of 100 KB stored in 4 requests (2 MB > max_size)');

    # LRU works in whole seconds: let the clock move on before the rest
    my $sec = int(time);
    $e->wait_for(sub { int(time) > $sec }, 2);

    $ok = 1;
    for my $i (0 .. 1) {
        my @b = big_blobs('new', $i * 5 .. $i * 5 + 4);
        my ($k, $req) = store_plain(rpc_conn($ep), @b);
        $ok &&= $k && "@$k" eq "@{ $req->{keys} }";
        push @recent, $req;
    }
    ok($ok, '10 more blobs stored');

    # keep serving while the cache manager evicts
    my $s = rpc_conn($ep);
    my ($served, $failed, $settled) = (0, 0, 0);
    my $cap = 1024 * 1024 + $BLOB + 100;
    my $deadline = time + 10;
    while (time < $deadline) {
        my (undef, $bytes) = usage($e);
        if ($bytes <= $cap) {
            $settled = 1;
            last;
        }
        my ($got, $r) = lookup_keys($s, $recent[-1]{keys}[-1]);
        my ($k) = store_blobs($s, { content => "small $served" });
        $served++;
        $failed++ unless $r && $r->{status} == 200 && $k && length $k->[0];
        Time::HiRes::sleep(0.05);
    }
    my ($n, $bytes) = usage($e);
    ok($settled, "the store came down to max_size ($n files, $bytes bytes)");
    is($failed, 0, "requests kept succeeding during eviction ($served made)");
    cmp_ok($n, '>=', 9, 'eviction stopped near max_size, not at zero');

    my @all = (@old, @recent);
    my @keys = map { @{ $_->{keys} } } @all;
    my @blobs = map { @{ $_->{blobs} } } @all;
    # the cache manager may still be evicting: a blob served must have
    # been on disk before the lookup, one not served must be gone after it
    my @before = map { -e blob_path($e, $_) ? 1 : 0 } @keys;
    my ($got) = lookup_keys($ep, @keys);
    my @after = map { -e blob_path($e, $_) ? 1 : 0 } @keys;
    my ($hit, $bad, $odd) = (0, 0, 0);
    for my $i (0 .. ($got ? $#keys : -1)) {
        if ($got->[$i] eq $blobs[$i]) {
            $hit++;
            $odd++ unless $before[$i];
        } elsif ($got->[$i] eq $MISSING) {
            $odd++ if $after[$i];
        } else {
            $bad++;
        }
    }
    ok($got && $bad == 0, 'every lookup answers the blob or FILE_UNSPECIFIED');
    is($odd, 0, "lookups agree with the files on disk ($hit found)");

    # counted before another big blob arrives (which evicts the oldest of
    # these on the cache manager's next pass)
    my $left = grep { -e blob_path($e, $_) }
        map { @{ $_->{keys} } } @recent;
    is($left, 10, 'the 10 most recent blobs survive (LRU by atime)');

    my ($k, $req) = store_blobs($ep, big_blobs('newest', 1));
    my ($g2) = lookup_keys($ep, @$k);
    is($g2 && $g2->[0], $req->{blobs}[0], 'a blob stored now is found');
    like($e->status_page($ep), qr{<th>evictions</th><td>[1-9]\d*</td>},
        'the status page counts evictions');


        my $dbytes;
        $d->wait_for(sub { (undef, $dbytes) = usage($d); $dbytes <= $cap },
            $d_stored + 3 - time);
        ok($dbytes <= $cap,
            "default index: under max_size 3 s later ($dbytes bytes)");
}
