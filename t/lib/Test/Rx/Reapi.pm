package Test::Rx::Reapi;

# The python3-grpcio peers of the REAPI tests as child processes: the
# REAPI test server t/reapi/reapi_server.py (request log, control channel,
# raw HTTP/2 port) and Debian's BuildStream CAS server run by
# t/reapi/casserver.py; what they need (missing), and the C side
# $RX_OBJS/unit/reapi_tool (t/unit/reapi_tool.c) whose TAP lines become
# tests (tool).
#
#     my $why = missing(qw(grpc stubs));
#     plan skip_all => $why if $why;
#     my $s = Test::Rx::Reapi->start(dir => $dir, args => ['--real-exec'])
#       or BAIL_OUT('reapi_server.py did not start');
#     tool($conf, 'caps:max_batch=4194304');    # $conf names $s->port
#     $s->ctl_ok('fault Read:corrupt');
#     my @calls = grep { $_->{ev} eq 'begin' } $s->records;
#
# A server's stdin is a pipe, so it exits when the test dies. Every wait
# is bounded; servers still running are stopped when the test ends.
#
# TEST_RX_VALGRIND=1 runs reapi_tool under valgrind --leak-check=full;
# TEST_RX_PYTHON names the python (default /usr/bin/python3).

use strict;
use warnings;

use Exporter qw(import);
use Test::More ();
use Carp qw(croak);
use File::Basename qw(basename dirname);
use File::Spec;
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use POSIX qw(WNOHANG);
use Scalar::Util qw(weaken);
use Time::HiRes qw(time sleep);

our @EXPORT_OK = qw(missing tool reap slurp closed_port $PYTHON);

our $PYTHON = $ENV{TEST_RX_PYTHON} // '/usr/bin/python3';
my $ROOT = File::Spec->rel2abs(dirname(__FILE__) . '/../../../..');
my %SCRIPT = (reapi => "$ROOT/t/reapi/reapi_server.py",
              cas => "$ROOT/t/reapi/casserver.py");
my $TOOL = ($ENV{RX_OBJS} // 'objs') . '/unit/reapi_tool';
my $VALGRIND = $ENV{TEST_RX_VALGRIND};
my $JSON = JSON::PP->new->utf8;
my $tool_runs = 0;
my @live;    # weak references to servers not stopped yet

# ------------------------------------------------------------ helpers

sub slurp {
  my ($path) = @_;
  open my $fh, '<:raw', $path or return '';
  local $/;
  return scalar <$fh> // '';
}

# Waits (bounded) for child $pid and returns its status; kills it only
# while it is still ours (a reaped pid may belong to anyone by now).
sub reap {
  my ($pid, $secs) = @_;
  my $until = time + $secs;
  while (waitpid($pid, WNOHANG) == 0) {
    if (time >= $until) {
      kill 'KILL', $pid;
      waitpid $pid, 0;
      last;
    }
    sleep 0.02;
  }
  return $?;
}

# A loopback TCP port that nobody listens on (it was free a moment ago).
sub closed_port {
  my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                Listen => 1) or croak "listen: $!";
  my $port = $s->sockport;
  close $s;
  return $port;
}

sub _python_imports {
  my ($modules) = @_;
  return system("$PYTHON -c 'import $modules' 2>/dev/null") == 0;
}

my %NEED = (
  grpc => [sub { _python_imports('grpc, google.protobuf') },
           "python3-grpcio or python3-protobuf missing ($PYTHON -c "
           . '"import grpc, google.protobuf")'],
  stubs => [sub { -x '/usr/bin/grpc_python_plugin'
                  && system('protoc --version >/dev/null 2>&1') == 0 },
            'protoc or grpc_python_plugin missing (Debian '
            . 'protobuf-compiler, protobuf-compiler-grpc)'],
  buildstream => [sub {
                    _python_imports('buildstream._artifactcache.casserver')
                  },
                  'python3-buildstream missing (Debian package '
                  . 'python3-buildstream provides its CAS server)'],
  tool => [sub { -x $TOOL }, "$TOOL not built (make units)"],
  valgrind => [sub { !$VALGRIND
                     || system('valgrind --version >/dev/null 2>&1') == 0 },
               'valgrind missing (TEST_RX_VALGRIND is set)'],
);

# Why the test cannot run, or undef: each of @needs is grpc (python with
# grpc and protobuf), stubs (protoc and grpc_python_plugin, which the
# servers use to generate their stubs), buildstream (its CAS server) or
# tool (reapi_tool built, and valgrind if TEST_RX_VALGRIND is set).
sub missing {
  my (@needs) = @_;
  for my $need (map { $_ eq 'tool' ? ('tool', 'valgrind') : $_ } @needs) {
    my $n = $NEED{$need} or croak "unknown need $need";
    return $n->[1] unless $n->[0]->();
  }
  return undef;
}

