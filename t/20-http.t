#!/usr/bin/perl
#
# The HTTP/1.1 server and the built-in routes: ping, /healthz, the status
# page, 404 and 405, HEAD, request-target forms, keep-alive, pipelining,
# Connection: close, HTTP/1.0, chunked request bodies, 100-continue, and
# the 4xx/5xx answers to malformed requests.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Test::Rx;
use Time::HiRes qw(time sleep);

my $t = Test::Rx->new();
$t->write_config(<<'EOF');
workers: 2
listen: [ "127.0.0.1:%%PORT_0%%" ]
EOF
$t->plan(78)->run();

my $port = $t->port(0);
my $ping = '/cxx-compiler-service/ping';
my $host = "Host: 127.0.0.1:$port\r\n";
my $r;

sub req {
    my ($raw, %opt) = @_;
    return $t->http_request($port, $raw, %opt) // { status => 0, body => '',
                                                    headers => {} };
}

# ------------------------------------------------------------ routes

$r = $t->http_get($port, $ping, 'Accept-Encoding' => 'gzip');
is($r->{status}, 200, 'GET ping: 200');
is($r->{body}, "ok\n", 'GET ping: body');
is($r->{headers}{'accept-encoding'}, 'gzip, deflate',
   'GET ping, client accepts gzip: Accept-Encoding: gzip, deflate');

$r = $t->http_post($port, $ping, '', 'Accept-Encoding' => 'deflate');
is($r->{status}, 200, 'POST ping: 200');
is($r->{body}, "ok\n", 'POST ping: body');
is($r->{headers}{'accept-encoding'}, 'deflate',
   'POST ping, client accepts deflate: Accept-Encoding: deflate');

$r = $t->http_get($port, $ping);
is($r->{headers}{'accept-encoding'}, 'deflate',
   'GET ping, no Accept-Encoding: deflate');

$r = $t->http_get($port, $ping, 'Accept-Encoding' => 'br, GZIP;q=0.5');
is($r->{headers}{'accept-encoding'}, 'gzip, deflate',
   'GET ping, gzip in a list, any case: gzip, deflate');

$r = $t->http_get($port, '/healthz');
is($r->{status}, 200, 'GET /healthz: 200');
is($r->{body}, "ok\n", 'GET /healthz: body');
like($r->{headers}{'content-type'} // '', qr{^text/plain},
     'GET /healthz: text/plain');
like($r->{headers}{date} // '', qr/^\w{3}, \d\d \w{3} \d{4} [\d:]{8} GMT$/,
     'Date header');

$r = $t->http_get($port, '/no/such/path');
is($r->{status}, 404, 'unknown path: 404');
is($r->{body}, "404 page not found\n", 'unknown path: exact body');

$r = $t->http_get($port, '/healthz/');
is($r->{status}, 404, 'trailing slash is another path: 404');

$r = req("PUT $ping HTTP/1.1\r\n${host}Content-Length: 0\r\n"
         . "Connection: close\r\n\r\n");
is($r->{status}, 405, 'PUT ping: 405');
is($r->{headers}{allow}, 'GET, HEAD, POST', 'PUT ping: Allow');

$r = req("DELETE /healthz HTTP/1.1\r\n${host}Connection: close\r\n\r\n");
is($r->{status}, 405, 'DELETE /healthz: 405');
is($r->{headers}{allow}, 'GET, HEAD', 'DELETE /healthz: Allow');

$r = req("POST /healthz HTTP/1.1\r\n${host}Content-Length: 0\r\n"
         . "Connection: close\r\n\r\n");
is($r->{status}, 405, 'POST /healthz: 405');

# ------------------------------------------------------------ HEAD

{
    my $s = $t->http_connect($port);
    $t->http_send($s, "HEAD /healthz HTTP/1.1\r\n${host}"
                      . "Connection: close\r\n\r\n");
    my $raw = '';
    my $deadline = time + 5;
    while (time < $deadline) {
        my $n = sysread($s, my $buf, 4096);
        last unless $n;
        $raw .= $buf;
    }
    like($raw, qr{^HTTP/1\.1 200 }, 'HEAD /healthz: 200');
    like($raw, qr/\r\nContent-Length: 3\r\n/i, 'HEAD: Content-Length of GET');
    like($raw, qr/\r\n\r\n\z/, 'HEAD: no body');
}

$r = $t->http_head($port, $ping);
is($r->{status}, 200, 'HEAD ping: 200');

# ------------------------------------------------------------ status page

my ($version) = ($t->run_cmd('-V'))[1] =~ /version (\S+)/;
$version //= '?';
$r = $t->http_get($port, '/');
is($r->{status}, 200, 'status page: 200');
like($r->{headers}{'content-type'} // '', qr{^text/html},
     'status page: text/html');
