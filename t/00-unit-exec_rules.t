#!/usr/bin/perl
# the unit binary objs/unit/exec_rules; under RX_VALGRIND (make check-valgrind)
# memcheck writes its report to that directory
my $o = $ENV{RX_OBJS} // 'objs';
my @vg = $ENV{RX_VALGRIND}
  ? ('valgrind', "--log-file=$ENV{RX_VALGRIND}/vg.%p") : ();
exec(@vg, "$o/unit/exec_rules") or die "cannot run $o/unit/exec_rules: $!";
