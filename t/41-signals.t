#!/usr/bin/perl
#
# Signals: a worker killed with SIGKILL under load is replaced and requests
# keep succeeding; QUIT lets a request in flight finish (and new clients
# are not left hanging meanwhile), then the master exits; TERM and INT
# stop at once; USR1 reopens the error and access logs in the master and
# the workers.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Test::Rx;
use IO::Select;
use POSIX ();
use Socket qw(SOL_SOCKET SO_LINGER);
use Time::HiRes qw(time sleep);

my $t = Test::Rx->new();
my $dir = $t->testdir;
$t->write_config(<<'EOF');
workers: 2
listen: [ "127.0.0.1:%%PORT_0%%" ]
shutdown_timeout: 5s
limits:
  body_timeout: 20s
EOF
$t->plan(35)->run();

my $port = $t->port(0);
my $ping = '/cxx-compiler-service/ping';
my $host = "Host: 127.0.0.1:$port\r\n";
my $r;

sub alive { my ($pid) = @_; return kill(0, $pid) ? 1 : 0 }

# active connections over all workers, from the status page (the request
# for the page counts itself)
sub active_conns {
    my $page = $t->status_page($port);
    my $n = 0;
    $n += $1 while $page =~ m{<td>worker</td>(?:<td>[^<]*</td>){4}<td>\d+</td><td>(\d+)</td>}g;
    return $n;
}

# the first part of a POST whose body never completes
sub slow_post {
    my $s = $t->http_connect($port);
    $t->http_send($s, "POST $ping HTTP/1.1\r\n${host}Content-Length: 10\r\n"
                      . "\r\nhello");
    return $s;
}

# the processes holding the listening socket of 127.0.0.1:$port
sub listen_holders {
    my $hex = sprintf('0100007F:%04X', $port);
    my $inode;
    open(my $fh, '<', '/proc/net/tcp') or return ();
    while (<$fh>) {
        my @f = split;
        $inode = $f[9] if $f[1] eq $hex && $f[3] eq '0A';
    }
    close $fh;
    return () unless $inode;
    return grep {
        my $pid = $_;
        opendir(my $d, "/proc/$pid/fd");
        my $has = grep { (readlink("/proc/$pid/fd/$_") // '') eq
                         "socket:[$inode]" } readdir $d;
        $has;
    } ($t->pid, $t->child_pids($t->pid));
}

# ------------------------------------------------------------ sockets

{
    my @children = $t->child_pids($t->pid);
    my @expect = sort { $a <=> $b } ($t->pid, $t->worker_pids);
    ok(@children > 2, 'a cache manager besides the workers')
      or diag("@children");
    is(join(' ', sort { $a <=> $b } listen_holders()), join(' ', @expect),
       'only the master and the workers hold the listening socket');
}

# ------------------------------------------------------------ SIGKILL

{
    # a load process: new connections, one GET at a time, until the stop
    # file exists (10 s at most); reports "DONE FAILED"
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        my ($done, $failed) = (0, 0);
        my $deadline = time() + 10;
        while (time() < $deadline && !-e "$dir/load.stop") {
            my $r = $t->http_get($port, '/healthz');
            $failed++ unless $r && $r->{status} == 200;
            $done++;
            $t->write_file('load.tmp', "$done $failed\n");
            rename("$dir/load.tmp", "$dir/load");
        }
        POSIX::_exit(0);
    }
    my $progress = sub { ($t->read_file('load') =~ /^(\d+) (\d+)/)[0] // 0 };

    $t->wait_for(sub { $progress->() >= 50 }, 5);
    my @before = $t->worker_pids();
    is(scalar @before, 2, 'two workers');
    kill 'KILL', $before[0];
    my @after = $t->wait_for(sub {
        my @w = $t->worker_pids();
        return @w == 2 && !grep({ $_ == $before[0] } @w) ? \@w : undef;
    }, 5);
    my $after = $after[0] // [];
    is(scalar @$after, 2, 'a new worker replaced the killed one');
    ok((grep { $_ == $before[1] } @$after), 'the other worker is untouched');

    my $at = $progress->();
    $t->wait_for(sub { $progress->() >= $at + 100 }, 5);
    $t->write_file('load.stop', '');
    $t->wait_for(sub { waitpid($pid, POSIX::WNOHANG()) == $pid }, 10)
        or kill 'KILL', $pid;
    my ($done, $failed) = $t->read_file('load') =~ /^(\d+) (\d+)/;
    cmp_ok($done // 0, '>=', $at + 100, "load: $done requests");
    cmp_ok($failed // 1, '<=', 1,
           'load: at most the request in flight in the killed worker failed');
    ok($t->wait_for_log(qr/worker process $before[0] exited on signal 9/, 2),
       'the kill is logged');

    my $ok = 0;
    for (1 .. 20) {
        $r = $t->http_get($port, '/healthz');
        $ok++ if $r && $r->{status} == 200;
    }
    is($ok, 20, 'requests succeed after the respawn');
}

# ------------------------------------------------------------ QUIT

{
    my $s = slow_post();
    ok($t->wait_for(sub { active_conns() >= 2 }, 5),
       'QUIT: the slow request is being read by a worker');

    # an idle keep-alive connection
    my $idle = $t->http_connect($port);
    $t->http_send($idle, "GET /healthz HTTP/1.1\r\n$host\r\n");
    $r = $t->http_read($idle);
    is($r && $r->{status}, 200, 'QUIT: a keep-alive request before');

    my @workers = $t->worker_pids();
    my $master = $t->pid;
    my $mark = $t->log_offset();
    kill 'QUIT', $master;
    ok($t->wait_for_log(qr/\] $master: gracefully shutting down/, 5, $mark),
       'QUIT: the master shuts down gracefully');
    my $all = $t->wait_for(sub {
        my $log = $t->log_since($mark);
        return !grep { $log !~ /\] $_: gracefully shutting down/ } @workers;
    }, 5);
    ok($all, 'QUIT: so do the workers');
    ok($t->running, 'QUIT: the master waits for the request in flight');

    # a new client now: refused, answered or closed; never left hanging
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 2);
    my $fate = 'refused';
    if ($c) {
        $t->http_send($c, "GET /healthz HTTP/1.1\r\n$host\r\n");
        my @ready = IO::Select->new($c)->can_read(2);
        $fate = @ready ? 'answered or closed' : 'left hanging';
    }
    isnt($fate, 'left hanging', "QUIT: a new client is $fate");

    ok($t->http_closed($idle, 2),
       'QUIT: the idle keep-alive connection is closed');

    $t->http_send($s, 'world');
    $r = $t->http_read($s);
    is($r && $r->{status}, 200, 'QUIT: the request in flight completes');
    is($r && $r->{headers}{connection}, 'close',
       'QUIT: with Connection: close');
    close $s;
    is($t->wait_exit(8), 0, 'QUIT: then the master exits with status 0')
        or diag($t->read_file($t->error_log));
    ok($t->wait_for(sub { !grep { alive($_) } @workers }, 5),
       'QUIT: the workers are gone');
    ok(!-e $t->pid_file, 'QUIT: pid file removed');
}

