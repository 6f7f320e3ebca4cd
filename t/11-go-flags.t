#!/usr/bin/perl
#
# The Go server's command-line flags: every flag of the table in
# src/core/rx_conf_flags.c is accepted as --flag=value and --flag value
# (boolean flags also bare, =false and as -flag with one dash, as Go's flag
# package allows), bad values fail -t, --port N makes the server listen on N, and
# values given by flags show on the status page, over the YAML ones.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Test::Rx;

my $t = Test::Rx->new();

# ------------------------------------------------------------ the table

my $src = do {
    open(my $fh, '<', 'src/core/rx_conf_flags.c')
        or die "cannot read src/core/rx_conf_flags.c: $!";
    local $/;
    <$fh>;
};
my @flags;
while ($src =~ /\{\s*"([a-z][\w-]*)",\s*([01]),\s*(rx_flag_\w+)/g) {
    push @flags, { name => $1, bool => $2, apply => $3 };
}

# a valid value for each kind of flag; files exist in the test directory
my $dir = $t->testdir;
$t->write_file('exec.cfg', <<'EOF');    # a Go text-format ConfigResp
configs {
  remoteexec_platform {
    properties { name: "container-image" value: "docker://example.com/img" }
  }
  dimensions: "os:linux"
}
EOF
$t->write_file('sa.json', "{}\n");
$t->write_file('ca.pem', '');
my %value_by_name = (
    'port'                       => undef,    # a free port, below
    'remoteexec-addr'            => '127.0.0.1:1',
    'remote-instance-name'       => 'projects/p/instances/default_instance',
    'allowed-users'              => 'a@example.com,*@example.org',
    'service-account-json'       => "$dir/sa.json",
    'exec-config-file'           => "$dir/exec.cfg",
    'additional-tls-certificate' => "$dir/ca.pem",
    'platform-container-image'   => 'docker://example.com/img@sha256:'
                                    . ('0' x 64),
    'max-digest-cache-entries'   => '4096',
    'exec-max-retry-count'       => '3',
    'trace-sampling-fraction'    => '0.5',
);
my %value_by_apply = (
    rx_flag_msec => '1m30s',
    rx_flag_num  => '7',
    rx_flag_str  => 'x',
    rx_flag_bool => 'true',
    rx_flag_ignored => '1',
);

$t->write_config(<<'EOF');
workers: 1
listen: [ "127.0.0.1:%%PORT_yaml%%" ]
backend:
  instance_name: from-yaml
EOF
$value_by_name{port} = $t->port('flag');

sub value_of {
    my ($f) = @_;
    return $value_by_name{$f->{name}} // $value_by_apply{$f->{apply}} // 'x';
}

my $ntests = 1 + @flags + 1 + 11 + 2 + 8;
$t->plan($ntests);

cmp_ok(scalar @flags, '>=', 27, 'the flag table was read (' . @flags . ')');

# ------------------------------------------------------------ accepted

# one -t per flag with every form of it: a flag given twice is allowed,
# the last one wins (as with Go's flag package)
my (@names, @sets);
for my $f (@flags) {
    my $v = value_of($f);
    if ($f->{bool}) {
        push @names, "--$f->{name}=true, bare, as -$f->{name} and =false";
        push @sets, ["--$f->{name}=$v", "--$f->{name}", "-$f->{name}",
                     "--$f->{name}=false"];
    } else {
        push @names, "--$f->{name}=$v and --$f->{name} $v";
        push @sets, ["--$f->{name}=$v", "--$f->{name}", $v];
    }
}
push @names, 'all flags at once';
push @sets, [map { $_->{bool} ? "--$_->{name}" : ("--$_->{name}", value_of($_)) }
             grep { $_->{name} ne 'preload' } @flags];

my @res = $t->test_configs(@sets);
for my $i (0 .. $#sets) {
    is($res[$i][0], 0, "$names[$i]: -t passes") or diag($res[$i][2]);
}

# ------------------------------------------------------------ rejected

sub fails {
    my ($name, $want_rc, $re, @args) = @_;
    my ($rc, $out, $err) = $t->test_config(@args);
    is($rc, $want_rc, "$name: exit $want_rc");
    like($err, $re, "$name: message") if $re;
}

fails('--exec-max-retry-count=x', 1,
      qr/invalid value "x" for flag "--exec-max-retry-count".*test failed/s,
      '--exec-max-retry-count=x');
fails('--port=0', 1, qr/invalid value "0" for flag "--port"/, '--port=0');
fails('--port 70000', 1, undef, '--port', '70000');
fails('--exec-execute-timeout=5x', 1, qr/"--exec-execute-timeout"/,
      '--exec-execute-timeout=5x');
fails('--insecure-remoteexec=maybe', 1, undef, '--insecure-remoteexec=maybe');
fails('--remoteexec-addr without a value', 2, qr/needs a value/,
      '--remoteexec-addr');
fails('--no-such-flag', 2, undef, '--no-such-flag');

# ------------------------------------------------------------ --port

my $port = $t->port('flag');
$t->run('--port', $port);
my $r = $t->http_get($port, '/healthz');
is($r && $r->{status}, 200, "--port $port: GET /healthz on that port");
ok(!$t->accepts($t->port('yaml')), '--port replaces the YAML listen list');
$t->stop();

# ------------------------------------------------------------ status page

my $addr = '127.0.0.1:' . $t->free_port('backend');
my $image = 'docker://gcr.io/x/y@sha256:' . ('ab' x 32);
$t->run("--port=$port", "--remoteexec-addr=$addr",
        '--remote-instance-name', 'projects/p/instances/from-flag',
        "--platform-container-image=$image",
        "--service-account-json=$dir/sa.json",
        '--exec-config-file', "$dir/exec.cfg", '--insecure-remoteexec');
my $page = $t->status_page($port);
like($page, qr/<h1>remoteexec_proxy /, 'status page served');
like($page, qr/\Q$addr\E/, 'status page: --remoteexec-addr');
like($page, qr{projects/p/instances/from-flag},
     'status page: --remote-instance-name');
unlike($page, qr/from-yaml/, 'status page: the flag overrides the YAML');
like($page, qr/\Q$image\E/, 'status page: --platform-container-image');
like($page, qr/\Q$dir\E\/sa\.json/, 'status page: --service-account-json');
like($page, qr/\Q$dir\E\/exec\.cfg/, 'status page: --exec-config-file');
like($page, qr/\*:\Q$port\E/, 'status page: the --port listener');
