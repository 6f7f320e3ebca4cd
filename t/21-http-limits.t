#!/usr/bin/perl
#
# HTTP limits and timeouts (limits.* keys): 414 for a long request line,
# 431 for too many or too large headers, 413 for bodies over body_size
# (by Content-Length and chunked, the answer readable by the client), 408
# or a close for slow clients while others are served, idle keep-alive
# connections closed after keepalive_timeout, keepalive_requests.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Test::Rx;
use IO::Select;
use Time::HiRes qw(time);

my $t = Test::Rx->new();
$t->write_config(<<'EOF');
workers: 1
listen: [ "127.0.0.1:%%PORT_0%%" ]
limits:
  header_size: 1k
  max_headers: 10
  body_size: 4k
  header_timeout: 3s
  body_timeout: 1s
  keepalive_timeout: 1s
  keepalive_requests: 3
EOF
$t->plan(36)->run();

my $port = $t->port(0);
my $ping = '/cxx-compiler-service/ping';
my $host = "Host: 127.0.0.1:$port\r\n";
my $r;

sub req {
    my ($raw, %opt) = @_;
    return $t->http_request($port, $raw, %opt) // { status => 0, body => '',
                                                    headers => {} };
}

# ------------------------------------------------------------ head limits

$r = req('GET /' . ('a' x 2000) . " HTTP/1.1\r\n$host\r\n", check_close => 1);
is($r->{status}, 414, 'request line over header_size: 414');
ok($r->{eof}, '414: connection closed');

$r = req('GET /' . ('a' x 900) . " HTTP/1.1\r\n$host\r\n");
is($r->{status}, 404, 'long request line within header_size: served');

$r = req("GET /healthz HTTP/1.1\r\n$host"
         . join('', map { "X-H$_: $_\r\n" } 1 .. 11) . "\r\n",
         check_close => 1);
is($r->{status}, 431, 'more than max_headers headers: 431');
ok($r->{eof}, '431: connection closed');

$r = req("GET /healthz HTTP/1.1\r\n$host"
         . join('', map { "X-H$_: $_\r\n" } 1 .. 9) . "\r\n");
is($r->{status}, 200, 'max_headers headers: served');

$r = req("GET /healthz HTTP/1.1\r\n${host}X-Big: " . ('b' x 1500)
         . "\r\n\r\n");
is($r->{status}, 431, 'a header over header_size: 431');

$r = req("GET /healthz HTTP/1.1\r\n${host}X-1: " . ('b' x 500)
         . "\r\nX-2: " . ('c' x 500) . "\r\n\r\n");
is($r->{status}, 431, 'headers together over header_size: 431');

# ------------------------------------------------------------ body limits

my $body = 'z' x 5000;
$r = req("POST $ping HTTP/1.1\r\n${host}Content-Length: 5000\r\n\r\n$body",
         check_close => 1);
is($r->{status}, 413, 'Content-Length over body_size, body sent: 413');
ok($r->{eof}, '413: connection closed after the answer');

$r = req("POST $ping HTTP/1.1\r\n${host}Content-Length: 100000\r\n\r\n");
is($r->{status}, 413, 'Content-Length over body_size, no body yet: 413');

$r = req("POST $ping HTTP/1.1\r\n${host}Content-Length: 4096\r\n"
         . "Connection: close\r\n\r\n" . ('y' x 4096));
is($r->{status}, 200, 'body of exactly body_size: 200');

$r = req("POST $ping HTTP/1.1\r\n${host}Content-Length: 99999999999999999999"
         . "\r\n\r\n");
ok($r->{status} == 400 || $r->{status} == 413,
   "Content-Length that overflows: $r->{status}");

$r = req("POST $ping HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\n"
         . ("800\r\n" . ('c' x 2048) . "\r\n") x 3 . "0\r\n\r\n",
         check_close => 1);
is($r->{status}, 413, 'chunked body over body_size: 413');
ok($r->{eof}, 'chunked 413: connection closed');

$r = req("POST $ping HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\n"
         . "fffffffffffffffffff\r\n");
is($r->{status}, 413, 'chunk size that overflows: 413');

$r = req("POST $ping HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n"
         . "Connection: close\r\n\r\n"
         . ("400\r\n" . ('c' x 1024) . "\r\n") x 4 . "0\r\n\r\n");
