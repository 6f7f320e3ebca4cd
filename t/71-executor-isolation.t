#!/usr/bin/perl
#
# Isolation of the embedded local executor's actions, with the real daemon
# and the python3-grpcio client t/executor/client.py (suite "isolation"):
# output paths and input symlinks leaving the input root are refused, an
# action cannot write outside its directory (as root the executor runs it
# as nobody), the action timeout kills the whole process group, and a
# SIGKILLed executor is restarted by the master while the client's
# in-flight Execute fails cleanly, and SIGTERM kills running actions.
# Then a configured sandbox that is not installed (a sandbox_program that
# does not exist) refuses actions with FAILED_PRECONDITION, and, when
# bubblewrap works here, actions run inside bwrap.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Path ();
use File::Temp ();
use Test::Rx;
use Test::Rx::Reapi qw(missing);
use Test::Rx::Tap;

my $ISOLATION_TESTS = 29;

my $why = missing(qw(grpc stubs));
plan skip_all => $why if $why;

sub find_prog {
    my ($name) = @_;
    for my $d (qw(/usr/bin /bin /usr/local/bin /usr/sbin /sbin)) {
        return "$d/$name" if -x "$d/$name";
    }
    return undef;
}

sub daemon {
    my (%opt) = @_;
    my $t = Test::Rx->new();
    chmod 0711, $t->testdir;    # the action user may pass, not write
    my $extra = $opt{extra} // '';
    my $srv = $opt{server_dir} // '.';    # executor and file store there
    $t->write_config(<<"EOF");
workers: 1
listen: [ "127.0.0.1:%%PORT_0%%" ]
file_store: {path: $srv/files}
executor:
  socket: $srv/executor.sock
  listen: 127.0.0.1:%%PORT_1%%
  root: $srv/executor
  jobs: 2
$extra
EOF
    return $t;
}

# t/executor/client.py against daemon $t: at most 90 s, told the status
# port and test directory too
my %client = (limit => 90, status => 1);

my $t = daemon();
# each Test::Rx object (daemon) adds its final log check
Test::More::plan(tests => $ISOLATION_TESTS + 19);
$t->run();
ok($t->wait_for_log(qr/executor: serving on/, 10), 'executor serving');
report('isolation', client($t, \%client, '--suite', 'isolation',
                           '--uid', scalar(getpwnam('nobody')) // 65534),
       $ISOLATION_TESTS);
like($t->read_file($t->error_log),
     qr/\[warn\] \d+: executor process \d+ exited on signal 9/,
     'the master saw the executor killed');
report('TERM', client($t, \%client, '--suite', 'term', '--master', $t->pid),
       3);
is($t->wait_exit(15), 0, 'TERM: the daemon exits');

{
    my $prog = $t->testdir . '/no-such/bwrap';
    my $n = daemon(extra => "  sandbox: bwrap\n  sandbox_program: $prog\n");
    $n->run();
    ok($n->wait_for_log(
           qr/executor\.sandbox is "bwrap" but \Q$prog\E is not installed/,
           10),
       'sandbox missing: logged at start');
    report('sandbox missing',
           client($n, \%client, '--suite', 'sandbox-missing'), 1);
    $n->stop();
}

SKIP: {
    my $bwrap = find_prog('bwrap');
    skip 'bwrap not installed (Debian bubblewrap)', 6 unless $bwrap;
    skip 'bwrap cannot create namespaces here', 6
        unless system("$bwrap --unshare-all --die-with-parent --ro-bind / / "
                      . '--dev /dev --proc /proc --tmpfs /tmp -- true '
                      . '>/dev/null 2>&1') == 0;
    # the server's files outside /tmp, which bwrap replaces anyway, and
    # on a path the action user may search whatever the checkout's is
    my $srv = File::Temp::tempdir('rx-t71-XXXXXX', DIR => '/var/tmp');
    chmod 0711, $srv;
    my $b = daemon(extra => "  sandbox: bwrap\n", server_dir => $srv);
    $b->run();
    ok($b->wait_for_log(qr/executor: serving on/, 10), 'bwrap: serving');
    report('bwrap', client($b, \%client, '--suite', 'sandbox',
                           '--server-dir', $srv), 3);
    $b->stop();
    File::Path::remove_tree($srv);
}
