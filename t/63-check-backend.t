#!/usr/bin/perl
#
# `remoteexec_proxy --check-backend` (src/rpc/rx_reapi_check.c): one
# GetCapabilities call with the command-line backend flags against the
# python3-grpcio test server t/reapi/reapi_server.py (and, if installed,
# BuildStream's CAS server, which cannot execute); exit status 0 with the
# capabilities printed, 1 with the gRPC status when the call fails.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use POSIX ();
use Time::HiRes qw(time);
use Test::Rx::Reapi qw(missing reap slurp closed_port);

my $objs = $ENV{RX_OBJS} // 'objs';
my $bin = "$objs/remoteexec_proxy";

plan skip_all => "$bin not built" unless -x $bin;
my $why = missing(qw(grpc stubs));
plan skip_all => $why if $why;

my $dir = tempdir('rx-check-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# Runs remoteexec_proxy --check-backend (bounded); returns (exit, output,
# seconds).
sub check_backend {
    my (@flags) = @_;
    my $out = "$dir/check.out";
    my $start = time;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null' or POSIX::_exit(127);
        open STDOUT, '>', $out or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(127);
        exec $bin, '--check-backend', @flags, '-p', $dir or warn "exec $!";
        POSIX::_exit(127);
    }
    my $rc = reap($pid, 30);
    return ($rc >> 8, slurp($out), time - $start);
}

my $reapi = Test::Rx::Reapi->start(dir => $dir,
    args => ['--instance', 'X', '--max-batch-bytes', 123456]);
BAIL_OUT('reapi_server.py did not start') unless $reapi;
my $port = $reapi->port;

my ($rc, $out) = check_backend('--remoteexec-addr', "127.0.0.1:$port",
    '--insecure-remoteexec', '--remote-instance-name', 'X');
is($rc, 0, 'exit status 0') or diag($out);
like($out, qr/instance "X", plaintext h2c/, 'names the backend');
like($out, qr/GetCapabilities OK, round trip [\d.]+ ms/, 'call OK');
like($out, qr/high API version: 2\.3\.0/, 'API versions');
like($out, qr/cache digest functions: SHA256/, 'digest functions');
like($out, qr/max batch total size: 123456 bytes/, 'batch limit');
like($out, qr/absolute symlinks: allowed/, 'symlink strategy');
like($out, qr/remote execution: enabled \(digest function SHA256\)/,
    'execution capabilities');
unlike($out, qr/warning|error/i, 'no warning');
my ($rec) = grep { /"GetCapabilities"/ && /"begin"/ } split /\n/,
    $reapi->log_text;
like($rec // '', qr/"instance_name": "X"/, 'server saw instance name X');

($rc, $out) = check_backend('--remoteexec-addr', "127.0.0.1:$port",
    '--insecure-remoteexec', '--remote-instance-name', 'Y');
is($rc, 1, 'unknown instance: exit status 1');
like($out, qr/GetCapabilities failed after [\d.]+ ms: INVALID_ARGUMENT: .*"Y"/,
    'unknown instance: the server\'s status and message');

my $free = closed_port();
my $secs;
($rc, $out, $secs) = check_backend('--remoteexec-addr', "127.0.0.1:$free",
    '--insecure-remoteexec', '--remote-instance-name', 'X');
is($rc, 1, 'connection refused: exit status 1');
like($out, qr/GetCapabilities failed after [\d.]+ ms: UNAVAILABLE/,
    'connection refused: UNAVAILABLE');
cmp_ok($secs, '<', 5, 'connection refused: fails fast');

# without an address the embedded executor's socket is the backend
($rc, $out) = check_backend('--remote-instance-name', 'X');
is($rc, 1, 'no backend address, no executor running: exit status 1');
like($out, qr/no backend configured|executor\.sock.*\n.*UNAVAILABLE/,
    'no backend address: says what it tried');

SKIP: {
    $why = missing('buildstream');
    skip $why, 3 if $why;
    my $cas = Test::Rx::Reapi->start(dir => $dir, kind => 'cas');
    skip 'casserver.py did not start', 3 unless $cas;
    ($rc, $out) = check_backend('--remoteexec-addr',
        '127.0.0.1:' . $cas->port, '--insecure-remoteexec');
    is($rc, 0, 'BuildStream CAS: exit status 0') or diag($out);
    like($out, qr/max batch total size: 1048576 bytes/,
        'BuildStream CAS: 1 MiB batch limit');
    like($out, qr/warning: this backend cannot execute actions/,
        'BuildStream CAS: warns that it cannot execute');
}

done_testing();
