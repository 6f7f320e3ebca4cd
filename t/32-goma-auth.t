#!/usr/bin/perl
#
# Goma client authentication (GOMA_PROTOCOL.md §5): auth.mode none accepts
# everything; static_tokens wants the Authorization header to carry a token
# of auth.tokens_file ("Bearer TOKEN" or the bare token), answers 401
# "auth failed <addr>: <reason>\n" (ping: "auth failed: <reason>\n") with
# the first X-Forwarded-For element as <addr>, applies allowed_users to the
# token's user, logs the user in the access log, re-reads the tokens file
# on reload and refuses a malformed one naming file:line.

use strict;
use warnings;
use Test::More;

use lib 't/lib';
use Test::Rx;
use Test::Rx::Goma;

my $none = Test::Rx->new;
$none->write_config(<<'EOF');
listen: ["127.0.0.1:%%PORT_0%%"]
file_store: {path: files, index_entries: 1024}
auth: {mode: none}
EOF

my $t = Test::Rx->new;
goma_progs($t);
$t->write_file('tokens', <<'EOF');
# TOKEN USER [GROUP]
alice-s3cr3t  alice@example.com  builders

bob-t0ken	bob@other.org
EOF
my $CONF = <<'EOF';
listen: ["127.0.0.1:%%PORT_0%%"]
file_store: {path: files, index_entries: 1024}
auth:
  mode: static_tokens
  tokens_file: tokens
EOF
$t->write_config($CONF);

# 62 tests of ours, one final check for each of the two objects
$t->plan(62 + 1);
$none->run;
$t->run;

my $port = $t->port(0);
my $blob = { content => "authenticated content\n" };
my $sreq = store_req($blob);
my $LREQ = lookup_req(@{ $sreq->{keys} });

sub store {
    my ($p, %o) = @_;
    return rpc($p, 's', $sreq->{body}, accept => 'gzip', %o);
}

sub stored_ok {
    my ($r) = @_;
    my $k = $r && $r->{status} == 200 ? parse_store_resp($r->{body}) : undef;
    return $k && @$k == 1 && $k->[0] eq $sreq->{keys}[0];
}

