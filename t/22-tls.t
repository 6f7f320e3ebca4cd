#!/usr/bin/perl
#
# TLS listeners: a self-signed certificate made with openssl(1) at test
# time; requests over TLS with IO::Socket::SSL (keep-alive, pipelining, a
# large body) and with `openssl s_client`; a plain-HTTP client or a silent
# one on the TLS port is dropped cleanly while the server keeps serving;
# a missing or mismatched key or certificate fails -t, naming the file.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Test::Rx;
use IO::Select;
use Time::HiRes qw(time);

my $t = Test::Rx->new()->has_progs('openssl');
my $dir = $t->testdir;

sub openssl {
    my (@args) = @_;
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>', '/dev/null');
        open(STDERR, '>', "$dir/openssl.err");
        exec('openssl', @args) or POSIX::_exit(127);
    }
    waitpid($pid, 0);
    return $? == 0;
}

for my $name ('server', 'other') {
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt',
            'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
            '-subj', '/CN=localhost', '-keyout', "$dir/$name.key",
            '-out', "$dir/$name.crt")
        or plan(skip_all => 'openssl cannot make a certificate: '
                            . $t->read_file('openssl.err'));
}

my $has_ssl = eval { require IO::Socket::SSL; 1 };

my $config = <<'EOF';
workers: 2
listen:
  - "127.0.0.1:%%PORT_plain%%"
  - address: "127.0.0.1:%%PORT_tls%%"
    tls:
      certificate: %%TESTDIR%%/server.crt
      key: %%TESTDIR%%/KEY
limits:
  header_timeout: 1s
EOF

$t->plan(21);

# ------------------------------------------------------------ -t

(my $c = $config) =~ s/KEY/missing.key/;
$t->write_config($c);
my ($rc, $out, $err) = $t->test_config();
is($rc, 1, 'missing key file: -t fails');
like($err, qr/\Q$dir\E\/missing\.key/, 'missing key file: named');

($c = $config) =~ s/KEY/server.key/;
$c =~ s/server\.crt/missing.crt/;
$t->write_config($c);
($rc, $out, $err) = $t->test_config();
is($rc, 1, 'missing certificate file: -t fails');
like($err, qr/\Q$dir\E\/missing\.crt/, 'missing certificate file: named');

($c = $config) =~ s/KEY/other.key/;
$t->write_config($c);
($rc, $out, $err) = $t->test_config();
is($rc, 1, 'key of another certificate: -t fails');

($c = $config) =~ s/KEY/server.key/;
$t->write_config($c);
($rc, $out, $err) = $t->test_config();
is($rc, 0, 'certificate and key: -t passes') or diag($err);

# ------------------------------------------------------------ serving

$t->run();
my $tls = $t->port('tls');
my $plain = $t->port('plain');
my $host = "Host: localhost:$tls\r\n";
my $r;

# TCP only, never a ClientHello: checked at the end, its timeout running
# meanwhile
my $silent = $t->http_connect($tls);

SKIP: {
    skip 'IO::Socket::SSL is not installed', 9 unless $has_ssl;

    $r = $t->http_request($tls, "GET /healthz HTTP/1.1\r\n$host"
                                . "Connection: close\r\n\r\n", tls => 1);
    is($r && $r->{status}, 200, 'TLS: GET /healthz: 200');
    is($r && $r->{body}, "ok\n", 'TLS: GET /healthz: body');

    my $s = $t->http_connect($tls, tls => 1);
    ok($s, 'TLS: handshake');
    my $ok = 0;
    for (1 .. 3) {
        $t->http_send($s, "GET /cxx-compiler-service/ping HTTP/1.1\r\n"
                          . "$host\r\n");
        $r = $t->http_read($s);
        $ok++ if $r && $r->{status} == 200;
    }
    is($ok, 3, 'TLS: 3 keep-alive requests');

    $t->http_send($s, "GET /healthz HTTP/1.1\r\n$host\r\n"
                      . "GET /nope HTTP/1.1\r\n$host\r\n");
    my $r1 = $t->http_read($s);
    my $r2 = $t->http_read($s);
    is(join(' ', map { $_ ? $_->{status} : '-' } $r1, $r2), '200 404',
       'TLS: 2 pipelined requests in one record');

    my $body = 'b' x 200000;
    $t->http_send($s, "POST /cxx-compiler-service/ping HTTP/1.1\r\n$host"
                      . "Content-Length: " . length($body) . "\r\n\r\n$body");
    $r = $t->http_read($s);
    is($r && $r->{status}, 200, 'TLS: POST with a 200 kB body');

    $r = $t->http_request($tls, "GET / HTTP/1.1\r\n${host}"
                                . "Connection: close\r\n\r\n", tls => 1);
    like($r ? $r->{body} : '', qr{listen \(tls\)</th><td>127\.0\.0\.1:$tls<},
         'TLS: status page lists the TLS listener');

    my $v = $s->get_sslversion // '';
    like($v, qr/^TLSv1_[23]$/, "TLS: version $v");

    $s = $t->http_connect($plain, tls => 1, ssl => { Timeout => 3 });
    ok(!$s, 'TLS client on the plain port: no handshake');
}

# openssl s_client, bounded by its own -quiet EOF and our timer
{
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open(STDERR, '>', '/dev/null');
        pipe(my $rd, my $wr);
        if (my $kid = fork()) {
            close $rd;
            print $wr "GET /healthz HTTP/1.1\r\n${host}Connection: close\r\n\r\n";
            close $wr;
            waitpid($kid, 0);
            POSIX::_exit(0);
        }
        close $wr;
        open(STDIN, '<&', $rd);
        exec('openssl', 's_client', '-connect', "127.0.0.1:$tls", '-quiet',
             '-servername', 'localhost') or POSIX::_exit(127);
    }
    my $got = '';
    my $deadline = time() + 5;
    my $sel = IO::Select->new($fh);
    while (time() < $deadline && $sel->can_read($deadline - time())) {
        my $n = sysread($fh, my $buf, 4096);
        last unless $n;
        $got .= $buf;
    }
    kill 'KILL', $pid if time() >= $deadline;
    close $fh;
    like($got, qr{^HTTP/1\.1 200 .*\r\n\r\nok\n}s,
         'openssl s_client: GET /healthz: 200');
}

# ------------------------------------------------------------ bad clients

{
    my $s = $t->http_connect($tls);
    $t->http_send($s, "GET /healthz HTTP/1.1\r\n$host\r\n");
    my $t0 = time();
    my $got = '';
    my $deadline = $t0 + 4;
    my $sel = IO::Select->new($s);
    while (time() < $deadline && $sel->can_read($deadline - time())) {
        my $n = sysread($s, my $buf, 4096);
        last unless $n;
        $got .= $buf;
    }
    unlike($got, qr/^HTTP/, 'plain HTTP on the TLS port: no HTTP answer');
    cmp_ok(time() - $t0, '<', 20, 'plain HTTP on the TLS port: closed');
}

ok($t->http_closed($silent, 4),
   'silent client on the TLS port: closed after header_timeout');

SKIP: {
    skip 'IO::Socket::SSL is not installed', 1 unless $has_ssl;
    $r = $t->http_request($tls, "GET /healthz HTTP/1.1\r\n$host"
                                . "Connection: close\r\n\r\n", tls => 1);
    is($r && $r->{status}, 200, 'TLS still served after the bad clients');
}

$r = $t->http_get($plain, '/healthz');
is($r && $r->{status}, 200, 'plain port still served');
