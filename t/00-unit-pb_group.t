#!/usr/bin/perl
# the unit binary objs/unit/pb_group; under RX_VALGRIND (make check-valgrind)
# memcheck writes its report to that directory
my $o = $ENV{RX_OBJS} // 'objs';
my @vg = $ENV{RX_VALGRIND}
  ? ('valgrind', "--log-file=$ENV{RX_VALGRIND}/vg.%p") : ();
exec(@vg, "$o/unit/pb_group") or die "cannot run $o/unit/pb_group: $!";