like($r->{body}, qr/remoteexec_proxy \Q$version\E/, 'status page: version');
like($r->{body}, qr{generation</th><td>1<}, 'status page: generation 1');
like($r->{body}, qr{uptime \(s\)</th><td>\d+<}, 'status page: uptime');
my @rows = $r->{body} =~ m{<tr><td>\d+</td><td>worker</td><td>(\d+)</td>}g;
is(scalar @rows, 2, 'status page: a row per worker');
is(join(' ', sort { $a <=> $b } @rows), join(' ', $t->worker_pids),
   'status page: the worker pids');

$r = $t->http_get($port, '/?refresh=1');
is($r->{status}, 200, 'status page with a query string');

# ------------------------------------------------------------ targets

$r = req("POST http://127.0.0.1:$port$ping HTTP/1.1\r\n${host}"
         . "Content-Length: 0\r\nConnection: close\r\n\r\n");
is($r->{status}, 200, 'absolute-form target: 200');
is($r->{body}, "ok\n", 'absolute-form target: ping body');

$r = req("GET http://127.0.0.1:$port/nothing-here HTTP/1.1\r\n${host}"
         . "Connection: close\r\n\r\n");
is($r->{status}, 404, 'absolute-form target, unknown path: 404');

$r = $t->http_get($port, '/healthz?x=1&y=/cxx-compiler-service/ping');
is($r->{status}, 200, 'query string ignored for routing: 200');
is($r->{body}, "ok\n", 'query string: the healthz body');

$r = $t->http_get($port, '/nope?/healthz');
is($r->{status}, 404, 'query string ignored for routing: 404');

# ------------------------------------------------------------ connections

$r = req("GET /healthz HTTP/1.0\r\n\r\n", check_close => 1);
is($r->{status}, 200, 'HTTP/1.0: 200');
ok($r->{eof}, 'HTTP/1.0: closed by default');

