#!/usr/bin/perl
#
# The REAPI client (src/rpc/rx_grpc*.c, rx_reapi*.c) against the independent
# python3-grpcio test server t/reapi/reapi_server.py: every REAPI call the
# proxy makes, the retry policy, status mapping of broken responses (raw
# HTTP/2 port), deadlines, metadata, TLS, mTLS, a unix socket and many
# concurrent calls.  The C side is $RX_OBJS/unit/reapi_tool (t/unit/
# reapi_tool.c); its TAP lines become tests here, and the server's request
# log shows what went over the wire.
#
# TEST_RX_VALGRIND=1 runs every reapi_tool under valgrind --leak-check=full.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use File::Temp qw(tempdir);
use JSON::PP;
use Test::Rx::Reapi qw(missing tool closed_port);

my $why = missing(qw(tool grpc stubs));
plan skip_all => $why if $why;
plan skip_all => 'openssl CLI missing'
    unless system('openssl version >/dev/null 2>&1') == 0;

my $dir = tempdir('rx-grpc-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# ---------------------------------------------------------------- helpers

sub spew {
    my ($path, $data) = @_;
    open my $fh, '>:raw', $path or die "$path: $!";
    print {$fh} $data;
    close $fh or die "$path: $!";
}

sub yaml_conf {
    my ($name, %b) = @_;
    my $y = "backend:\n";
    my $h = delete $b{headers};
    for my $k (sort keys %b) {
        $y .= "  $k: $b{$k}\n";
    }
    if ($h) {
        $y .= "  headers:\n";
        $y .= "    $_: $h->{$_}\n" for sort keys %$h;
    }
    spew("$dir/$name.yaml", $y);
    return "$dir/$name.yaml";
}

sub pct {
    my ($v) = @_;
    $v =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge;
    return $v;
}

sub openssl {
    my (@args) = @_;
    system('openssl', @args) == 0 or die "openssl @args failed";
}

# A test CA, a server certificate for 127.0.0.1/localhost, a client
# certificate, and an unrelated CA.
sub make_pki {
    my $p = "$dir/pki";
    mkdir $p or die "$p: $!";
    open my $save, '>&', \*STDERR or die;
    open STDERR, '>', "$p/openssl.log" or die;
    openssl(qw(req -x509 -newkey rsa:2048 -nodes -days 2),
        -subj => '/CN=rx-test-ca', -keyout => "$p/ca.key",
        -out => "$p/ca.pem");
    openssl(qw(req -x509 -newkey rsa:2048 -nodes -days 2),
        -subj => '/CN=rx-wrong-ca', -keyout => "$p/wrong.key",
        -out => "$p/wrong.pem");
    spew("$p/srv.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    spew("$p/cli.ext", "extendedKeyUsage=clientAuth\n");
    for my $who (qw(srv cli)) {
        openssl(qw(req -newkey rsa:2048 -nodes), -subj => "/CN=rx-$who",
            -keyout => "$p/$who.key", -out => "$p/$who.csr");
        openssl(qw(x509 -req -days 2 -CAcreateserial), -in => "$p/$who.csr",
            -CA => "$p/ca.pem", -CAkey => "$p/ca.key",
            -out => "$p/$who.pem", -extfile => "$p/$who.ext");
    }
    open STDERR, '>&', $save or die;
    return $p;
}

# ---------------------------------------------------------------- servers

my $pki = make_pki();
my $token = 'tok-61-' . int(rand(1e9));
spew("$dir/token", "$token\n");

my $main = Test::Rx::Reapi->spawn(dir => $dir, name => 'main',
    args => ['--raw', '--real-exec', '--max-batch-bytes', 65536]);
my $tls = Test::Rx::Reapi->spawn(dir => $dir, name => 'tls',
    args => ['--tls-cert', "$pki/srv.pem", '--tls-key', "$pki/srv.key",
             '--require-auth', $token]);
my $mtls = Test::Rx::Reapi->spawn(dir => $dir, name => 'mtls',
    args => ['--tls-cert', "$pki/srv.pem", '--tls-key', "$pki/srv.key",
             '--client-ca', "$pki/ca.pem"]);
my $unix = Test::Rx::Reapi->spawn(dir => $dir, name => 'unix',
    args => ['--unix', "$dir/reapi.sock"]);
for my $s ($main, $tls, $mtls, $unix) {
    $s->wait_ready
        or BAIL_OUT('reapi_server.py (' . $s->name . ') did not start');
}

my $plain = yaml_conf('plain',
    address => '127.0.0.1:' . $main->port, insecure => 'on',
    bearer_token_file => "$dir/token", connections => 2,
    headers => { 'x-rx-test' => 'hello-61' });

# ---------------------------------------------------------------- CAS

tool($plain, 'caps:max_batch=65536,exec=1', 'find:n=20', 'action-miss',
    'upload:blobs=30x4000+3x150000,batches_min=2,writes=3');

my @batch = grep { ($_->{ev} // '') eq 'begin'
    && $_->{short} eq 'BatchUpdateBlobs' } $main->records;
my @write = grep { ($_->{ev} // '') eq 'begin' && $_->{short} eq 'Write' }
    $main->records;
cmp_ok(scalar @batch, '>=', 2, 'server saw several BatchUpdateBlobs calls');
is(scalar(grep { $_->{request}{uuid_ok} } @write), 3,
    'server saw 3 ByteStream.Write calls with a version 4 upload UUID');
is(scalar(grep { ($_->{request}{resource_name} // '')
    =~ m{^uploads/[-0-9a-f]{36}/blobs/[0-9a-f]{64}/150000$} } @write), 3,
    'Write resource names are uploads/UUID/blobs/HASH/SIZE');

$main->ctl_ok('fault Read:corrupt');
tool($plain, 'read-dataloss:label=corrupt%20read');
$main->ctl_ok('fault Read:truncate');
tool($plain, 'read-dataloss:label=truncated%20read');

# ---------------------------------------------------------------- Execute

tool($plain, 'execute:label=execute');
$main->ctl_ok('fault Execute:goaway:after=1');
tool($plain, 'execute:label=execute%20across%20GOAWAY,sleep=1,'
    . 'skip_cache=1,attempts_min=2');
ok(($main->wait_record(sub { ($_[0]{ev} // '') eq 'restart' }))[0],
    'server restarted (GOAWAY) during Execute');
ok(($main->wait_record(sub { ($_[0]{short} // '') eq 'WaitExecution'
    && ($_[0]{ev} // '') eq 'begin' }))[0],
    'client resumed with WaitExecution');

# ---------------------------------------------------------------- retries

$main->ctl_ok('fault FindMissingBlobs:unavailable:count=2');
tool($plain, 'call:label=UNAVAILABLE%20twice%20then%20OK,attempts=3');

my $msg = "50% done, \x{e9}";
my $msg_utf8 = $msg;
utf8::encode($msg_utf8);
$main->ctl_ok('fault FindMissingBlobs:status:code=PERMISSION_DENIED,message='
    . pct($msg_utf8));
tool($plain, 'call:label=Trailers-Only%20PERMISSION_DENIED,'
    . 'code=PERMISSION_DENIED,attempts=1,msg=' . pct($msg_utf8));

# ---------------------------------------------------------------- deadlines

$main->ctl_ok('fault FindMissingBlobs:deadline');
tool($plain, 'call:label=slow%20server,code=DEADLINE_EXCEEDED,timeout=700,'
    . 'max_attempts=1,meta=deadline-61');
my ($dl) = $main->wait_record(sub { ($_[0]{requestmetadata}{action_id} // '')
    eq 'deadline-61' });
ok($dl && defined $dl->{timeout_s} && $dl->{timeout_s} > 0.3
    && $dl->{timeout_s} <= 0.7, 'grpc-timeout of a 700 ms call arrives')
    or diag(encode_json($dl // {}));

tool($plain, 'call:label=metadata,timeout=5000,meta=md-61');
my ($md) = $main->wait_record(sub { ($_[0]{requestmetadata}{action_id} // '')
    eq 'md-61' });
$md //= {};
my $rm = $md->{requestmetadata} // {};
ok($md->{timeout_s} && $md->{timeout_s} > 4 && $md->{timeout_s} <= 5,
    'grpc-timeout: server sees about 5 s left')
    or diag($md->{timeout_s} // 'none');
is($rm->{tool_invocation_id}, 'inv-md-61', 'requestmetadata-bin decoded: '
    . 'tool_invocation_id');
is($rm->{tool_details}{tool_name}, 'reapi_tool',
    'requestmetadata-bin decoded: tool_details');
ok(!exists $md->{metadata}{authorization},
    'no bearer token over plaintext h2c');
is($md->{metadata}{'x-rx-test'}, 'hello-61', 'backend.headers sent');
like($md->{metadata}{'user-agent'} // '', qr/^grpc-c-remoteexec-proxy\//,
    'user-agent');
is($md->{authority}, '127.0.0.1:' . $main->port, ':authority is host:port');

# ---------------------------------------------------------------- limits

my $small = yaml_conf('small', address => '127.0.0.1:' . $main->port,
    insecure => 'on', bearer_token_file => "$dir/token",
    max_message_size => '4m');
$main->ctl_ok('fault BatchReadBlobs:oversize');
tool($small, 'call:label=8%20MiB%20response%20over%20a%204m%20limit,'
    . 'method=BatchReadBlobs,code=RESOURCE_EXHAUSTED,max_attempts=1');

tool($plain, 'call:label=500%20concurrent%20calls,n=500,digests=20,'
    . 'meta=conc-61,timeout=20000');
my @conc = grep { ($_->{ev} // '') eq 'begin'
    && ($_->{requestmetadata}{action_id} // '') eq 'conc-61' } $main->records;
is(scalar @conc, 500, 'server saw 500 calls');
my %peers = map { $_->{peer} => 1 } @conc;
ok(keys %peers >= 1 && keys %peers <= 2,
    'at most backend.connections = 2 connections used');

my $refused = yaml_conf('refused', address => '127.0.0.1:' . closed_port(),
    insecure => 'on');
tool($refused, 'call:label=connection%20refused,code=UNAVAILABLE,'
    . 'max_attempts=1,maxms=2000');

# ---------------------------------------------------------------- raw HTTP/2

my $raw = yaml_conf('raw', address => '127.0.0.1:' . $main->raw,
    insecure => 'on');
my $ok_recipe = 'headers msg= trailers=0';

sub raw_streams { grep { ($_->{ev} // '') eq 'raw' } $main->records }

$main->ctl_ok("raw $ok_recipe");
my $before = () = raw_streams();
$main->ctl_ok('raw-push rst=REFUSED_STREAM');
tool($raw, 'call:label=REFUSED_STREAM%20retried,attempts=1');
is(raw_streams() - $before, 2, 'REFUSED_STREAM: the call went out twice');

$main->ctl_ok('raw-push rst');
tool($raw, 'call:label=RST_STREAM%20INTERNAL_ERROR%20retried,attempts=2');

# the raw port allows 100 streams per connection (SETTINGS)
$before = () = raw_streams();
tool($raw, 'call:label=300%20calls%2C%20100%20streams%20per%20connection,'
    . 'n=300,timeout=20000');
my @streams = (raw_streams())[$before .. $before + 299];
my %ids;
$ids{$_->{stream}}++ for grep { $_ } @streams;
ok(scalar(grep { $_ > 1 } values %ids) > 0,
    'calls over the stream limit used the second connection');

$main->ctl_ok('raw rst');
tool($raw, 'call:label=RST_STREAM%20INTERNAL_ERROR,code=INTERNAL,'
    . 'max_attempts=1,msgsub='
    . pct('stream terminated by RST_STREAM with error code: INTERNAL_ERROR'));

$main->ctl_ok('raw early headers=503/text/html end');
tool($raw, 'call:label=HTTP%20503%20without%20a%20body,code=UNAVAILABLE,'
    . 'max_attempts=1');

$main->ctl_ok('raw early headers=503/text/html data=3c68746d6c3e end');
tool($raw, 'call:label=HTML%20503%20page,code=UNAVAILABLE,'
    . 'max_attempts=1');
$main->ctl_ok('raw early headers=200/text/html data=3c68746d6c3e end');
tool($raw, 'call:label=HTML%20page%20with%20status%20200,'
    . 'code=UNAVAILABLE,max_attempts=1');
$main->ctl_ok('raw early headers=200/text/html end');
tool($raw, 'call:label=text%2Fhtml%20without%20a%20body,code=UNAVAILABLE,'
    . 'max_attempts=1');

$main->ctl_ok('raw headers msg= end');
tool($raw, 'call:label=no%20grpc-status,code=INTERNAL,max_attempts=1,'
    . 'msgsub=without%20grpc-status');

# OK without the message: not an empty result (GetActionResult would
# otherwise turn it into a cache hit with nothing in it)
$main->ctl_ok('raw trailers-only=0');
tool($raw, 'call:label=Trailers-Only%20OK%20without%20a%20message,'
    . 'code=INTERNAL,max_attempts=1,msgsub=without%20exactly%20one');

$main->ctl_ok('raw trailers-only=7/' . pct($msg_utf8));
tool($raw, 'call:label=raw%20Trailers-Only%20percent-encoded,'
    . 'code=PERMISSION_DENIED,msg=' . pct($msg_utf8));

$main->ctl_ok('raw headers');
my $rst_before = () = grep { ($_->{frame} // '') eq 'RST_STREAM' }
    $main->records;
tool($raw, 'call:label=no%20answer,code=DEADLINE_EXCEEDED,timeout=300,'
    . 'max_attempts=1');
my @rst = $main->wait_record(sub { ($_[0]{frame} // '') eq 'RST_STREAM'
    && $_[0]{code} == 8 });
cmp_ok(scalar @rst, '>', $rst_before,
    'client sent RST_STREAM(CANCEL) at its deadline');
$main->ctl_ok("raw $ok_recipe");

# ---------------------------------------------------------------- TLS

# the TLS server wants "authorization: Bearer $token" on every call
my $tls_ok = yaml_conf('tls', address => '127.0.0.1:' . $tls->port,
    ca_file => "$pki/ca.pem", bearer_token_file => "$dir/token",
    headers => { 'x-rx-test' => 'hello-tls' });
tool($tls_ok, 'caps:label=TLS', 'find:label=TLS',
    'call:label=TLS%20metadata,meta=md-tls');
my ($tm) = $tls->wait_record(sub { ($_[0]{requestmetadata}{action_id} // '')
    eq 'md-tls' });
is($tm && $tm->{metadata}{authorization}, "Bearer $token",
    'TLS: authorization: Bearer from backend.bearer_token_file');
is($tm && $tm->{metadata}{'x-rx-test'}, 'hello-tls',
    'TLS: backend.headers sent');
my $tls_noauth = yaml_conf('tls-noauth',
    address => '127.0.0.1:' . $tls->port, ca_file => "$pki/ca.pem");
tool($tls_noauth, 'call:label=TLS%20without%20the%20token,'
    . 'code=UNAUTHENTICATED,max_attempts=1');

my $tls_bad = yaml_conf('tls-wrong-ca', address => '127.0.0.1:' . $tls->port,
    ca_file => "$pki/wrong.pem");
my $err = tool($tls_bad, 'call:label=TLS%20with%20the%20wrong%20CA,'
    . 'code=UNAVAILABLE,max_attempts=1');
like($err, qr/TLS handshake .* failed: .*(certificate|verif)/,
    'wrong CA: the log says why the verification failed');

my $mtls_ok = yaml_conf('mtls', address => '127.0.0.1:' . $mtls->port,
    ca_file => "$pki/ca.pem", client_certificate => "$pki/cli.pem",
    client_key => "$pki/cli.key");
tool($mtls_ok, 'caps:label=mTLS', 'find:label=mTLS');
my $mtls_none = yaml_conf('mtls-none', address => '127.0.0.1:' . $mtls->port,
    ca_file => "$pki/ca.pem");
tool($mtls_none, 'call:label=mTLS%20without%20a%20client%20certificate,'
    . 'code=UNAVAILABLE,max_attempts=1');

# ---------------------------------------------------------------- unix

my $ux = yaml_conf('unix', address => "unix:$dir/reapi.sock");
tool($ux, 'caps:label=unix', 'upload:label=unix,blobs=3x1000+1x5000000');
my ($ur) = $unix->wait_record(sub { ($_[0]{ev} // '') eq 'begin' });
is($ur && $ur->{authority}, 'localhost', 'unix socket: :authority localhost');

done_testing();
