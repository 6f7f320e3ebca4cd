#!/usr/bin/perl
# the unit binary objs/unit/zlib; under RX_VALGRIND (make check-valgrind)
# memcheck writes its report to that directory
my $o = $ENV{RX_OBJS} // 'objs';
my @vg = $ENV{RX_VALGRIND}
  ? ('valgrind', "--log-file=$ENV{RX_VALGRIND}/vg.%p") : ();
exec(@vg, "$o/unit/zlib") or die "cannot run $o/unit/zlib: $!";