# ------------------------------------------------------------ reapi_tool

# tool($conf, @scenarios): runs reapi_tool test CONF SCENARIOS
# (bounded), its output files next to $conf, and turns its TAP lines into
# tests, plus one that it ran to its end (and under TEST_RX_VALGRIND one
# that valgrind found no errors). Returns its stderr.
sub tool {
  my ($conf, @scenarios) = @_;
  local $Test::Builder::Level = $Test::Builder::Level + 1;
  my $n = ++$tool_runs;
  my $dir = dirname($conf);
  my ($out, $err) = ("$dir/tool$n.out", "$dir/tool$n.err");
  my @vg = $VALGRIND ? ('valgrind', '-q', '--leak-check=full',
                        '--error-exitcode=99', "--log-file=$dir/vg$n.log")
                     : ();
  my $pid = fork // croak "fork: $!";
  if ($pid == 0) {
    open STDIN, '<', '/dev/null' or POSIX::_exit(127);
    open STDOUT, '>', $out or POSIX::_exit(127);
    open STDERR, '>', $err or POSIX::_exit(127);
    exec @vg, $TOOL, 'test', $conf, @scenarios or warn "exec $!";
    POSIX::_exit(127);
  }
  my $rc = reap($pid, $VALGRIND ? 180 : 60);
  _relay(slurp($out), slurp($err), $rc);
  if ($VALGRIND) {
    Test::More::is($rc >> 8 == 99 ? 99 : 0, 0, "valgrind: no errors ($n)")
      or Test::More::diag(slurp("$dir/vg$n.log"));
  }
  return slurp($err);
}

sub _relay {
  my ($out, $err, $rc) = @_;
  local $Test::Builder::Level = $Test::Builder::Level + 1;
  my ($tests, $plan, $failed) = (0, -1, 0);
  for my $line (split /\n/, $out) {
    if ($line =~ /^(not )?ok \d+ - (.*)$/) {
      $tests++;
      $failed = !Test::More::ok(!$1, $2);
    } elsif ($line =~ /^1\.\.(\d+)$/) {
      $plan = $1;
    } elsif ($line =~ /^#(\s+.*)/) {
      $failed ? Test::More::diag($1) : Test::More::note($1);
    } else {
      Test::More::diag($line);
    }
  }
  Test::More::ok($plan == $tests && $tests > 0, 'reapi_tool ran to its end')
    or Test::More::diag("exit status $rc, stderr:\n$err");
}

# ------------------------------------------------------------ servers

