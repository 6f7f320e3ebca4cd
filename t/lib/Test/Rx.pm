package Test::Rx;

# The test harness for remoteexec_proxy, in the manner of nginx-tests'
# Test::Nginx: every test gets a temporary prefix, writes its YAML from a
# heredoc in which %%PORT_n%% becomes a free loopback port (held by a bound
# socket so that nobody else takes it before the daemon binds it) and
# %%TESTDIR%% the prefix, then forks and execs the real binary.
#
#     my $t = Test::Rx->new();
#     $t->write_config(<<'EOF');
#     listen: [ "127.0.0.1:%%PORT_0%%" ]
#     EOF
#     $t->plan(3)->run();
#     my $r = $t->http_get($t->port(0), '/healthz');
#     is($r->{status}, 200, 'healthz');
#
# plan(N) declares N + 1 tests: when the test ends, every Test::Rx object
# stops its daemon and adds one more test that fails if the error log holds
# [alert] or [crit] lines (unless allowed by allow_log) or a sanitizer
# report appeared.  A test that makes several objects plans one extra test
# for each.  Forked helper processes must leave with POSIX::_exit.
#
# Methods (see each one below):
#   new(start_timeout => S)  plan(N)  has_progs(@p)  allow_log(qr//)
#   port(n)  free_port  testdir  conf_file  error_log  access_log  pid_file
#   write_config(TEXT, raw => 1, name => F)  write_file  read_file
#   run(@args)  stop  running  wait_exit(S)  pid  worker_pids  child_pids
#   reload(S)  log_offset  log_since(OFF)  wait_for_log(qr//, S, OFF)
#   wait_for(sub, S)  run_cmd(@args)  run_cmds([@a], ...)  test_config(@a)
#   test_configs([@a], ...)  accepts(port)  status_page(port)
#   http_get/http_head(port, path, %hdrs)  http_post(port, path, body, %h)
#   http_request(port, raw, %opt)  http_connect(port, tls => 1)
#   http_send(sock, data)  http_read(sock, head => 1)  http_closed(sock, S)
#
# Environment: RX_OBJS (build directory, default objs), RX_ASAN_LOG_DIR
# (where ASan/UBSan write asan.PID / ubsan.PID), RX_VALGRIND (a directory:
# the daemon runs under valgrind's memcheck, which writes vg.PID there for
# every process, workers included; options come from VALGRIND_OPTS, as
# make check-valgrind sets them), TEST_RX_LEAVE=1 keeps the
# temporary directory, TEST_RX_VERBOSE=1 prints the daemon's logs.
#
# Only core Perl modules; IO::Socket::SSL is loaded on demand for tls.

use strict;
use warnings;

use Test::More ();
use Carp qw(croak);
use Errno qw(EAGAIN EINTR EWOULDBLOCK);
use File::Spec;
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Scalar::Util qw(weaken);
use Time::HiRes qw(time sleep);

our $VERSION = '1.0';

my @live;       # weak references to objects that still need finishing

# ---------------------------------------------------------------- objects

