#!/usr/bin/perl
#
# The stats zone shared by the workers: the status page served by any
# worker shows the counters of every worker, and they add up to the
# requests made.

use strict;
use warnings;
use Test::More;
use lib 't/lib';
use Test::Rx;

my $t = Test::Rx->new();
$t->write_config(<<'EOF2');
workers: 2
listen: [ "127.0.0.1:%%PORT_0%%" ]
EOF2
$t->plan(8)->run();

my $port = $t->port(0);
my ($n, $n404) = (60, 7);

# sums of the columns of the worker rows
sub totals {
    my $page = $t->status_page($port);
    my %sum = (rows => 0);
    while ($page =~ m{<tr><td>\d+</td><td>worker</td>((?:<td>[^<]*</td>)+)</tr>}g) {
        my @v = $1 =~ m{<td>([^<]*)</td>}g;
        # pid generation up requests active total in out 2xx 4xx 5xx
        my %row;
        @row{qw(pid gen up requests active conns in out s2 s4 s5)} = @v;
        $sum{rows}++;
        $sum{$_} += $row{$_} for qw(requests conns in out s2 s4 s5);
        $sum{pids}{$row{pid}} = 1;
    }
    return \%sum;
}

my $before = totals();
my $ok = 0;
for (1 .. $n) {
    my $r = $t->http_get($port, '/healthz');
    $ok++ if $r && $r->{status} == 200;
}
is($ok, $n, "$n requests on new connections");
for (1 .. $n404) {
    $t->http_get($port, '/not-here');
}

# any worker may serve the page: ask a few times, all must agree on >= n
my @seen;
for (1 .. 4) {
    my $s = totals();
    push @seen, $s;
}
my $s = $seen[-1];
is($s->{rows}, 2, 'a row for each worker');
is(join(' ', sort keys %{$s->{pids}}), join(' ', $t->worker_pids()),
   'the rows are the worker processes');
cmp_ok($s->{requests} - ($before->{requests} // 0), '>=', $n + $n404,
       'requests of all workers add up');
cmp_ok($s->{s2} - ($before->{s2} // 0), '>=', $n, '2xx add up');
cmp_ok($s->{s4} - ($before->{s4} // 0), '>=', $n404, '4xx add up');
cmp_ok($s->{conns} - ($before->{conns} // 0), '>=', $n + $n404,
       'connections add up');
ok(!grep({ $_->{requests} < $s->{requests} - 4 } @seen),
   'every worker shows the same totals');