# spawn(dir => DIR, kind => 'reapi' | 'cas', name => NAME, args => [...],
# log => FILE, stubs => DIR, lifetime => S, err => FILE): starts
# reapi_server.py (kind reapi, the default) or casserver.py on 127.0.0.1
# port 0 (unless args has --listen or --unix) for at most S seconds
# (default 300), its stderr appended to FILE (default DIR/NAME.err) and,
# for reapi_server.py, its request log in FILE (default DIR/NAME.jsonl)
# and its stubs in DIR (default a temporary directory of its own). Returns
# at once; wait_ready reads its start-up lines.
sub spawn {
  my ($class, %o) = @_;
  my $kind = $o{kind} // 'reapi';
  my $script = $SCRIPT{$kind} or croak "unknown server kind $kind";
  my $dir = $o{dir} // croak 'spawn: dir needed';
  my $name = $o{name} // basename($script, '.py');
  my @args = @{ $o{args} // [] };
  my $self = bless { name => $name, what => basename($script) . " ($name)",
                     err => $o{err} // "$dir/$name.err", buf => '',
                     owner => $$ }, $class;
  unshift @args, '--listen', '127.0.0.1:0'
    unless grep { /^--(listen|unix)/ } @args;
  if ($kind eq 'reapi') {
    $self->{log} = $o{log} // "$dir/$name.jsonl";
    unshift @args, '--log', $self->{log};
    unshift @args, '--stubs-dir', $o{stubs} if $o{stubs};
  }
  $self->_fork($PYTHON, $script, '--max-lifetime', $o{lifetime} // 300,
               @args);
  push @live, $self;
  weaken($live[-1]);
  return $self;
}

sub _fork {
  my ($self, @argv) = @_;
  pipe(my $in_r, my $in_w) or croak "pipe: $!";
  pipe(my $out_r, my $out_w) or croak "pipe: $!";
  my $pid = fork // croak "fork: $!";
  if ($pid == 0) {
    close $in_w;
    close $out_r;
    open STDIN, '<&', $in_r or POSIX::_exit(126);
    open STDOUT, '>&', $out_w or POSIX::_exit(126);
    open STDERR, '>>', $self->{err} or POSIX::_exit(126);
    $ENV{GRPC_VERBOSITY} = 'NONE';
    exec @argv or POSIX::_exit(127);
  }
  close $in_r;
  close $out_w;
  @$self{qw(pid stdin stdout)} = ($pid, $in_w, $out_r);
}

# Reads the server's start-up lines ("PORT n", "UNIX path", "CONTROL n",
# "RAW n", then "READY"), bounded by $secs (default 60). True when ready;
# otherwise says why (diag) and stops it.
sub wait_ready {
  my ($self, $secs) = @_;
  my $sel = IO::Select->new($self->{stdout});
  my $until = time + ($secs // 60);
  while (time < $until && $sel->can_read($until - time)) {
    sysread($self->{stdout}, $self->{buf}, 4096, length $self->{buf})
      or last;
    while ($self->{buf} =~ s/^(\S+) ?(\S*)\n//) {
      my ($k, $v) = (lc $1, $2);
      return $self->{ready} = 1 if $k eq 'ready';
      $self->{$k} = $v if $k =~ /^(?:port|unix|control|raw)$/;
    }
  }
  Test::More::diag("$self->{what} did not start: $self->{buf}"
                   . slurp($self->{err}));
  $self->stop;
  return 0;
}

# spawn(%o) and wait_ready: the server, or undef if it did not start.
sub start {
  my ($class, %o) = @_;
  my $self = $class->spawn(%o);
  return $self->wait_ready ? $self : undef;
}

sub name { $_[0]->{name} }
sub port { $_[0]->{port} }
sub raw { $_[0]->{raw} }
sub control { $_[0]->{control} }
sub log_file { $_[0]->{log} }
sub err_file { $_[0]->{err} }
sub err_text { slurp($_[0]->{err}) }

# Exit status of a server that is not running any more (see running).
sub status { $_[0]->{status} }

# One control command; returns the reply line ("OK ..." / "ERR ...").
sub ctl {
  my ($self, $cmd) = @_;
  my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                PeerPort => $self->{control},
                                Proto => 'tcp', Timeout => 5)
    or return "ERR connect: $!";
  print {$s} "$cmd\n";
  my $sel = IO::Select->new($s);
  my $line = '';
  my $deadline = time + 10;
  while ($line !~ /\n/) {
    my $left = $deadline - time;
    last if $left <= 0 || !$sel->can_read($left);
    my $n = sysread $s, $line, 4096, length $line;
    last unless $n;
  }
  close $s;
  return 'ERR no reply' if $line eq '';
  $line =~ s/\r?\n.*//s;
  return $line;
}

# ctl, with a diagnostic unless the reply is OK.
sub ctl_ok {
  my ($self, $cmd) = @_;
  my $r = $self->ctl($cmd);
  Test::More::diag("control \"$cmd\": $r") unless $r =~ /^OK/;
  return $r;
}

# Number of calls of METHOD so far.
sub count {
  my ($self, $method) = @_;
  my $r = $self->ctl("count $method");
  return $r =~ /^OK (\d+)/ ? $1 : -1;
}

# The request log: its text, and its records decoded.
sub log_text { slurp($_[0]->{log}) }

sub records {
  my ($self) = @_;
  return grep { $_ } map { eval { $JSON->decode($_) } }
    split /\n/, $self->log_text;
}

# Polls the request log until $pred holds for some record (bounded by
# $secs, default 5); returns those records.
sub wait_record {
  my ($self, $pred, $secs) = @_;
  my $until = time + ($secs // 5);
  while (1) {
    my @hit = grep { $pred->($_) } $self->records;
    return @hit if @hit || time >= $until;
    sleep 0.05;
  }
}

sub running {
  my ($self) = @_;
  return 0 unless $self->{pid} && $self->{owner} == $$;
  my $r = waitpid $self->{pid}, WNOHANG;
  if ($r == $self->{pid} || $r == -1) {
    $self->{status} = $?;
    delete $self->{pid};
    return 0;
  }
  return 1;
}

# "stop" on the control channel and EOF on stdin, then TERM, then KILL;
# bounded.
sub stop {
  my ($self) = @_;
  $self->_ask_stop;
  $self->_wait_stop;
}

sub _ask_stop {
  my ($self) = @_;
  return unless $self->running;
  $self->ctl('stop') if $self->{control};
  close delete $self->{stdin} if $self->{stdin};
}

sub _wait_stop {
  my ($self) = @_;
  for my $sig (0, 'TERM', 'KILL') {
    kill $sig, $self->{pid} if $sig && $self->running;
    my $deadline = time + 5;
    while (time < $deadline) {
      return unless $self->running;
      sleep 0.02;
    }
  }
}

sub DESTROY {
  my ($self) = @_;
  local ($?, $@, $!);
  $self->stop if $self->{pid};
}

END {
  local ($?, $@, $!);
  my @s = grep { $_ && $_->{pid} } @live;
  $_->_ask_stop for @s;
  $_->_wait_stop for @s;
}

1;
