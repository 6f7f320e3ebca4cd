#!/usr/bin/perl
#
# Reload (SIGHUP): no request fails while three reloads happen under
# continuous load; a changed setting takes effect (a listen port added,
# then removed); a broken configuration, or one whose port cannot be bound,
# leaves the running one serving with the generation unchanged; keys that
# are not reloadable keep their running value; -s reload
# and -s stop find the master through the pid file.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Test::Rx;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(time sleep);

my $t = Test::Rx->new();
my $dir = $t->testdir;

my $base = <<'EOF';
workers: 2
listen:
  - "127.0.0.1:%%PORT_0%%"
shutdown_timeout: 10s
limits:
  keepalive_timeout: 30s
EOF

$t->write_config($base);
$t->plan(42)->run();

my $port = $t->port(0);
my $N = 300;    # requests per load process, at least
my $nload = 2;

sub generation {
    my ($page) = $t->status_page($port);
    return $page =~ m{generation</th><td>(\d+)<} ? $1 : -1;
}

sub reloads {
    my ($page) = $t->status_page($port);
    return $page =~ m{reloads</th><td>(\d+)<} ? $1 : -1;
}

# ------------------------------------------------------------ load

# One GET /healthz; keep-alive ones reuse $$ka.  A request on a reused
# connection that the server closed before any byte of the answer is
# retried once on a new connection, as HTTP clients do (RFC 9112 9.3.1).
sub one_request {
    my ($ka, $keep, $why) = @_;
    unless ($keep) {
        my $r = $t->http_get($port, '/healthz');
        return 1 if $r && $r->{status} == 200 && $r->{body} eq "ok\n";
        $$why = 'close: ' . ($r ? "status $r->{status}" : 'no answer');
        return 0;
    }
    my $reused = defined $$ka;
    for my $try (1, 2) {
        $$ka //= $t->http_connect($port);
        unless ($$ka) {
            $$why = "keep-alive: connect: $!";
            return 0;
        }
        my $r = $t->http_send($$ka, "GET /healthz HTTP/1.1\r\n"
                                    . "Host: 127.0.0.1\r\n\r\n")
                && $t->http_read($$ka);
        if ($r && $r->{status} == 200 && $r->{body} eq "ok\n") {
            undef $$ka if ($r->{headers}{connection} // '') eq 'close';
            return 1;
        }
        my $nothing = !$r && length(${*{$$ka}}{rx_buf}) == 0;
        undef $$ka;
        $$why = 'keep-alive: ' . ($r ? "status $r->{status}"
                                     : 'closed' . ($nothing ? '' : ' midway'));
        return 0 unless $reused && $nothing;
        $reused = 0;
    }
    return 0;
}

# A load process: alternates keep-alive and one-request connections until
# it did $N requests and the stop file exists (15 s at most); reports
# "DONE FAILED" and the reasons of failures in load.K.
sub load {
    my ($k) = @_;
    my ($done, $failed, $ka, @why) = (0, 0);
    my $deadline = time() + 15;
    while (time() < $deadline && !($done >= $N && -e "$dir/load.stop")) {
        my $why;
        unless (one_request(\$ka, $done % 2, \$why)) {
            $failed++;
            push @why, "request $done: $why" if @why < 20;
        }
        $done++;
        $t->write_file("load.$k.tmp", "$done $failed\n" . join("\n", @why));
        rename("$dir/load.$k.tmp", "$dir/load.$k");
    }
    POSIX::_exit(0);
}

sub progress {
    my ($total, $failed) = (0, 0);
    for my $k (1 .. $nload) {
        my ($d, $f) = $t->read_file("load.$k") =~ /^(\d+) (\d+)/;
        $total += $d // 0;
        $failed += $f // 0;
    }
    return wantarray ? ($total, $failed) : $total;
}

my @kids;
for my $k (1 .. $nload) {
    my $pid = fork() // die "fork: $!";
    load($k) if $pid == 0;
    push @kids, $pid;
}

my @reloaded;
for my $i (1 .. 3) {
    my $before = progress();
    $t->wait_for(sub { progress() >= $before + 150 }, 10);
    push @reloaded, $t->reload();
}
my $during = progress();
$t->wait_for(sub { progress() >= $during + 60 }, 10);
$t->write_file('load.stop', '');
my $reaped = $t->wait_for(sub {
    @kids = grep { waitpid($_, POSIX::WNOHANG()) == 0 } @kids;
    return !@kids;
}, 20);
kill 'KILL', @kids;

is_deeply(\@reloaded, [1, 1, 1], '3 reloads under load: all reconfigured');
ok($reaped, 'load processes finished');
my ($total, $failed) = progress();
cmp_ok($total, '>=', $N * $nload, "load: $total requests done");
is($failed, 0, 'load: no request failed during the reloads')
    or diag(join "\n", map { $t->read_file("load.$_") } 1 .. $nload);
is(generation(), 4, 'status page: generation 4 after 3 reloads');
is(reloads(), 3, 'status page: 3 reloads');
my @workers = $t->wait_for(sub { my @w = $t->worker_pids(); @w == 2 }, 10)
    ? $t->worker_pids() : ();
is(scalar @workers, 2, 'the old workers are gone: 2 workers left');

# Hot keep-alive clients: each sends its next request the moment it has
# an answer, on the same connection, never retrying.  A retiring worker
# must not close such a connection under a request: it answers it with
# Connection: close (then the client reconnects, to a new worker).
sub hot {
    my ($k) = @_;
    my ($done, $failed, $closes, $s, @why) = (0, 0, 0);
    my $deadline = time() + 20;
    while (time() < $deadline && !-e "$dir/hot.stop") {
        $s //= $t->http_connect($port);
        my $r = $s && $t->http_send($s, "GET /healthz HTTP/1.1\r\n"
                                        . "Host: 127.0.0.1\r\n\r\n")
                && $t->http_read($s);
        if ($r && $r->{status} == 200) {
            if (($r->{headers}{connection} // '') eq 'close') {
                $closes++;
                undef $s;
            }
        } else {
            $failed++;
            push @why, "request $done: " . ($r ? "status $r->{status}"
                                               : 'no answer') if @why < 10;
            undef $s;
        }
        $done++;
        $t->write_file("hot.$k.tmp", "$done $failed $closes\n"
                                     . join("\n", @why));
        rename("$dir/hot.$k.tmp", "$dir/hot.$k");
    }
    POSIX::_exit(0);
}

sub hot_progress {
    my @sum = (0, 0, 0);
    for my $k (1 .. 4) {
        my @v = $t->read_file("hot.$k") =~ /^(\d+) (\d+) (\d+)/;
        $sum[$_] += $v[$_] // 0 for 0 .. 2;
    }
    return @sum;
}

my @hot;
for my $k (1 .. 4) {
    my $pid = fork() // die "fork: $!";
    hot($k) if $pid == 0;
    push @hot, $pid;
}
my $hot_reloads = 0;
for my $i (1 .. 4) {
    my ($before) = hot_progress();
    $t->wait_for(sub { (hot_progress())[0] >= $before + 100 }, 10);
    $hot_reloads += $t->reload() // 0;
    # the old workers retire while the clients keep going
    $t->wait_for(sub { my @w = $t->worker_pids(); @w == 2 }, 10);
}
$t->write_file('hot.stop', '');
$t->wait_for(sub {
    @hot = grep { waitpid($_, POSIX::WNOHANG()) == 0 } @hot;
    return !@hot;
}, 25);
kill 'KILL', @hot;
my ($hot_done, $hot_failed, $hot_closes) = hot_progress();
is($hot_reloads, 4, "hot keep-alive clients: 4 reloads ($hot_done requests,"
                    . " $hot_closes answered with Connection: close)");
is($hot_failed, 0, 'hot keep-alive clients: no request failed')
    or diag(join "\n", map { $t->read_file("hot.$_") } 1 .. 4);

# ------------------------------------------------------------ settings

my $port1 = $t->port(1);
(my $two = $base) =~ s/(  - "127\.0\.0\.1:%%PORT_0%%"\n)/$1  - "127.0.0.1:%%PORT_1%%"\n/;
$t->write_config($two);
is($t->reload(), 1, 'reload adding a listen port: reconfigured');
my $r = $t->http_get($port1, '/healthz');
is($r && $r->{status}, 200, 'the added port serves');
$r = $t->http_get($port, '/healthz');
is($r && $r->{status}, 200, 'the first port still serves');

$t->write_config($base);
is($t->reload(), 1, 'reload removing the port: reconfigured');
my $refused = $t->wait_for(sub { !$t->accepts($port1) }, 3);
ok($refused, 'the removed port no longer accepts connections');
$r = $t->http_get($port, '/healthz');
is($r && $r->{status}, 200, 'the remaining port serves');

# ------------------------------------------------------------ restart only

# keys that a reload cannot apply keep their running value, with a warning
my $mark = $t->log_offset();
$t->write_config($base . <<'EOF');
pid: other.pid
file_store:
  path: files2
  index_entries: 4096
EOF
is($t->reload(), 1, 'restart-only keys changed: reconfigured');
for my $key (qw(pid file_store.path file_store.index_entries)) {
    ok($t->wait_for_log(qr/\[warn\] \d+: "\Q$key\E" changed, but it is not (?#
                           )reloadable: the old value stays in effect/, 5, $mark),
       "restart-only: $key: warned");
}
ok(-e "$dir/remoteexec_proxy.pid" && !-e "$dir/other.pid",
   'restart-only: the pid file stays where it was');
ok(-d "$dir/files" && !-e "$dir/files2",
   'restart-only: the file store stays where it was');
$t->write_config($base);
is($t->reload(), 1, 'restart-only keys back: reconfigured');

# two SIGHUPs back to back: the second one, when it comes during the
# first reload, is not lost but follows it
{
    my $g = generation();
    my $m = $t->log_offset();
    kill 'HUP', $t->pid;
    $t->wait_for_log(qr/reconfiguring/, 10, $m);
    kill 'HUP', $t->pid;
    ok($t->wait_for(sub { generation() == $g + 2 }, 15),
       'two SIGHUPs in a row: two reloads') or diag(generation());
}

# ------------------------------------------------------------ failures

my $gen = generation();
$mark = $t->log_offset();
$t->write_config("workers: 2\nlisten: [ \"127.0.0.1:$port\" ]\nlimits: [\n",
                 raw => 1);
is($t->reload(), 0, 'broken configuration: reload failed');
like($t->wait_for_log(qr/\[emerg\]/, 1, $mark) // '',
     qr/\Q$dir\E\/remoteexec_proxy\.yaml:\d+:\d+/,
     'broken configuration: the error with FILE:LINE:COL');
$r = $t->http_get($port, '/healthz');
is($r && $r->{status}, 200, 'broken configuration: old one still serves');
is(generation(), $gen, 'broken configuration: generation unchanged');

my $busy = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                 Listen => 1, Proto => 'tcp')
    or die "listen: $!";
my $busy_port = $busy->sockport;
(my $bad = $base) =~ s/(  - "127\.0\.0\.1:%%PORT_0%%"\n)/$1  - "127.0.0.1:$busy_port"\n/;
$t->write_config($bad);
is($t->reload(), 0, 'port in use: reload failed');
$r = $t->http_get($port, '/healthz');
is($r && $r->{status}, 200, 'port in use: old configuration still serves');
is(generation(), $gen, 'port in use: generation unchanged');
close $busy;

# a worker that dies after failed reloads comes back with the running
# configuration's resources, not those of the cycles the reloads dropped
$t->write_config("workers: 2\nlisten: [ \"127.0.0.1:$port\" ]\nlimits: [\n",
                 raw => 1);
is($t->reload(), 0, 'another broken configuration: reload failed');
# the workers of earlier generations gone, the two left are current
$t->wait_for(sub { my @n = $t->worker_pids(); @n == 2 }, 10);
my @w = $t->worker_pids();
kill 'KILL', $w[0];
ok($t->wait_for(sub { my @n = $t->worker_pids();
                      @n == 2 && !grep { $_ == $w[0] } @n }, 10),
   'after failed reloads: a killed worker is replaced');
my $ok = 0;
for (1 .. 10) {    # both workers answer in turn, over new connections
    my $m = $t->http_get($port, '/metrics');
    $ok++ if $m && $m->{status} == 200
             && $m->{body} =~ /^remoteexec_proxy_exec_running 0$/m;
}
is($ok, 10, 'after failed reloads: /metrics with the Exec section, 10/10');

# ------------------------------------------------------------ -s

$t->write_config($base);
$mark = $t->log_offset();
my ($rc, $out, $err) = $t->run_cmd('-c', $t->conf_file, '-p', $dir,
                                   '-s', 'reload');
is($rc, 0, '-s reload: exit 0') or diag($err);
ok($t->wait_for_log(qr/reconfigured, generation/, 10, $mark),
   '-s reload: the master reloaded');
$r = $t->http_get($port, '/healthz');
is($r && $r->{status}, 200, '-s reload: serving');
is(generation(), $gen + 1, '-s reload: next generation');

($rc, $out, $err) = $t->run_cmd('-c', $t->conf_file, '-p', $dir,
                                '-s', 'stop');
is($rc, 0, '-s stop: exit 0') or diag($err);
is($t->wait_exit(10), 0, '-s stop: the master exited with status 0');
ok(!-e $t->pid_file, '-s stop: pid file removed');
ok(!$t->accepts($port), '-s stop: port closed');

($rc, $out, $err) = $t->run_cmd('-c', $t->conf_file, '-p', $dir,
                                '-s', 'reload');
is($rc, 1, '-s reload without a running master: exit 1');
