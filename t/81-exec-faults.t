#!/usr/bin/perl
#
# Exec (/e) under backend and process faults, against the python REAPI
# test server with real execution (REMOTEEXEC.md §6.1, §6.11, §6.13, §5;
# GOMA_PROTOCOL.md §6): GOAWAY from the backend during a slow Execute
# (abrupt and graceful) is still answered; a worker killed (SIGKILL) in the
# middle of requests loses only its own requests while the other worker
# answers and the master starts a new one; the digest cache is shared by
# the workers (a hash-only request on the other worker resolves from it)
# and kept across a reload; a reload while a request is in flight lets the
# old worker finish it while new connections are served; a slow Execute
# past exec.request_timeout is 504; a client that goes away during Execute
# gets its backend call cancelled and its connection closed; the backend
# down is a 5xx within the stage timeouts, and the workers stay up.
#
# Slow actions come from a script rule of the REAPI server (the argv holds
# a marker; the action sleeps, then really runs).

use strict;
use warnings;
use Test::More;
use JSON::PP ();
use Time::HiRes qw(time sleep);

use lib 't/lib';
use Test::Rx;
use Test::Rx::Goma ();
use Test::Rx::Exec;

my $why = python_ok();
plan skip_all => $why if $why;

my $t = Test::Rx->new;
my $dir = $t->testdir;
spew("$dir/script.json", JSON::PP->new->encode({ rules => [
  { match => { argv => 'SLOW_GOAWAY' }, delay_ms => 2500, real => JSON::PP::true },
  { match => { argv => 'SLOW_KILL' }, delay_ms => 5000, real => JSON::PP::true },
  { match => { argv => 'SLOW_TIMEOUT' }, delay_ms => 8000, real => JSON::PP::true },
] }));
my $reapi = Test::Rx::Exec::Reapi->start($dir, '--real-exec', '--script',
                                         "$dir/script.json",
                                         '--exec-slots', 16);
my $rport = $reapi->port;

$t->write_config(<<"EOF");
listen: ["127.0.0.1:%%PORT_0%%"]
backend: {address: "127.0.0.1:$rport", insecure: on}
file_store: {path: files, index_entries: 65536}
digest_cache: {entries: 65536}
exec:
  request_timeout: 12s
  timeouts: {check_cache: 1s, check_missing: 2s}
EOF
$t->allow_log(qr/exited on signal 9/);

# a second daemon with a 3 s request budget, same backend
my $t2 = Test::Rx->new;
$t2->write_config(<<"EOF");
listen: ["127.0.0.1:%%PORT_0%%"]
backend: {address: "127.0.0.1:$rport", insecure: on}
file_store: {path: files, index_entries: 4096}
exec: {request_timeout: 3s}
shutdown_timeout: 3s    # bounds the stop if a connection is left behind
EOF

plan(tests => 31 + 2);
$t->run;
$t2->run;

my $port = $t->port(0);
my $proj = "$dir/proj";
my $tag = "t81_${$}_" . int(time);
make_project($proj, $tag);
my %common = (cwd => $proj, stubs => "$dir/stubs", tmp => $dir);
my @hello = qw(gcc -c src/hello.c -o out/hello.o -Iinclude -g0);

sub summary { JSON::PP->new->canonical->encode($_[0]) }

