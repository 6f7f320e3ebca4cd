#!/usr/bin/perl
#
# GET /metrics: the Prometheus text format, read back by an independent
# parser (python3-prometheus-client, t/metrics/parse.py).  Real compiles
# through /e on the embedded executor move the Exec counters and the
# per-stage histograms; HTTP totals, summed over every worker in shared
# memory, never go down across a reload or a worker killed and restarted.

use strict;
use warnings;
use Test::More;

use lib 't/lib';
use Test::Rx;
use Test::Rx::Exec;

my $py = '/usr/bin/python3';
plan skip_all => 'python3-prometheus-client missing'
  unless system("$py -c 'import prometheus_client' 2>/dev/null") == 0;
my $why = python_ok();
plan skip_all => $why if $why;

my $t = Test::Rx->new;
my $dir = $t->testdir;
$t->write_config(<<'EOF');
workers: 2
listen: ["127.0.0.1:%%PORT_0%%"]
file_store: {path: files, index_entries: 4096}
executor: {root: executor, jobs: 2}
exec: {request_timeout: 50s}
EOF
chmod 0711, $dir;    # actions run as nobody under root
$t->plan(28)->run;
my $port = $t->port(0);

# { "name{labels}" => value }, and { family => type }; undef if the text
# does not parse
sub scrape {
  my $r = $t->http_get($port, '/metrics');
  return (undef, undef, 'no answer') unless $r && $r->{status} == 200;
  my $in = "$dir/metrics.txt";
  open(my $fh, '>', $in) or die "$in: $!";
  print $fh $r->{body};
  close $fh;
  my $out = `$py t/metrics/parse.py < $in`;
  return (undef, undef, $out) if $?;
  my (%s, %type);
  for (split /\n/, $out) {
    $s{$1} = $2 + 0 if /^S (\S+?)(?:\{\})? (\S+)$/;
    $type{$1} = $2 if /^TYPE (\S+) (\S+)$/;
  }
  return (\%s, \%type, $r);
}

my $P = 'remoteexec_proxy_';
my ($s, $type, $r) = scrape();
ok($s, 'the page parses as Prometheus text') or diag($r);
like($r->{headers}{'content-type'} // '', qr{^text/plain; version=0\.0\.4},
     'Content-Type of the text format');
is($type->{"${P}exec_duration_seconds"}, 'histogram', 'a histogram family');
is($type->{"${P}http_requests"}, 'counter', 'a counter family');
is($s->{"${P}processes{type=\"worker\"}"}, 2, 'two workers');
is($s->{"${P}exec_requests_total{result=\"ok\"}"}, 0, 'no Exec yet');

# two real compiles of the same file: executed, then an action cache hit
my $proj = "$dir/proj";
make_project($proj, "t34_${$}_" . int(time));
my %o = (cwd => $proj, stubs => "$dir/stubs", tmp => $dir,
         cmd => [ 'gcc', '-c', 'src/util.c', '-o', 'out/util.o',
                  '-Iinclude', '-g0' ]);
my @e = map { goma_exec($port, %o) } 1 .. 2;
is(join(' ', map { $_->{exit_status} // 'undef' } @e), '0 0',
   'two compiles exit 0');
# and an ExecReq whose command spec has only a name: BAD_REQUEST
my $bad = $t->http_post($port, '/cxx-compiler-service/e', "\x0a\x05\x0a\x03gcc",
                        'Content-Type' => 'binary/x-protocol-buffer');

($s) = scrape();
is($s->{"${P}exec_requests_total{result=\"ok\"}"}, 2, 'ok: 2');
is($s->{"${P}exec_requests_total{result=\"bad_request\"}"}, 1,
   'the request without arguments counted as bad_request')
  or diag(explain($bad && $bad->{status}));
is($s->{"${P}exec_cache_total{hit=\"none\"}"}, 1, 'cache: one executed');
is($s->{"${P}exec_cache_total{hit=\"mem\"}"}
     + $s->{"${P}exec_cache_total{hit=\"storage\"}"}, 1, 'cache: one hit');
is($s->{"${P}exec_running"}, 0, 'none running');

my $count = $s->{"${P}exec_duration_seconds_count{stage=\"total\"}"};
is($count, 3, 'total histogram: every answered request');
is($s->{"${P}exec_duration_seconds_bucket{le=\"+Inf\",stage=\"total\"}"},
   $count, 'total histogram: the +Inf bucket holds them all');
my %bucket = map { /le="([^"+]+)",stage="total"/ ? ($1 + 0 => $s->{$_}) : () }
  keys %$s;
my @le = sort { $a <=> $b } keys %bucket;
my @cum = map { $bucket{$_} } @le;
ok(@le >= 10 && !(grep { $cum[$_] < $cum[$_ - 1] } 1 .. $#cum),
   'total histogram: cumulative buckets never decrease') or diag("@cum");
ok($s->{"${P}exec_duration_seconds_sum{stage=\"total\"}"} > 0,
   'total histogram: a positive sum');
is($s->{"${P}exec_duration_seconds_count{stage=\"execute\"}"}, 1,
   'execute stage: only the executed compile spent time in it');

# HTTP totals: summed over the workers, kept when processes go
my $ok2xx = $s->{"${P}http_requests_total{code=\"2xx\"}"};
ok($ok2xx >= 4, "2xx answers counted ($ok2xx)");
ok($s->{"${P}http_received_bytes_total"} > 0, 'bytes received counted');
my %old = map { $_ => 1 } $t->worker_pids;
is($t->reload(), 1, 'reload');
ok($t->wait_for(sub { my @n = $t->worker_pids;
                      @n == 2 && !grep { $old{$_} } @n }, 10),
   'two new workers, the old ones gone');
($s) = scrape();
is($s->{"${P}reloads_total"}, 1, 'reloads_total: 1');
ok($s->{"${P}http_requests_total{code=\"2xx\"}"} > $ok2xx,
   '2xx total kept across the reload');
is($s->{"${P}exec_requests_total{result=\"ok\"}"}, 2,
   'Exec counters kept across the reload');

$ok2xx = $s->{"${P}http_requests_total{code=\"2xx\"}"};
my @w = $t->worker_pids;
kill 'KILL', $w[0];
ok($t->wait_for(sub { my @n = $t->worker_pids;
                      @n == 2 && !grep { $_ == $w[0] } @n }, 10),
   'a killed worker is replaced');
($s) = scrape();
ok($s->{"${P}http_requests_total{code=\"2xx\"}"} > $ok2xx,
   '2xx total kept after a worker died');
is($s->{"${P}processes{type=\"worker\"}"}, 2, 'two workers again');

my $h = $t->http_head($port, '/metrics');
is($h && $h->{status}, 200, 'HEAD /metrics');
