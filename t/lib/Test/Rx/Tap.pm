package Test::Rx::Tap;

# Python programs that print TAP ("ok N - what", "not ok N - what # why",
# "1..N"), run with a bounded time and their lines turned into tests here:
# the executor's client t/executor/client.py against a Test::Rx daemon
# (client), or any program (run_tap), then report.
#
#     report('grpc', client($t, '--suite', 'grpc'), 56);
#     report('isolation', client($t, {limit => 90, status => 1},
#                                '--suite', 'isolation'), 27);
#     report('selftest', run_tap(300, $PYTHON, 't/reapi/selftest.py'));

use strict;
use warnings;

use Exporter qw(import);
use Test::More ();
use File::Basename qw(dirname);
use File::Spec;
use Test::Rx::Reapi ();

our @EXPORT = qw(client report run_tap);

my $ROOT = File::Spec->rel2abs(dirname(__FILE__) . '/../../../..');
my $CLIENT = "$ROOT/t/executor/client.py";

# run_tap($limit, @argv): runs @argv, its stdout read line by line, killed
# after $limit seconds; returns (wait status, [lines]), the lines ending
# with "timed out after ...s" if it was killed.
sub run_tap {
  my ($limit, @argv) = @_;
  my @lines;
  my $pid = open(my $fh, '-|', @argv)
    or return (-1, ["cannot run @argv: $!"]);
  my $timed_out = 0;
  local $SIG{ALRM} = sub { $timed_out = 1; kill 'KILL', $pid };
  alarm $limit;
  while (my $line = <$fh>) {
    chomp $line;
    push @lines, $line;
  }
  close $fh;
  my $rc = $?;
  alarm 0;
  push @lines, "timed out after ${limit}s" if $timed_out;
  return ($rc, \@lines);
}

# client($t, {limit => S, status => 1}, @args): t/executor/client.py
# @args against the executor of daemon $t (--target its port 1; with
# status also --status-port its port 0 and --testdir its directory), for
# at most S seconds (default 120); the options may be left out. Returns
# what run_tap does.
sub client {
  my ($t, @args) = @_;
  my %o = ref $args[0] eq 'HASH' ? %{ shift @args } : ();
  my @argv = ($Test::Rx::Reapi::PYTHON, $CLIENT,
              '--target', '127.0.0.1:' . $t->port(1));
  push @argv, '--status-port', $t->port(0), '--testdir', $t->testdir
    if $o{status};
  return run_tap($o{limit} // 120, @argv, @args);
}

# report($what, $rc, $lines, $want): one test per "ok"/"not ok" line
# (named "$what: what", the "# why" as its diagnostic), other lines but
# the plan as diagnostics, then a test that the exit status $rc is 0.
# With $want, exactly $want tests come from the lines: later ones are
# ignored and missing ones fail ("client exit status"); without, there
# is one more test that there was at least one ("exit status").
sub report {
  my ($what, $rc, $lines, $want) = @_;
  local $Test::Builder::Level = $Test::Builder::Level + 1;
  my $n = 0;
  for my $line (@$lines) {
    if ($line =~ /^(not )?ok \d+ - (.*?)(?: # (.*))?$/) {
      my ($bad, $name, $why) = ($1, $2, $3);
      $n++;
      last if defined $want && $n > $want;
      Test::More::ok(!$bad, "$what: $name") or Test::More::diag($why // '');
    } elsif ($line !~ /^1\.\.\d+$/) {
      Test::More::diag($line);
    }
  }
  unless (defined $want) {
    Test::More::ok($n > 0, "$what: produced test lines");
    return Test::More::is($rc, 0, "$what: exit status");
  }
  Test::More::fail("$what: check " . ($_ + 1) . ' did not run')
    for $n .. $want - 1;
  return Test::More::is($rc, 0, "$what: client exit status");
}

1;