sub wait_count {
  my ($method, $n, $timeout) = @_;
  return $t->wait_for(sub { $reapi->count($method) >= $n }, $timeout // 10);
}

# the request log records of METHOD, newest first
sub reapi_calls {
  my ($method) = @_;
  my @r;
  for my $l (split /\n/, slurp($reapi->log_file) // '') {
    my $e = eval { JSON::PP->new->decode($l) } or next;
    unshift @r, $e if ($e->{short} // '') eq $method;
  }
  return @r;
}

sub page_counter {
  my ($name) = @_;
  return status_counter($t->status_page($port), 'Digest cache', $name) // -1;
}

###############################################################################
# GOAWAY during a slow Execute: abrupt (grace 0: the stream is cancelled
# after the operation name came) and graceful (the stream ends in time)

for my $grace (0, 10000) {
  my $exec0 = $reapi->count('Execute');
  my $wait0 = $reapi->count('WaitExecution');
  my @cmd = (@hello, "-DSLOW_GOAWAY=$grace");
  my $h = goma_exec_bg($port, %common, cmd => \@cmd,
                       args => [qw(--cache-policy STORE_ONLY)]);
  ok(wait_count('Execute', $exec0 + 1), "goaway $grace: Execute started");
  sleep 0.5;    # QUEUED and EXECUTING (with the operation name) arrived
  like($reapi->ctl("goaway $grace"), qr/^OK/, "goaway $grace sent");
  my $r = goma_exec_wait($h);
  ok(($r->{http_status} // 0) == 200 && ($r->{exit_status} // -1) == 0,
     "goaway $grace: the request is still answered")
    or diag(summary($r));
  if ($grace == 0) {
    ok($reapi->count('WaitExecution') > $wait0
       || $reapi->count('Execute') > $exec0 + 1,
       'goaway 0: the proxy resumed on a new connection');
  }
}

###############################################################################
# a worker killed in the middle of requests: its requests are lost, the
# other worker's are answered, the master starts a new worker

{
  my $out = "$dir/kill.pb";
  my $rec = goma_exec($port, %common,
                      cmd => [ @hello, '-DSLOW_KILL=1' ],
                      args => [ '--dry-run', '--record', $out,
                                qw(--cache-policy STORE_ONLY) ]);
  my $req = exec_http_request(slurp($out) // '');
  my @w = $t->worker_pids;
  my (%on, @socks);
  my $exec0 = $reapi->count('Execute');
  for my $pid (@w, @w) {    # two requests on each worker
    my $s = conn_on_worker($t, $port, $pid, @w) or next;
    $t->http_send($s, $req);
    push @socks, [ $s, $pid ];
    $on{$pid}++;
  }
  ok(keys(%on) == 2, 'requests in flight on both workers')
    or diag("workers @w, sockets on: " . join(' ', map { $_->[1] } @socks));
  SKIP: {
    skip 'the requests did not reach both workers', 4 unless keys(%on) == 2;
    END { kill 'CONT', @w if @w }
    wait_count('Execute', $exec0 + @socks, 10);
    my $victim = $socks[0][1];
    kill 'KILL', $victim;
    my ($lost, $answered, $bad) = (0, 0, 0);
    for my $sp (@socks) {
      my $r = $t->http_read($sp->[0], timeout => 20);
      if ($sp->[1] == $victim) {
        $lost++ unless $r;
      } else {
        my $a = exec_answer($r);
        if ($a->{status} == 200 && ($a->{exit_status} // -1) == 0) {
          $answered++;
        } else {
          $bad++;
          diag(summary($a));
        }
      }
    }
    is($lost, $on{$victim}, "killed worker: its $on{$victim} request(s) lost");
    ok($answered == $on{ (grep { $_ != $victim } keys %on)[0] } && !$bad,
       "the other worker answered its $answered request(s)");
    my @now;
    $t->wait_for(sub {
      @now = $t->worker_pids;
      @now == 2 && !grep { $_ == $victim } @now;
    }, 10);
    ok(@now == 2 && !grep({ $_ == $victim } @now),
       'a new worker replaced the killed one') or diag("workers: @now");
    my $r = goma_exec($port, %common, cmd => [ @hello, '-DAFTER_KILL=1' ]);
    is($r->{exit_status}, 0, 'requests succeed afterwards')
      or diag(summary($r));
  }
}

###############################################################################
# the digest cache is shared by the workers and kept across a reload

{
  spew("$proj/include/shared.h", "#define SHARED \"$tag shared\"\n");
  spew("$proj/src/shared.c", "#include \"shared.h\"\n"
       . "const char *shared = SHARED;\n");
  my @cmd = qw(gcc -c src/shared.c -o out/shared.o -Iinclude -g0);
  goma_exec($port, %common, cmd => \@cmd,
            args => [ '--dry-run', '--record', "$dir/full.pb" ]);
  goma_exec($port, %common, cmd => [ @cmd, '-DSECOND=1' ],
            args => [ '--dry-run', '--hash-only', '--record',
                      "$dir/hashonly.pb" ]);
  my @w = $t->worker_pids;
  my %sock;
  END { kill 'CONT', @w if @w }
  for my $pid (@w) {
    my $s = conn_on_worker($t, $port, $pid, @w);
    $sock{$pid} = $s if $s;
  }
  ok(keys(%sock) == 2, 'one connection on each worker');
  SKIP: {
    skip 'no connection on each worker', 3 unless keys(%sock) == 2;
    my ($wa, $wb) = sort keys %sock;
    $t->http_send($sock{$wa}, exec_http_request(slurp("$dir/full.pb")));
    my $a = exec_answer($t->http_read($sock{$wa}, timeout => 20));
    ok($a->{status} == 200 && ($a->{exit_status} // -1) == 0,
       "worker $wa: the request with content compiled") or diag(summary($a));
    my $hits = page_counter('hits');
    $t->http_send($sock{$wb}, exec_http_request(slurp("$dir/hashonly.pb")));
    $a = exec_answer($t->http_read($sock{$wb}, timeout => 20));
    ok($a->{status} == 200 && !@{ $a->{missing} // [1] }
       && ($a->{exit_status} // -1) == 0,
       "worker $wb: hash keys only, no missing input") or diag(summary($a));
    cmp_ok(page_counter('hits'), '>=', $hits + 2,
           'its inputs were digest cache hits');
  }
  close $_ for values %sock;    # idle keep-alive connections keep old
                                # workers alive after a reload
  is($t->reload, 1, 'reload');
  my $hits = page_counter('hits');
  my $r = goma_exec($port, %common, cmd => [ @cmd, '-DTHIRD=1' ],
                    args => [qw(--hash-only --on-missing fail)]);
  ok(!@{ $r->{missing_input} // [1] } && ($r->{exit_status} // -1) == 0,
     'after the reload: hash keys only, no missing input')
    or diag(summary($r));
  ok($hits >= 0 && page_counter('hits') >= $hits + 2,
     'after the reload: digest cache hits');
}

###############################################################################
# a reload while a slow request is in flight: the old worker finishes it
# (graceful), and new connections are served meanwhile

{
  my $exec0 = $reapi->count('Execute');
  my $h = goma_exec_bg($port, %common, cmd => [ @hello, '-DSLOW_KILL=2' ],
                       args => [qw(--cache-policy STORE_ONLY)]);
  wait_count('Execute', $exec0 + 1);
  is($t->reload, 1, 'reload with a request in flight');
  my $t0 = time;
  my $r = $t->http_get($port, '/healthz');
  ok($r && $r->{status} == 200,
     sprintf('a new connection is served meanwhile (%.1fs)', time - $t0));
  $r = goma_exec_wait($h);
  ok(($r->{http_status} // 0) == 200 && ($r->{exit_status} // -1) == 0,
     'the request in flight is answered by the old worker')
    or diag(summary($r));
}

###############################################################################
# a slow Execute past exec.request_timeout (3 s): 504

{
  my $t0 = time;
  my $r = goma_exec($t2->port(0), %common,
                    cmd => [ @hello, '-DSLOW_TIMEOUT=1' ],
                    args => [qw(--cache-policy STORE_ONLY)]);
  my $took = time - $t0;
  is($r->{http_status}, 504, 'Execute past the request budget: 504')
    or diag(summary($r));
  ok($took >= 2.5 && $took < 20, sprintf('answered at the budget (%.1fs)',
                                        $took));
}

###############################################################################
# the client goes away during Execute: the proxy cancels the backend call

{
  my $out = "$dir/gone.pb";
  goma_exec($port, %common, cmd => [ @hello, '-DSLOW_KILL=3' ],
            args => [ '--dry-run', '--record', $out,
                      qw(--cache-policy STORE_ONLY) ]);
  my $exec0 = $reapi->count('Execute');
  my $mark = $t2->log_offset;
  my $s = $t2->http_connect($t2->port(0));
  $t2->http_send($s, exec_http_request(slurp($out) // ''));
  wait_count('Execute', $exec0 + 1);
  my ($id) = map { $_->{id} } grep { $_->{ev} eq 'begin' } reapi_calls('Execute');
  my $cport = $s->sockport;
  close $s;
  ok($t2->wait_for_log(qr/client closed the connection in execute/, 5,
                       $mark), 'client gone: the proxy noticed in execute');
  my $end;
  $t->wait_for(sub {
    ($end) = grep { $_->{ev} eq 'end' && $_->{id} == $id }
      reapi_calls('Execute');
  }, 10);
  ok($end && $end->{ms} < 3000,
     'its Execute call ended long before the 5 s action (cancelled)')
    or diag(summary($end // {}));
  my $st;
  $t2->wait_for(sub {
    $st = tcp_state($t2->port(0), $cport);
    !defined $st;
  }, 5);
  ok(!defined $st, 'and closed its side of the connection')
    or diag("server side still in TCP state $st (08 = CLOSE_WAIT)");
}

###############################################################################
# the backend down: a 5xx within the stage timeouts, workers stay up

{
  my @w = $t->worker_pids;
  $reapi->stop;
  my $t0 = time;
  my $r = goma_exec($port, %common, cmd => [ @hello, '-DBACKEND_DOWN=1' ]);
  my $took = time - $t0;
  # 503 (UNAVAILABLE), 500, or 504 when a stage's span ran out
  like($r->{http_status} // 0, qr/^50[034]$/, 'backend down: HTTP 5xx')
    or diag(summary($r));
  diag("backend down: HTTP " . ($r->{http_status} // '?')
       . sprintf(' after %.1fs', $took)) if $ENV{TEST_RX_VERBOSE};
  cmp_ok($took, '<', 11.5, 'answered by the stage timeouts (1 s + 2 s), '
         . 'before the 12 s request budget');
  is_deeply([ $t->worker_pids ], \@w, 'the workers stay up');
  my $h = $t->http_get($port, '/healthz');
  is($h && $h->{status}, 200, 'healthz still answers');
}

$t2->stop;