sub failed_401 {
    my ($r, $body, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    is($r && "$r->{status} $r->{raw}", "401 $body", $name);
}

# waits until the workers started before a reload have exited: until then
# they may still answer new connections with the old configuration
sub wait_old_workers {
    my ($obj, @old) = @_;
    return $obj->wait_for(sub {
        my %now = map { $_ => 1 } $obj->worker_pids;
        return !grep { $now{$_} || kill(0, $_) } @old;
    }, 10);
}

###############################################################################
# auth.mode none

{
    my $p = $none->port(0);
    ok(stored_ok(store($p)), 'mode none: StoreFile without Authorization');
    ok(stored_ok(store($p, auth => 'Bearer whatever')),
        'mode none: any Authorization accepted');
    my $r = rpc($p, 'ping', '');
    is($r && "$r->{status} $r->{raw}", "200 ok\n",
        'mode none: ping without Authorization');
}

###############################################################################
# static_tokens: failures

{
    # refused from the head alone: a large body is neither waited for nor
    # buffered, and the connection closes after the answer
    my $s = $t->http_connect($port);
    $t->http_send($s, "POST /cxx-compiler-service/s HTTP/1.1\r\n"
                      . "Host: 127.0.0.1\r\n"
                      . "Content-Type: binary/x-protocol-buffer\r\n"
                      . "Content-Length: 50000000\r\n\r\n" . ('x' x 1000));
    my $r = $t->http_read($s);
    is($r && $r->{status}, 401,
       'no token, 50 MB announced: 401 without waiting for the body');
    ok($t->http_closed($s, 5), 'no token, 50 MB announced: then closed');
}

{
    my $r = store($port);
    failed_401($r, "auth failed 127.0.0.1: no Authorization header\n",
        '/s without Authorization: 401 auth failed <addr>: <reason>');
    like($r && $r->{raw}, qr/^auth failed [^\s:]+: [^\n]+\n\z/,
        'the body has the GOMA_PROTOCOL §5.2 shape');
    ok($r && $r->{headers}{'content-type'} eq 'text/plain; charset=utf-8'
        && ($r->{headers}{'x-content-type-options'} // '') eq 'nosniff',
        '401 is text/plain with nosniff');
    ok($r && !exists $r->{headers}{'accept-encoding'},
        '401 has no Accept-Encoding');

    for my $ep (qw(l sl)) {
        $r = rpc($port, $ep, $ep eq 'l' ? $LREQ : '');
        failed_401($r, "auth failed 127.0.0.1: no Authorization header\n",
            "/$ep without Authorization: 401");
    }

    $r = rpc($port, 'ping', '');
    failed_401($r, "auth failed: no Authorization header\n",
        'ping without Authorization: "auth failed: <reason>"');

    for my $bad ('Bearer nope', 'nope', 'Bearer alice-s3cr3', 'alice-s3cr3tX',
        'Bearer alice-s3cr3t bob-t0ken', 'Basic YWxpY2U6cGFzcw==',
        'Bearer ')
    {
        $r = store($port, auth => $bad);
        like($r && "$r->{status} $r->{raw}",
            qr/^401 auth failed 127\.0\.0\.1: [^\n]+\n\z/,
            "Authorization \"$bad\": 401");
    }
    $r = rpc($port, 'ping', '', auth => 'Bearer nope');
    like($r && "$r->{status} $r->{raw}", qr/^401 auth failed: [^\n]+\n\z/,
        'ping with a wrong token: 401 auth failed: <reason>');

    $r = store($port,
        headers => [ [ 'X-Forwarded-For', '10.1.2.3, 127.0.0.1' ] ]);
    failed_401($r, "auth failed 10.1.2.3: no Authorization header\n",
        'X-Forwarded-For: its first element is the address');
    $r = store($port, auth => 'Bearer nope',
        headers => [ [ 'X-Forwarded-For', '192.0.2.7' ] ]);
    like($r && $r->{raw}, qr/^auth failed 192\.0\.2\.7: /,
        'X-Forwarded-For with one element');
}

###############################################################################
# static_tokens: accepted

{
    ok(stored_ok(store($port, auth => 'Bearer alice-s3cr3t')),
        'Bearer form of a good token: 200');
    ok(stored_ok(store($port, auth => 'alice-s3cr3t')),
        'bare token: 200');
    ok(stored_ok(store($port, auth => 'Bearer bob-t0ken')),
        'second user of the tokens file: 200');
    my $r = rpc($port, 'l', $LREQ, auth => 'Bearer alice-s3cr3t',
        accept => 'gzip');
    is_blobs($r && parse_lookup_resp($r->{body}), $sreq->{blobs},
        'LookupFile with a good token');
    $r = rpc($port, 'sl', save_log_req('log'), auth => 'Bearer bob-t0ken',
        enc => 'gzip');
    is($r && "$r->{status}:$r->{raw}", '200:', 'SaveLog with a good token');
    $r = rpc($port, 'ping', '', auth => 'Bearer alice-s3cr3t',
        accept => 'gzip');
    is($r && "$r->{status} $r->{raw}", "200 ok\n", 'ping with a good token');

    $r = rpc($port, '/healthz', undef, method => 'GET');
    is($r && "$r->{status} $r->{raw}", "200 ok\n", '/healthz needs no auth');
    $r = rpc($port, '/healthz', undef, method => 'GET',
        auth => 'Bearer nope');
    is($r && $r->{status}, 200, '/healthz ignores a bad token');
    $r = rpc($port, '/', undef, method => 'GET');
    is($r && $r->{status}, 200, 'status page needs no auth');
}

###############################################################################
# the access log names the user

{
    my $line = sub {
        my ($re) = @_;
        return $t->wait_for(sub {
            my ($l) = grep { /$re/ } split /\n/, $t->read_file($t->access_log);
            return $l;
        }, 5);
    };
    my $req = sub {
        my ($user, $path, $status) = @_;
        return qr{^127\.0\.0\.1 - \Q$user\E \[[^]]+\] }
            . qr{"POST \Q$path\E HTTP/1\.1" $status };
    };
    ok($line->($req->('alice@example.com', '/cxx-compiler-service/s', 200)),
        'access log: user of an authenticated request');
    ok($line->($req->('bob@other.org', '/cxx-compiler-service/sl', 200)),
        'access log: the other user');
    ok($line->($req->('-', '/cxx-compiler-service/s', 401)),
        'access log: "-" for a rejected request');
}

###############################################################################
# reload re-reads the tokens file

{
    my @old = $t->worker_pids;
    $t->write_file('tokens', <<'EOF');
alice-s3cr3t alice@example.com builders
carol-new carol@example.com
EOF
    is($t->reload, 1, 'reload with a new tokens file');
    ok(wait_old_workers($t, @old), 'old workers gone');
    ok(stored_ok(store(rpc_conn($port), auth => 'Bearer carol-new')),
        'added token works after reload');
    my $r = store(rpc_conn($port), auth => 'Bearer bob-t0ken');
    like($r && "$r->{status} $r->{raw}", qr/^401 auth failed 127\.0\.0\.1: /,
        'removed token fails after reload');
    ok(stored_ok(store(rpc_conn($port), auth => 'alice-s3cr3t')),
        'kept token still works');
}

###############################################################################
# allowed_users

{
    my @old = $t->worker_pids;
    $t->write_file('tokens', <<'EOF');
alice-s3cr3t alice@example.com builders
bob-t0ken bob@other.org
carol-new carol@example.com
dave-tok dave@x.org
mallory-tok mallory@evilexample.com
eve-tok eve@sub.example.com
EOF
    $t->write_config($CONF
        . qq{  allowed_users: ["*\@example.com", "dave\@x.org"]\n});
    is($t->reload, 1, 'reload with allowed_users');
    ok(wait_old_workers($t, @old), 'old workers gone');
    my $p = rpc_conn($port);
    ok(stored_ok(store($p, auth => 'Bearer alice-s3cr3t')),
        '*@example.com admits alice@example.com');
    ok(stored_ok(store($p, auth => 'Bearer carol-new')),
        '*@example.com admits carol@example.com');
    my $r = store($p, auth => 'Bearer bob-t0ken');
    failed_401($r, "auth failed 127.0.0.1: access rejected\n",
        'bob@other.org: 401 access rejected');
    $r = rpc($p, 'ping', '', auth => 'Bearer bob-t0ken');
    failed_401($r, "auth failed: access rejected\n",
        'ping of a rejected user: auth failed: access rejected');
    $r = store($p, auth => 'Bearer mallory-tok');
    failed_401($r, "auth failed 127.0.0.1: access rejected\n",
        '*@example.com does not admit mallory@evilexample.com');
    $r = store($p, auth => 'Bearer eve-tok');
    failed_401($r, "auth failed 127.0.0.1: access rejected\n",
        '*@example.com does not admit eve@sub.example.com');
    ok(stored_ok(store($p, auth => 'Bearer dave-tok')),
        'an exact e-mail entry admits it');
}

###############################################################################
# a malformed tokens file: -t names file:line, a reload keeps the old one

{
    $t->write_file('tokens.bad', <<'EOF');
alice-s3cr3t alice@example.com
# a comment

lonely-token-without-user
EOF
    my $conf = $CONF =~ s/tokens_file: tokens/tokens_file: tokens.bad/r;
    my $file = $t->write_config($conf, name => 'bad.yaml');
    my ($st, $out, $err) = $t->run_cmd('-t', '-c', $file, '-p', $t->testdir);
    isnt($st, 0, '-t fails with a malformed tokens file');
    like($err, qr{\Q${\ $t->testdir}\E/tokens\.bad:4\b},
        '-t names the file and the line');

    $t->write_file('tokens.empty', "# nothing\n\n");
    $file = $t->write_config(
        $CONF =~ s/tokens_file: tokens/tokens_file: tokens.empty/r,
        name => 'empty.yaml');
    ($st, $out, $err) = $t->run_cmd('-t', '-c', $file, '-p', $t->testdir);
    isnt($st, 0, '-t fails with a tokens file without tokens');
    like($err, qr/tokens\.empty/, '... naming the file');

    $file = $t->write_config($CONF =~ s/tokens_file: tokens/tokens_file: nope/r,
        name => 'missing.yaml');
    ($st, $out, $err) = $t->run_cmd('-t', '-c', $file, '-p', $t->testdir);
    isnt($st, 0, '-t fails with a missing tokens file');

    $file = $t->write_config($CONF =~ s/  tokens_file: tokens\n//r,
        name => 'notokens.yaml');
    ($st, $out, $err) = $t->run_cmd('-t', '-c', $file, '-p', $t->testdir);
    isnt($st, 0, '-t fails for static_tokens without tokens_file');

    # the running daemon: a broken tokens file fails the reload only
    my @old = $t->worker_pids;
    $t->write_file('tokens', "good-token alice\@example.com\nbroken\n");
    is($t->reload, 0, 'reload with a malformed tokens file fails');
    is_deeply([ $t->worker_pids ], \@old, 'the workers keep running');
    ok(stored_ok(store(rpc_conn($port), auth => 'Bearer alice-s3cr3t')),
        'the old tokens still work');
    my $r = store(rpc_conn($port), auth => 'Bearer good-token');
    is($r && $r->{status}, 401, 'tokens of the rejected file do not');
    ok($t->wait_for_log(qr/tokens:2\b/, 1), 'the error log names tokens:2');
}

###############################################################################
# --allowed-users (the Go flag): comma-separated, whitespace trimmed

{
    $t->write_file('tokens', <<'EOF');
alice-s3cr3t alice@example.com builders
bob-t0ken bob@other.org
dave-tok dave@x.org
EOF
    $t->stop;
    $t->run('--allowed-users= bob@other.org , *@x.org');
    my $p = rpc_conn($port);
    ok(stored_ok(store($p, auth => 'Bearer bob-t0ken')),
        '--allowed-users: an e-mail (trimmed) admits it');
    ok(stored_ok(store($p, auth => 'Bearer dave-tok')),
        '--allowed-users: a *@domain (trimmed) admits it');
    my $r = store($p, auth => 'Bearer alice-s3cr3t');
    failed_401($r, "auth failed 127.0.0.1: access rejected\n",
        '--allowed-users replaces the YAML list');
}
