#!/usr/bin/perl
#
# The embedded local executor as a REAPI v2 server: the real daemon runs
# with no backend configured, so the master starts the executor process;
# the independent python3-grpcio client t/executor/client.py (suite
# "grpc") drives it over executor.listen and each of its TAP lines becomes
# a test here.  Then: one log line per action, --check-backend through the
# unix socket, a reload with an action in flight (the old executor finishes
# it, the new generation takes over the socket) and the CAS and action
# cache surviving it.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Test::Rx;
use Test::Rx::Exec;
use Test::Rx::Reapi qw(missing);
use Test::Rx::Tap;
use Time::HiRes qw(time);

my $CLIENT_TESTS = 59;

my $why = missing(qw(grpc stubs));
plan skip_all => $why if $why;

my $t = Test::Rx->new();
chmod 0711, $t->testdir;    # actions (as nobody) may pass, as in /var/lib
$t->write_config(<<'EOF');
workers: 1
listen: [ "127.0.0.1:%%PORT_0%%" ]
executor:
  socket: executor.sock
  listen: 127.0.0.1:%%PORT_1%%
  root: executor
  jobs: 2
EOF
$t->plan($CLIENT_TESTS + 38)->run();

my $dir = $t->testdir;
ok($t->wait_for_log(qr/executor: serving on \Q$dir\E\/executor\.sock/, 10),
   'executor process serving');

my $mark = $t->log_offset();
report('grpc', client($t, '--suite', 'grpc', '--jobs', 2), $CLIENT_TESTS);
report('before reload', client($t, '--suite', 'persist', '--cached', 'no'),
       1);

# the whole path: a Goma client's compile through /e runs on this host
SKIP: {
    my $why = python_ok();
    skip $why, 3 if $why;
    my $proj = "$dir/proj";
    make_project($proj, "t70_${$}_" . int(time));
    my %o = (cwd => $proj, stubs => "$dir/stubs", tmp => $dir,
             out => 'out/util.o',
             cmd => ['gcc', '-c', 'src/util.c', '-o', 'out/util.o',
                     '-Iinclude', '-g0']);
    my $c = compile_both($t->port(0), %o);
    is($c->{r}{exit_status} // $c->{r}{failure}, 0,
       'Goma /e: compiled by the executor')
        or diag(explain($c->{r}));
    ok(defined $c->{remote} && defined $c->{local}
       && $c->{remote} eq $c->{local}, 'Goma /e: object equals a local gcc');
    $c = compile_both($t->port(0), %o);
    like($c->{r}{cache_hit} // '', qr/CACHE/, 'Goma /e: then a cache hit');
}

my $log = substr($t->read_file($t->error_log), $mark);
like($log, qr/executor: action [0-9a-f]{12}\/\d+ exit 3 in [\d.]+s, not cached/,
     'log: one line per action with exit code, duration, cache state');
like($log, qr/executor: action [0-9a-f]{12}\/\d+ exit 0 in [\d.]+s, cached/,
     'log: cache hits logged');
like($log, qr/exit -1 in [\d.]+s, not cached, status FAILED_PRECONDITION/,
     'log: failed actions logged with their status');

# the proxy's view: backend address unix:<executor.socket>
my ($st, $out, $err) = $t->run_cmd('--check-backend', '-c', $t->conf_file,
                                   '-p', $dir, {timeout => 20});
is($st, 0, '--check-backend exit status') or diag($out . $err);
like($out, qr/backend unix:\Q$dir\E\/executor\.sock .*plaintext h2c/,
     '--check-backend uses the executor socket');
like($out, qr/GetCapabilities OK.*remote execution: enabled/s,
     '--check-backend: executor capabilities');

# reload while an action runs: the old executor finishes it, a new
# executor process takes over the socket path
my ($old) = $t->read_file($t->error_log) =~ /(\d+): executor: serving on/;
$mark = $t->log_offset();
report('reload', client($t, '--suite', 'reload', '--master', $t->pid), 2);
ok($t->wait_for_log(qr/\] \d+: reconfigured/, 15, $mark), 'reload');
my $new = $t->wait_for(sub {
    my @p = $t->read_file($t->error_log) =~ /(\d+): executor: serving on/g;
    return $p[-1] && $p[-1] != $old ? $p[-1] : 0;
}, 10);
ok($new, 'reload: a new executor process');
ok($t->wait_for(sub { !kill(0, $old) }, 15),
   'reload: the old executor exits');
($st, $out) = $t->run_cmd('--check-backend', '-c', $t->conf_file, '-p', $dir,
                          {timeout => 20});
like($out, qr/GetCapabilities OK/, 'reload: the socket serves');
ok(-S "$dir/executor.sock", 'reload: the old executor left the socket');
report('after reload', client($t, '--suite', 'persist', '--cached', 'yes'),
       1);

# a small CAS: least recently used blobs are evicted
$t->stop();
my $e = Test::Rx->new();
$e->write_config(<<'EOF');
workers: 1
listen: [ "127.0.0.1:%%PORT_0%%" ]
executor:
  socket: executor.sock
  listen: 127.0.0.1:%%PORT_1%%
  root: executor
  max_size: 100k
EOF
$e->run();
$t = $e;

# bytes of the store on disk (reading it does not touch the LRU order)
sub store_bytes {
    my $n = 0;
    for my $f (glob($t->testdir . "/executor/cas/[0-9a-f][0-9a-f]/*"),
               glob($t->testdir . "/executor/ac/[0-9a-f][0-9a-f]/*")) {
        $n += -s $f // 0;
    }
    return $n;
}

# every fill ends above the limit, so one eviction follows it
sub evicted {
    my ($what) = @_;
    ok($t->wait_for(sub { store_bytes() <= 100 * 1024 }, 10),
       "$what: the store went back under max_size")
        or diag(store_bytes() . ' bytes');
}

report('evict', client($t, '--suite', 'evict-fill'), 1);
evicted('evict');
ok($t->wait_for_log(qr/executor: evicted [1-9]\d* entries/, 10), 'evict: logged');
report('evict', client($t, '--suite', 'evict-check'), 2);
report('evict ac', client($t, '--suite', 'evict-ac-fill'), 1);
evicted('evict ac');
report('evict ac', client($t, '--suite', 'evict-ac-check'), 2);
$t->stop();
$t->run();
ok($t->wait_for_log(qr/executor: store holds 0 blob\(s\) and 4 action result/,
                    10), 'evict: a restart finds the action results on disk');