is($r->{status}, 200, 'chunked body of exactly body_size: 200');

# ------------------------------------------------------------ timeouts

# All slow clients start together, so the whole section takes about one
# timeout.  Each is then watched until it gets an answer or is closed.

my %slow;
sub slow_client {
    my ($name, $data) = @_;
    my $s = $t->http_connect($port) or return;
    $t->http_send($s, $data) if length $data;
    $slow{$name} = { s => $s, start => time() };
}

# an idle keep-alive connection: one request, then nothing
{
    my $s = $t->http_connect($port);
    $t->http_send($s, "GET /healthz HTTP/1.1\r\n$host\r\n");
    $r = $t->http_read($s);
    is($r && $r->{status}, 200, 'keep-alive request served');
    $slow{idle} = { s => $s, start => time() };
}
slow_client('head', "GET /healthz HTTP/1.1\r\n$host");
slow_client('body', "POST $ping HTTP/1.1\r\n${host}Content-Length: 10\r\n"
                    . "\r\nhello");
slow_client('nothing', '');

# another client is served at once, while the slow ones wait
my $t0 = time();
$r = $t->http_get($port, '/healthz');
is($r && $r->{status}, 200, 'another client is served meanwhile');
my $waiting = grep { my @ready = IO::Select->new($_->{s})->can_read(0);
                      !@ready } values %slow;
is($waiting, 4, 'the slow clients were still waiting then');

# watch all of them at once: the time each one is closed
{
    my %by = map { fileno($slow{$_}{s}) => $_ } keys %slow;
    my $sel = IO::Select->new(map { $_->{s} } values %slow);
    my $deadline = time() + 6;
    while ($sel->count && time() < $deadline) {
        for my $fh ($sel->can_read($deadline - time())) {
            my $c = $slow{$by{fileno $fh}};
            my $n = sysread($fh, my $buf, 65536);
            if ($n) {
                $c->{data} .= $buf;
                next;
            }
            $c->{closed} = 1;
            $c->{elapsed} = time() - $c->{start};
            $sel->remove($fh);
        }
    }
    for my $c (values %slow) {
        $c->{status} = ($c->{data} // '') =~ m{^HTTP/1\.1 (\d{3}) } ? $1 : 0;
        $c->{elapsed} //= 99;
    }
}

my $h = $slow{head};
ok($h->{status} == 0 || $h->{status} == 408,
   "slow request head: 408 or nothing: $h->{status}");
ok($h->{closed}, 'slow request head: closed');
cmp_ok($h->{elapsed}, '>=', 2.9, 'slow request head: after header_timeout');
cmp_ok($h->{elapsed}, '<', 20, 'slow request head: not left open');

my $b = $slow{body};
is($b->{status}, 408, 'slow request body: 408');
ok($b->{closed}, 'slow request body: closed');
cmp_ok($b->{elapsed}, '>=', 0.9, 'slow request body: after body_timeout');
cmp_ok($b->{elapsed}, '<', 20, 'slow request body: not left open');

my $n = $slow{nothing};
ok(!$n->{status} && $n->{closed}, 'connection without a request: closed');
cmp_ok($n->{elapsed}, '<', 20, 'connection without a request: not left open');

my $i = $slow{idle};
ok(!$i->{status} && $i->{closed}, 'idle keep-alive connection: closed');
cmp_ok($i->{elapsed}, '>=', 0.9, 'idle keep-alive: after keepalive_timeout');
cmp_ok($i->{elapsed}, '<', 2.5,
       'idle keep-alive: soon after it (keepalive_timeout, not header_timeout)');

close $_->{s} for values %slow;

# ------------------------------------------------------------ requests

{
    my $s = $t->http_connect($port);
    my @c;
    for (1 .. 3) {
        $t->http_send($s, "GET /healthz HTTP/1.1\r\n$host\r\n");
        $r = $t->http_read($s);
        push @c, $r ? ($r->{headers}{connection} // 'keep') : 'none';
    }
    is_deeply(\@c, ['keep', 'keep', 'close'],
              'keepalive_requests 3: the third answer closes');
    ok($t->http_closed($s, 3), 'keepalive_requests: connection closed');
}

$r = $t->http_get($port, '/healthz');
is($r && $r->{status}, 200, 'still serving');