{
    my $s = $t->http_connect($port);
    $t->http_send($s, "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    $r = $t->http_read($s);
    is($r && $r->{headers}{connection}, 'keep-alive',
       'HTTP/1.0 keep-alive: Connection: keep-alive');
    $t->http_send($s, "GET /healthz HTTP/1.0\r\n\r\n");
    $r = $t->http_read($s);
    is($r && $r->{status}, 200, 'HTTP/1.0 keep-alive: second request');
}

{
    my $s = $t->http_connect($port);
    my $ok = 0;
    for my $i (1 .. 5) {
        my $path = $i % 2 ? '/healthz' : $ping;
        $t->http_send($s, "GET $path HTTP/1.1\r\n$host\r\n");
        $r = $t->http_read($s);
        $ok++ if $r && $r->{status} == 200 && $r->{body} eq "ok\n"
                 && !defined $r->{headers}{connection};
    }
    is($ok, 5, 'keep-alive: 5 requests on one connection');

    $t->http_send($s, "GET /healthz HTTP/1.1\r\n${host}"
                      . "Connection: close\r\n\r\n");
    $r = $t->http_read($s);
    is($r && $r->{status}, 200, 'Connection: close: 200');
    is($r && $r->{headers}{connection}, 'close',
       'Connection: close: answered with Connection: close');
    ok($t->http_closed($s, 5), 'Connection: close: the server closes');
}

{
    my $s = $t->http_connect($port);
    $t->http_send($s, "GET /healthz HTTP/1.1\r\n$host\r\n"
                      . "GET /pipelined-404 HTTP/1.1\r\n$host\r\n"
                      . "POST $ping HTTP/1.1\r\n${host}Content-Length: 4\r\n"
                      . "Connection: close\r\n\r\nbody");
    my @st;
    for (1 .. 3) {
        $r = $t->http_read($s);
        push @st, $r ? "$r->{status} $r->{body}" : 'none';
    }
    is_deeply(\@st, ["200 ok\n", "404 404 page not found\n", "200 ok\n"],
              'pipelining: 3 requests in one write, 3 responses in order');
    ok($t->http_closed($s, 5), 'pipelining: closed after the last');
}

# ------------------------------------------------------------ bodies

$r = req("POST $ping HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n"
         . "Connection: close\r\n\r\n"
         . "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n");
is($r->{status}, 200, 'chunked request body: 200');

{
    my $s = $t->http_connect($port);
    $t->http_send($s, "POST $ping HTTP/1.1\r\n${host}"
                      . "Transfer-Encoding: chunked\r\n\r\n"
                      . "a\r\n0123456789\r\n0\r\n\r\n"
                      . "GET /healthz HTTP/1.1\r\n$host\r\n");
    my $r1 = $t->http_read($s);
    my $r2 = $t->http_read($s);
    is($r1 && $r1->{status}, 200, 'chunked body, then a pipelined request');
    is($r2 && $r2->{status}, 200, 'the request after a chunked body');

    # a chunked body larger than one read of the head buffer: the
    # request line and headers must survive the reads of the body
    my $chunk = 'x' x 8192;
    $t->http_send($s, "POST $ping HTTP/1.1\r\n${host}"
                      . "Transfer-Encoding: chunked\r\n\r\n"
                      . ("2000\r\n$chunk\r\n" x 8) . "0\r\n\r\n");
    $r = $t->http_read($s);
    is($r && $r->{status}, 200, 'chunked body of 64 KiB: 200');
    is($r && $r->{body}, "ok\n", 'chunked body of 64 KiB: the ping body');
}

{
    my $s = $t->http_connect($port);
    $t->http_send($s, "POST $ping HTTP/1.1\r\n${host}Content-Length: 5\r\n"
                      . "Expect: 100-continue\r\n\r\n");
    $r = $t->http_read($s);
    is($r && $r->{status}, 100, 'Expect: 100-continue: 100 Continue first');
    is($r && $r->{reason}, 'Continue', 'Expect: 100-continue: reason');
    $t->http_send($s, 'hello');
    $r = $t->http_read($s);
    is($r && $r->{status}, 200, 'Expect: 100-continue: then the response');
    # the next request on the connection waits for its own 100
    $t->http_send($s, "POST $ping HTTP/1.1\r\n${host}Content-Length: 5\r\n"
                      . "Expect: 100-continue\r\n\r\n");
    $r = $t->http_read($s);
    is($r && $r->{status}, 100,
       'Expect: 100-continue: a second request on the connection gets one');
    $t->http_send($s, 'hello');
    $r = $t->http_read($s);
    is($r && $r->{status}, 200, 'Expect: 100-continue: second response');
}

{
    my $s = $t->http_connect($port);
    $t->http_send($s, "POST $ping HTTP/1.1\r\n${host}Content-Length: 3\r\n"
                      . "Expect: 100-continue\r\n\r\nabc");
    $r = $t->http_read($s);
    is($r && $r->{status}, 200,
       'Expect: 100-continue with the body already sent: no 100 needed');
}

$r = req("POST $ping HTTP/1.1\r\n${host}Connection: close\r\n\r\n");
is($r->{status}, 411, 'POST without Content-Length: 411');

$r = req("POST $ping HTTP/1.1\r\n${host}Content-Length: 5\r\n"
         . "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", check_close => 1);
is($r->{status}, 400, 'Content-Length and chunked: 400');
ok($r->{eof}, 'Content-Length and chunked: connection closed');

$r = req("POST $ping HTTP/1.1\r\n${host}Content-Length: 5\r\n"
         . "Content-Length: 6\r\n\r\nhello!");
is($r->{status}, 400, 'two different Content-Length values: 400');

$r = req("POST $ping HTTP/1.1\r\n${host}Transfer-Encoding: gzip\r\n\r\n");
is($r->{status}, 501, 'Transfer-Encoding other than chunked: 501');

$r = req("POST $ping HTTP/1.0\r\n${host}Transfer-Encoding: chunked\r\n"
         . "Connection: keep-alive\r\n\r\n0\r\n\r\n", check_close => 1);
is($r->{status}, 400, 'HTTP/1.0 with Transfer-Encoding: 400');
ok($r->{eof}, 'HTTP/1.0 with Transfer-Encoding: connection closed');

$r = req("POST $ping HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n"
         . "Connection: close\r\n\r\n1 0\r\nx\r\n0\r\n\r\n");
is($r->{status}, 400, 'chunk size with a blank inside ("1 0"): 400');
$r = req("POST $ping HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n"
         . "Connection: close\r\n\r\n5 \t;a=b\r\nhello\r\n0 \r\n\r\n");
is($r->{status}, 200, 'blanks between a chunk size and ";" or the line end');

# ------------------------------------------------------------ malformed

$r = req("HELLO\r\n\r\n", check_close => 1);
is($r->{status}, 400, 'garbage request line: 400');
ok($r->{eof}, 'garbage request line: connection closed');

$r = req("GET /healthz HTTP/2.0\r\n$host\r\n");
is($r->{status}, 505, 'HTTP/2.0: 505');

$r = req("GET /healthz HTTP/1.1\r\n${host}Bad Header: x\r\n\r\n");
is($r->{status}, 400, 'space in a header name: 400');

$r = req("GET /healthz HTTP/1.1\r\n$host folded\r\n\r\n");
is($r->{status}, 400, 'obsolete line folding: 400');

$r = req("GET healthz HTTP/1.1\r\n$host\r\n");
is($r->{status}, 400, 'target without a leading slash: 400');

$r = req("GET /healthz HTTP/1.1\r\n${host}Expect: something\r\n\r\n");
is($r->{status}, 417, 'unknown Expect: 417');

$r = $t->http_get($port, '/healthz');
is($r->{status}, 200, 'still serving after the errors');

# ------------------------------------------------------------ access log

my $access = $t->wait_for(sub {
    my $l = $t->read_file($t->access_log);
    return $l =~ /"GET \/healthz\?x=1&y=[^"]*" 200 / ? $l : '';
}, 5);
like($access, qr{^127\.0\.0\.1 - - \[[^\]]+\] "GET /healthz HTTP/1\.1" 200 \d+ 3 }m,
     'access log: client, request line, status, bytes');
like($access, qr{"PUT /cxx-compiler-service/ping HTTP/1\.1" 405 }m,
     'access log: the 405');