sub new {
    my ($class, %opts) = @_;
    my $objs = $ENV{RX_OBJS} // 'objs';
    my $self = bless {
        _dir      => tempdir('rx-test-XXXXXXXX', TMPDIR => 1,
                             CLEANUP => !$ENV{TEST_RX_LEAVE}),
        _bin      => File::Spec->rel2abs("$objs/remoteexec_proxy"),
        _ports    => {},
        _holders  => {},
        _allow    => [],
        _pids     => {},
        _owner    => $$,
        _start_timeout => ($opts{start_timeout} // 10)
                          * ($ENV{RX_VALGRIND} ? 4 : 1),
        _asan     => _sanitizer_files(),
    }, $class;
    diag("testdir $self->{_dir}") if $ENV{TEST_RX_LEAVE};
    push @live, $self;
    weaken($live[-1]);
    return $self;
}

sub testdir { $_[0]->{_dir} }
sub bin     { $_[0]->{_bin} }
sub pid     { $_[0]->{_pid} }
sub conf_file { "$_[0]->{_dir}/remoteexec_proxy.yaml" }
sub error_log { $_[0]->{_error_log} // "$_[0]->{_dir}/error.log" }
sub access_log { $_[0]->{_access_log} // "$_[0]->{_dir}/access.log" }
sub pid_file { $_[0]->{_pid_file} // "$_[0]->{_dir}/remoteexec_proxy.pid" }

sub diag { Test::More::diag(@_) }

# plan(N): N tests of the caller plus one final check per object
sub plan {
    my ($self, $n) = @_;
    Test::More::plan(tests => $n + 1);
    return $self;
}

# Skips the whole test unless @progs are all in PATH.
sub has_progs {
    my ($self, @progs) = @_;
    for my $p (@progs) {
        next if grep { -x "$_/$p" } File::Spec->path();
        Test::More::plan(skip_all => "$p not found in PATH");
    }
    return $self;
}

# Lines of the error log matching one of these do not fail the test.
sub allow_log {
    my ($self, @re) = @_;
    push @{$self->{_allow}}, @re;
    return $self;
}

# ---------------------------------------------------------------- ports

sub _hold_port {
    my ($self) = @_;
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', ReuseAddr => 1)
        or croak "cannot bind a loopback port: $!";
    return $s;
}

# The port number behind %%PORT_n%%, allocated on first use.  The bound
# (never listening) socket with SO_REUSEADDR keeps the kernel from handing
# the port to anybody else while still letting the daemon bind and listen.
sub port {
    my ($self, $n) = @_;
    croak 'port() needs a name' unless defined $n;
    unless (exists $self->{_ports}{$n}) {
        my $s = $self->_hold_port();
        $self->{_ports}{$n} = $s->sockport;
        $self->{_holders}{$n} = $s;
    }
    return $self->{_ports}{$n};
}

# A port that nobody listens on (for "connection refused" checks).
sub free_port {
    my ($self, $name) = @_;
    return $self->port($name // 'free_' . scalar(keys %{$self->{_ports}}));
}

# ---------------------------------------------------------------- config

sub _expand {
    my ($self, $text) = @_;
    $text =~ s/%%PORT_(\w+)%%/$self->port($1)/ge;
    $text =~ s/%%TESTDIR%%/$self->{_dir}/g;
    return $text;
}

sub _full_path {
    my ($self, $p) = @_;
    $p =~ s/^\s+|\s+$//g;
    $p =~ s/^(["'])(.*)\1$/$2/;
    return $p if $p eq 'stderr' || $p eq 'off' || $p =~ m{^/};
    return "$self->{_dir}/$p";
}

# Where the daemon will log and write its pid, from a block-style config.
sub _learn_paths {
    my ($self, $text) = @_;
    delete @{$self}{qw(_error_log _access_log _pid_file _listen_ports)};
    if ($text =~ /^pid:\s*(\S+)/m) {
        $self->{_pid_file} = $self->_full_path($1);
    }
    my ($log) = $text =~ /^(log:.*?)(?=^\S|\z)/ms;
    if (defined $log) {
        $self->{_error_log} = $log =~ /\berror:\s*([^\s,}#]+)/
            ? $self->_full_path($1) : 'stderr';
        $self->{_access_log} = $self->_full_path($1)
            if $log =~ /\baccess:\s*([^\s,}#]+)/;
        $self->{_log_level} = $log =~ /\blevel:\s*(\w+)/ ? $1 : 'notice';
    } else {
        $self->{_log_level} = 'info';
    }
    my ($listen) = $text =~ /^(listen:.*?)(?=^\S|\z)/ms;
    my @ports;
    if (defined $listen) {    # host:port, *:port, [v6]:port
        @ports = $listen =~ /(?:[\w.*-]+|\[[\w:.]*\]):(\d+)\b/g;
    }
    my %seen;
    $self->{_listen_ports} = [grep { !$seen{$_}++ } @ports];
}

# Writes the configuration file (remoteexec_proxy.yaml in the test
# directory, or $name) after expanding the placeholders.  Keys the test
# does not set get test defaults: workers 2, pid in the test directory,
# error.log/access.log at level info.
sub write_config {
    my ($self, $text, %opt) = @_;
    $text = $self->_expand($text);
    $text .= "\n" unless $text =~ /\n\z/;
    unless ($opt{raw}) {
        $text .= "workers: 2\n" unless $text =~ /^workers:/m;
        $text .= "pid: $self->{_dir}/remoteexec_proxy.pid\n"
            unless $text =~ /^pid:/m;
        $text .= "log: { error: error.log, access: access.log, "
               . "level: info }\n"
            unless $text =~ /^log:/m;
    }
    my $file = $opt{name}
        ? File::Spec->rel2abs($opt{name}, $self->{_dir}) : $self->conf_file;
    $self->write_file($file, $text);
    $self->_learn_paths($text) if !$opt{name} || $opt{learn};
    return $file;
}

sub write_file {
    my ($self, $name, $content) = @_;
    my $file = File::Spec->rel2abs($name, $self->{_dir});
    open(my $fh, '>', $file) or croak "cannot write $file: $!";
    binmode $fh;
    print $fh $content;
    close $fh or croak "cannot write $file: $!";
    return $file;
}

sub read_file {
    my ($self, $name) = @_;
    my $file = File::Spec->rel2abs($name, $self->{_dir});
    open(my $fh, '<', $file) or return '';
    binmode $fh;
    local $/;
    my $c = <$fh>;
    close $fh;
    return $c // '';
}

# ---------------------------------------------------------------- commands

# Runs the binary with @args (nothing added), bounded by $opt{timeout}
# seconds; returns (exit status, stdout, stderr).  Exit status is
# 128 + signal when killed.
sub run_cmd {
    my ($self, @args) = @_;
    my %opt = ref $args[-1] eq 'HASH' ? %{pop @args} : ();
    my $out = "$self->{_dir}/cmd.stdout";
    my $err = "$self->{_dir}/cmd.stderr";
    my $pid = fork() // croak "fork: $!";
    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>', $out);
        open(STDERR, '>', $err);
        exec($self->{_bin}, @args) or POSIX::_exit(127);
    }
    $self->{_pids}{$pid} = 1;
    my $status = $self->_wait_child($pid, $opt{timeout} // 10);
    my @res = ($status, $self->read_file($out), $self->read_file($err));
    $self->{_stderr_seen} .= $res[2];
    return @res;
}

# -t on the current configuration with @extra arguments.
sub test_config {
    my ($self, @extra) = @_;
    return $self->run_cmd('-t', '-c', $self->conf_file, '-p', $self->{_dir},
                          @extra);
}

# test_config for each array of extra arguments, several at a time;
# returns one [status, stdout, stderr] per array, in order.
sub test_configs {
    my ($self, @sets) = @_;
    my @pre = ('-t', '-c', $self->conf_file, '-p', $self->{_dir});
    return $self->run_cmds(map { [@pre, @$_] } @sets);
}

# run_cmd for each array of arguments, up to 8 at a time; returns one
# [status, stdout, stderr] per array, in order.
sub run_cmds {
    my ($self, @sets) = @_;
    my (@res, %running);
    my $next = 0;
    my $deadline = time() + 10 + @sets;
    while ($next < @sets || %running) {
        while ($next < @sets && keys %running < 8) {
            my $i = $next++;
            my $pid = fork() // croak "fork: $!";
            if ($pid == 0) {
                open(STDIN, '<', '/dev/null');
                open(STDOUT, '>', "$self->{_dir}/cmd.$i.stdout");
                open(STDERR, '>', "$self->{_dir}/cmd.$i.stderr");
                exec($self->{_bin}, @{$sets[$i]}) or POSIX::_exit(127);
            }
            $self->{_pids}{$pid} = 1;
            $running{$pid} = $i;
        }
        my $reaped = 0;
        for my $pid (keys %running) {
            next unless waitpid($pid, WNOHANG) == $pid;
            my $i = delete $running{$pid};
            $res[$i] = [_status($?), $self->read_file("cmd.$i.stdout"),
                        $self->read_file("cmd.$i.stderr")];
            unlink "$self->{_dir}/cmd.$i.stdout", "$self->{_dir}/cmd.$i.stderr";
            $self->{_stderr_seen} .= $res[$i][2];
            $reaped++;
        }
        next if $reaped;
        if (time() > $deadline) {
            kill 'KILL', keys %running;
            croak 'run_cmds: timed out';
        }
        sleep(0.005);
    }
    return @res;
}

sub _wait_child {
    my ($self, $pid, $timeout) = @_;
    my $deadline = time() + $timeout;
    while (time() < $deadline) {
        my $r = waitpid($pid, WNOHANG);
        return _status($?) if $r == $pid;
        return -1 if $r == -1;
        sleep(0.01);
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
    Test::More::diag("process $pid killed after ${timeout}s");
    return _status($?);
}

sub _status {
    my ($st) = @_;
    return $st & 127 ? 128 + ($st & 127) : $st >> 8;
}

# ---------------------------------------------------------------- daemon

# Starts the daemon with -c CONF -p TESTDIR @extra and waits until the pid
# file names it, every listen port (and --port) accepts and, when the log
# level shows notices, the master logged "ready".
sub run {
    my ($self, @extra) = @_;
    croak 'daemon already running' if $self->{_pid};
    croak 'write_config() first' unless -f $self->conf_file;
    my $mark = $self->log_offset();
    my $pid = fork() // croak "fork: $!";
    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>>', "$self->{_dir}/stderr");
        open(STDERR, '>>', "$self->{_dir}/stderr");
        my @vg = $ENV{RX_VALGRIND}
            ? ('valgrind', "--log-file=$ENV{RX_VALGRIND}/vg.%p")
            : ();
        exec(@vg, $self->{_bin}, '-c', $self->conf_file, '-p', $self->{_dir},
             @extra) or POSIX::_exit(127);
    }
    $self->{_pid} = $pid;
    $self->{_pids}{$pid} = 1;
    my @ports = @{$self->{_listen_ports} // []};
    for my $i (0 .. $#extra) {    # --port N replaces the listen list
        next unless $extra[$i] =~ /^--?port(?:=(\d+))?$/;
        my $p = $1 // $extra[$i + 1];
        @ports = ($p) if defined $p && $p =~ /^\d+$/;
    }
    my $why = $self->_wait_started($mark, \@ports);
    if ($why) {
        my $log = $self->read_file($self->error_log)
                . $self->read_file("$self->{_dir}/stderr");
        $self->stop() if $self->{_pid};
        croak "remoteexec_proxy did not start: $why\n$log";
    }
    return $self;
}

sub _wait_started {
    my ($self, $mark, $ports) = @_;
    my $deadline = time() + $self->{_start_timeout};
    my $want_ready = $self->error_log ne 'stderr'
        && $self->{_log_level} =~ /^(notice|info|debug)$/;
    while (time() < $deadline) {
        my $r = waitpid($self->{_pid}, WNOHANG);
        if ($r == $self->{_pid}) {
            delete $self->{_pid};
            return 'exited with status ' . _status($?);
        }
        if ($self->_pid_from_file() == $self->{_pid}
            && !(grep { !$self->accepts($_) } @$ports)
            && (!$want_ready
                || $self->log_since($mark) =~ /\] \d+: ready: /))
        {
            return undef;
        }
        sleep(0.02);
    }
    return "not up after $self->{_start_timeout}s";
}

sub _pid_from_file {
    my ($self) = @_;
    my $c = $self->read_file($self->pid_file);
    return $c =~ /^(\d+)\n/ ? $1 : 0;
}

# Does 127.0.0.1:$port accept a TCP connection (closed at once)?
sub accepts {
    my ($self, $port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 1);
    return 0 unless $s;
    close $s;
    return 1;
}

# Is the master still alive (reaps it if it exited)?
sub running {
    my ($self) = @_;
    return 0 unless $self->{_pid};
    my $r = waitpid($self->{_pid}, WNOHANG);
    if ($r == $self->{_pid} || $r == -1) {
        $self->{_exit_status} = _status($?) if $r == $self->{_pid};
        delete $self->{_pid};
        return 0;
    }
    return 1;
}

# Waits up to $timeout seconds for the master to exit by itself; returns
# its exit status, or undef if it is still running.
sub wait_exit {
    my ($self, $timeout) = @_;
    my $deadline = time() + ($timeout // 10);
    while ($self->{_pid}) {
        last unless $self->running();
        return undef if time() >= $deadline;
        sleep(0.02);
    }
    return $self->{_exit_status};
}

# QUIT, then TERM, then KILL, each bounded; returns the exit status.
sub stop {
    my ($self, %opt) = @_;
    return $self->{_exit_status} unless $self->{_pid};
    for my $step (['QUIT', $opt{quit_timeout} // 10], ['TERM', 5],
                  ['KILL', 5])
    {
        my ($sig, $timeout) = @$step;
        kill $sig, $self->{_pid};
        my $st = $self->wait_exit($timeout);
        if (defined $st) {
            Test::More::diag("remoteexec_proxy needed SIG$sig")
                if $sig eq 'KILL';
            return $st;
        }
    }
    return undef;
}

# The pids of the master's worker processes (not the cache manager or
# other helpers), from /proc and the master's "start worker process" lines.
sub worker_pids {
    my ($self) = @_;
    return () unless $self->{_pid};
    my $worker = $self->{_workers_seen} //= {};    # survives log rotation
    $worker->{$_} = 1
        for $self->read_file($self->error_log) =~ /start worker process (\d+)/g;
    return sort { $a <=> $b } grep { $worker->{$_} }
        $self->child_pids($self->{_pid});
}

sub child_pids {
    my ($self, $ppid) = @_;
    my @pids;
    opendir(my $d, '/proc') or return ();
    for my $p (grep { /^\d+$/ } readdir $d) {
        open(my $fh, '<', "/proc/$p/stat") or next;
        my $stat = <$fh> // '';
        close $fh;
        # pid (comm) state ppid ...; comm may hold spaces or parentheses
        next unless $stat =~ /\)\s+(\S)\s+(\d+)/;
        next if $1 eq 'Z' || $2 != $ppid;
        push @pids, $p + 0;
    }
    closedir $d;
    $self->{_pids}{$_} = 1 for @pids;
    return sort { $a <=> $b } @pids;
}

# Waits (bounded) until $cond->() is true; returns its last value.
sub wait_for {
    my ($self, $cond, $timeout) = @_;
    my $deadline = time() + ($timeout // 5);
    my $v;
    until ($v = $cond->()) {
        return $v if time() >= $deadline;
        sleep(0.02);
    }
    return $v;
}

# ---------------------------------------------------------------- logs

sub log_offset {
    my ($self) = @_;
    return -s $self->error_log // 0;
}

# The error log from byte $offset (see log_offset) on.
sub log_since {
    my ($self, $offset) = @_;
    my $c = $self->read_file($self->error_log);
    return length($c) >= ($offset // 0) ? substr($c, $offset // 0) : $c;
}

# Waits up to $timeout seconds for a line matching $re in the error log
# written after byte $offset; returns the line, or undef.
sub wait_for_log {
    my ($self, $re, $timeout, $offset) = @_;
    my $line;
    $self->wait_for(sub {
        ($line) = grep { /$re/ } split /\n/, $self->log_since($offset);
        return defined $line;
    }, $timeout // 5);
    return $line;
}

# SIGHUP, then waits for the master's "reconfigured" or "reload failed"
# line; returns 1 for reconfigured, 0 for a failed reload, undef if neither
# came within $timeout seconds.
sub reload {
    my ($self, $timeout) = @_;
    croak 'daemon not running' unless $self->{_pid};
    my $mark = $self->log_offset();
    kill 'HUP', $self->{_pid};
    my $line = $self->wait_for_log(qr/\] $self->{_pid}: (?:reconfigured|reload failed)/,
                                   $timeout // 10, $mark);
    return undef unless defined $line;
    return $line =~ /reconfigured/ ? 1 : 0;
}

# ---------------------------------------------------------------- HTTP

# A connected socket to 127.0.0.1:$port (TLS with tls => 1).
sub http_connect {
    my ($self, $port, %opt) = @_;
    my $s;
    if ($opt{tls}) {
        require IO::Socket::SSL;
        $s = IO::Socket::SSL->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  SSL_verify_mode => 0, Timeout => 5,
                                  %{$opt{ssl} // {}});
    } else {
        $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                   Proto => 'tcp', Timeout => 5);
    }
    return undef unless $s;
    binmode $s;
    $s->autoflush(1);
    ${*$s}{rx_buf} = '';
    return $s;
}

# Writes all of $data (one syswrite when it fits the socket buffer).
sub http_send {
    my ($self, $s, $data, $timeout) = @_;
    my $deadline = time() + ($timeout // 5);
    local $SIG{PIPE} = 'IGNORE';
    my $sel = IO::Select->new($s);
    while (length $data) {
        my $n = syswrite($s, $data);
        if (!defined $n) {
            return 0 unless $! == EAGAIN || $! == EINTR || $! == EWOULDBLOCK;
            return 0 if time() >= $deadline;
            $sel->can_write(0.1);
            next;
        }
        substr($data, 0, $n, '');
    }
    return 1;
}

sub _fill {
    my ($s, $deadline) = @_;
    my $sel = IO::Select->new($s);
    while (1) {
        my $left = $deadline - time();
        return undef if $left <= 0;
        # TLS may hold decrypted bytes the kernel no longer shows
        my $pending = $s->can('pending') ? $s->pending : 0;
        next unless $pending || $sel->can_read($left);
        my $n = sysread($s, my $buf, 65536);
        if (!defined $n) {
            next if $! == EAGAIN || $! == EINTR || $! == EWOULDBLOCK;
            return 0;
        }
        return 0 if $n == 0;
        ${*$s}{rx_buf} .= $buf;
        return $n;
    }
}

# Reads one response from $s: a hash with status, reason, version, headers
# (lower-case names; repeated ones joined by ", "), body, head (raw text)
# and eof (the server closed after it).  head => 1 for a HEAD request.
# Returns undef when the connection closes or $timeout passes before a
# whole response arrived.
sub http_read {
    my ($self, $s, %opt) = @_;
    my $deadline = time() + ($opt{timeout} // 5);
    my $buf = \${*$s}{rx_buf};
    my $end;
    until (($end = index($$buf, "\r\n\r\n")) >= 0) {
        my $n = _fill($s, $deadline);
        return undef unless $n;
    }
    my $head = substr($$buf, 0, $end + 4, '');
    my ($line, @lines) = split /\r\n/, $head;
    my %r = (head => $head, headers => {}, body => '', eof => 0);
    @r{qw(version status reason)} = $line =~ m{^(HTTP/\d\.\d) (\d{3}) ?(.*)$}
        or return undef;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*?)\s*$/ or next;
        $k = lc $k;
        $r{headers}{$k} = exists $r{headers}{$k} ? "$r{headers}{$k}, $v" : $v;
    }
    return \%r if $r{status} < 200 || $r{status} == 204 || $r{status} == 304
                  || $opt{head};
    my $cl = $r{headers}{'content-length'};
    if (defined $cl) {
        while (length($$buf) < $cl) {
            my $n = _fill($s, $deadline);
            return undef unless $n;
        }
        $r{body} = substr($$buf, 0, $cl, '');
    } else {
        my $n;
        while ($n = _fill($s, $deadline)) { }
        return undef unless defined $n;
        $r{body} = $$buf;
        $$buf = '';
        $r{eof} = 1;
    }
    return \%r;
}

# True when the server closed $s (EOF or reset) within $timeout seconds
# and sent nothing more.
sub http_closed {
    my ($self, $s, $timeout) = @_;
    my $deadline = time() + ($timeout // 5);
    my $before = length ${*$s}{rx_buf};
    my $n;
    while ($n = _fill($s, $deadline)) { }
    return defined $n && length(${*$s}{rx_buf}) == $before ? 1 : 0;
}

# Sends raw bytes on a new connection and reads one final response; 1xx
# interim responses before it are in {interim}.  Options: tls => 1,
# head => 1 (no body expected), timeout => S, check_close => 1 (also wait
# up to timeout for the server to close: then {eof} is 1).  Returns undef
# when no whole response came.
sub http_request {
    my ($self, $port, $raw, %opt) = @_;
    my $s = $self->http_connect($port, %opt) or return undef;
    $self->http_send($s, $raw) or return undef;
    my @interim;
    my $r;
    while (1) {
        $r = $self->http_read($s, %opt) or return undef;
        last unless $r->{status} >= 100 && $r->{status} < 200;
        push @interim, $r;
    }
    $r->{interim} = \@interim;
    $r->{eof} = 1 if !$r->{eof} && $opt{check_close}
                     && $self->http_closed($s, $opt{timeout} // 5);
    return $r;
}

sub http_get {
    my ($self, $port, $path, %hdrs) = @_;
    return $self->http_request($port, _request('GET', $port, $path, %hdrs));
}

sub http_head {
    my ($self, $port, $path, %hdrs) = @_;
    return $self->http_request($port, _request('HEAD', $port, $path, %hdrs),
                               head => 1);
}

sub http_post {
    my ($self, $port, $path, $body, %hdrs) = @_;
    $hdrs{'Content-Length'} //= length $body;
    return $self->http_request($port,
                               _request('POST', $port, $path, %hdrs) . $body);
}

# "METHOD path HTTP/1.1" with Host and Connection: close unless given.
sub _request {
    my ($method, $port, $path, %hdrs) = @_;
    my %lc = map { lc($_) => 1 } keys %hdrs;
    $hdrs{Host} = "127.0.0.1:$port" unless $lc{host};
    $hdrs{Connection} = 'close' unless $lc{connection};
    return "$method $path HTTP/1.1\r\n"
         . join('', map { "$_: $hdrs{$_}\r\n" } sort keys %hdrs) . "\r\n";
}

# The text of a request: http_request_text(METHOD, port, path, %hdrs).
sub http_request_text { shift; return _request(@_) }

# The status page body ("/"), or '' when it cannot be fetched.
sub status_page {
    my ($self, $port) = @_;
    my $r = $self->http_get($port, '/');
    return $r && $r->{status} == 200 ? $r->{body} : '';
}

# ---------------------------------------------------------------- checks

sub _sanitizer_files {
    my $dir = $ENV{RX_ASAN_LOG_DIR} or return {};
    opendir(my $d, $dir) or return {};
    my %f = map { $_ => 1 } grep { /^(?:asan|ubsan)\./ } readdir $d;
    closedir $d;
    return \%f;
}

# Problems found after the daemon stopped: alert/crit lines not allowed,
# sanitizer lines, sanitizer report files from our processes.
sub _problems {
    my ($self) = @_;
    my @bad;
    my $log = $self->error_log eq 'stderr' ? '' : $self->read_file($self->error_log);
    my $stderr = $self->read_file("$self->{_dir}/stderr")
               . ($self->{_stderr_seen} // '');
    for my $line (split /\n/, $log) {
        next unless $line =~ /\[(?:alert|crit)\]/;
        next if grep { $line =~ $_ } @{$self->{_allow}};
        push @bad, $line;
    }
    push @bad, grep { /AddressSanitizer|LeakSanitizer|runtime error:/ }
        split /\n/, $log . $stderr;
    my %ours = (%{$self->{_pids}},
                map { $_ => 1 } $log =~ /^\S+ \S+ \[\w+\] (\d+): /mg,
                $log =~ /\bprocess (\d+)/g);
    my $before = $self->{_asan};
    my $now = _sanitizer_files();
    for my $f (sort keys %$now) {
        next if $before->{$f};
        my ($pid) = $f =~ /\.(\d+)$/;
        next if defined $pid && !$ours{$pid};    # another test's
        push @bad, "sanitizer report $ENV{RX_ASAN_LOG_DIR}/$f";
    }
    return @bad;
}

# Stops the daemon and emits the final check (once per object).
sub finish {
    my ($self) = @_;
    return if $self->{_finished} || $self->{_owner} != $$;
    $self->{_finished} = 1;
    local ($?, $@, $!);
    $self->stop() if $self->{_pid};
    if ($ENV{TEST_RX_VERBOSE}) {
        Test::More::diag($self->read_file($self->error_log));
    }
    my $tb = Test::More->builder;
    my @bad = $self->_problems();
    if ($tb->has_plan && $tb->has_plan ne 'no_plan'
        && $tb->expected_tests > 0)
    {
        Test::More::ok(!@bad, 'no alerts, crit or sanitizer reports')
            or Test::More::diag(join "\n", @bad);
    } elsif (@bad) {
        Test::More::diag("problems in the logs:\n" . join "\n", @bad);
    }
}

sub DESTROY {
    my ($self) = @_;
    $self->finish();
}

# runs before Test::More's END (END blocks run last-defined first)
END {
    for my $t (grep { defined } @live) {
        $t->finish();
    }
}

1;