# ------------------------------------------------------------ TERM, INT

for my $sig ('TERM', 'INT') {
    $t->run();
    my $s = slow_post();
    $t->wait_for(sub { active_conns() >= 2 }, 5);
    my @workers = $t->worker_pids();
    my $t0 = time();
    kill $sig, $t->pid;
    my $st = $t->wait_exit(10);
    my $took = time() - $t0;
    is($st, 0, "$sig: the master exits with status 0");
    SKIP: {
        # memcheck's leak scan at each process's exit takes seconds
        skip "$sig: exit time under valgrind", 1 if $ENV{RX_VALGRIND};
        cmp_ok($took, '<', 5, "$sig: not after shutdown_timeout (5 s)");
    }
    ok($t->http_closed($s, 5), "$sig: the request in flight is closed");
    ok($t->wait_for(sub { !grep { alive($_) } @workers }, 5),
       "$sig: the workers are gone");
}

# ------------------------------------------------------------ USR1

{
    $t->run();
    my $err = $t->error_log;
    my $acc = $t->access_log;
    rename($err, "$err.1") or die "rename: $!";
    rename($acc, "$acc.1") or die "rename: $!";
    kill 'USR1', $t->pid;

    # requests until one lands in the new access log: every worker reopens
    my $n = 0;
    my $found = $t->wait_for(sub {
        $n++;
        $t->http_get($port, "/healthz?usr1=$n");
        return -e $acc && $t->read_file($acc) =~ /usr1=$n /;
    }, 5);
    ok($found, 'USR1: a new access.log with the requests');
    my $old = $t->read_file("$acc.1");
    my $last = $n;
    $t->http_get($port, "/healthz?usr1=last$_") for 1 .. 4;
    unlike($t->read_file("$acc.1"), qr/usr1=last/,
           'USR1: the renamed access log gets no more lines');

    # a client that resets its connection: a worker logs recv() failed
    for my $w (1 .. 4) {
        my $s = $t->http_connect($port);
        $t->http_send($s, 'GET /');
        setsockopt($s, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0));
        close $s;
    }
    ok($t->wait_for(sub { $t->read_file($err) =~ /\[info\] \d+: recv\(\) failed/ }, 5),
       'USR1: the workers log into the new error.log');
    ok(-e $err, 'USR1: a new error.log');
    is($t->reload(), 1, 'USR1: reload after reopen');
    like($t->read_file($err), qr/reconfigured, generation/,
         'USR1: the master logs into the new error.log');

}
