#!/usr/bin/perl
#
# The command line and configuration errors: -t on a good file, every kind
# of mistake reported as "[emerg] <reason> for "<key.path>" in FILE:LINE:COL"
# with exit status 1, -V and -h, unknown options and flags (exit 2 and the
# usage on stderr).

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Test::Rx;

my $t = Test::Rx->new();
my $file = $t->conf_file;

# [name, YAML, expected error line without the "[emerg] PID: " prefix;
#  %F stands for the file]
my @bad = (
    ['unknown top-level key', <<'EOF', qr/unknown key for "foo" in %F:2:1$/],
listen: [ "127.0.0.1:1" ]
foo: 1
EOF
    ['unknown nested key', <<'EOF', qr/unknown key for "limits\.foo" in %F:3:3$/],
limits:
  header_size: 1k
  foo: 2
EOF
    ['mapping where a list is needed', <<'EOF', qr/expected [^"]*\blist\b[^"]* for "listen" in %F:1:9$/],
listen: {a: b}
EOF
    ['scalar where a mapping is needed', <<'EOF', qr/expected a mapping for "limits" in %F:1:9$/],
limits: 5
EOF
    ['list where a scalar is needed', <<'EOF', qr/expected a scalar for "workers" in %F:1:10$/],
workers: [1]
EOF
    ['bad size', <<'EOF', qr/invalid size .* for "limits\.body_size" in %F:2:14$/],
limits:
  body_size: 12q
EOF
    ['bad duration', <<'EOF', qr/invalid duration .* for "limits\.header_timeout" in %F:3:19$/],
limits:
  header_size: 4k
  header_timeout: 5x
EOF
    ['bad number', <<'EOF', qr/invalid number for "limits\.max_headers" in %F:2:16$/],
limits:
  max_headers: abc
EOF
    ['more workers than reloads leave room for', <<'EOF', qr/value out of range for "workers" in %F:1:10$/],
workers: 65
EOF
    ['number out of range', <<'EOF', qr/value out of range for "limits\.max_headers" in %F:2:16$/],
limits:
  max_headers: 3
EOF
    ['bad boolean', <<'EOF', qr/invalid boolean .* for "backend\.insecure" in %F:1:22$/],
backend: { insecure: maybe }
EOF
    ['bad log level', <<'EOF', qr/invalid log level .* for "log\.level" in %F:1:29$/],
log: { error: x.log, level: loud }
EOF
    ['duplicate key', <<'EOF', qr/duplicate key "workers" in %F:3:1$/],
workers: 2
listen: [ "127.0.0.1:1" ]
workers: 3
EOF
    ['invalid YAML', <<'EOF', qr/ in %F:3:1$/],
workers: 2
limits: [
EOF
    ['listen address without a port', <<'EOF', qr/invalid listen address .* for "listen" in %F:2:5$/],
listen:
  - nohost
EOF
    ['listen port out of range', <<'EOF', qr/invalid port for "listen" in %F:1:11$/],
listen: [ "127.0.0.1:99999" ]
EOF
    ['tls without a key', <<'EOF', qr/tls needs both certificate and key for "listen" in %F:2:5$/],
listen:
  - address: "127.0.0.1:1"
    tls:
      certificate: /nonexistent/cert.pem
EOF
    ['unknown executor sandbox', <<'EOF', qr/executor\.sandbox must be none or bwrap in %F$/],
executor: { sandbox: nsjail }
EOF
    ['relative sandbox program', <<'EOF', qr/executor\.sandbox_program must be an absolute path in %F$/],
executor: { sandbox: bwrap, sandbox_program: bin/bwrap }
EOF
);

$t->plan(5 + 3 * @bad + 11);

# ------------------------------------------------------------ a good file

$t->write_config(<<'EOF');
workers: 1
listen:
  - "127.0.0.1:%%PORT_0%%"
  - address: "127.0.0.1:%%PORT_1%%"
    backlog: 16
limits:
  max_connections: 100
  header_size: 8k
  max_headers: 50
  body_size: 1m
  header_timeout: 1m30s
  body_timeout: 500ms
  keepalive_timeout: 2s
  send_timeout: 10s
  keepalive_requests: 0
shutdown_timeout: 5s
backend:
  address: "127.0.0.1:1"
  instance_name: default/x
  insecure: on
exec:
  max_retry_count: 2
  timeouts: { execute: 10m, response: 30s }
EOF

my ($rc, $out, $err) = $t->test_config();
is($rc, 0, '-t: good file, exit 0');
like($err, qr/configuration \Q$file\E test is successful/,
     '-t: good file, "test is successful"');
ok(!-e $t->pid_file, '-t: no pid file');
ok(!$t->accepts($t->port(0)), '-t: does not listen');
unlike($err, qr/\[(?:emerg|alert|crit|error)\]/, '-t: good file, no errors');

# ------------------------------------------------------------ bad files

my @files = map { $t->write_config($bad[$_][1], raw => 1,
                                   name => "bad$_.yaml") } 0 .. $#bad;
my @res = $t->run_cmds(map { ['-t', '-c', $_, '-p', $t->testdir] } @files);
for my $i (0 .. $#bad) {
    my ($name, $yaml, $re) = @{$bad[$i]};
    my $f = quotemeta $files[$i];
    $re =~ s/%F/$f/;
    $re = qr/$re/;
    ($rc, $out, $err) = @{$res[$i]};
    is($rc, 1, "-t: $name: exit 1");
    like($err, qr/test failed/, "-t: $name: \"test failed\"");
    my ($line) = $err =~ /^(.*\[emerg\].*)$/m;
    $line //= $err;
    $line =~ s/^\S+ \S+ \[emerg\] \d+: //;
    like($line, $re, "-t: $name: reason, key and FILE:LINE:COL")
        or diag($err);
}

# ------------------------------------------------------------ options

my ($v, $h, $x, $nf, $c, $mf) = $t->run_cmds(['-V'], ['-h'], ['-x'],
    ['-t', '-c', $file, '--no-such-flag=1'], ['-c'],
    ['-t', '-c', "$file.missing"]);

is($v->[0], 0, '-V: exit 0');
like($v->[1] . $v->[2], qr/^remoteexec_proxy version \d+\.\d+/m, '-V: version');

is($h->[0], 0, '-h: exit 0');
like($h->[1], qr/Usage: remoteexec_proxy .*-c FILE/s, '-h: usage on stdout');

is($x->[0], 2, 'unknown option: exit 2');
like($x->[2], qr/Usage: remoteexec_proxy/, 'unknown option: usage on stderr');

is($nf->[0], 2, 'unknown flag: exit 2');
like($nf->[2], qr/unknown flag "--no-such-flag=1".*Usage: /s,
     'unknown flag: named, usage on stderr');

is($c->[0], 2, '-c without a file: exit 2');

is($mf->[0], 1, '-t: missing file: exit 1');
like($mf->[2], qr/open\(\) "\Q$file\E\.missing" failed/,
     '-t: missing file: named');
