#!/usr/bin/perl
# the unit binary objs/unit/digest_cache; under RX_VALGRIND (make check-valgrind)
# memcheck writes its report to that directory
my $o = $ENV{RX_OBJS} // 'objs';
my @vg = $ENV{RX_VALGRIND}
  ? ('valgrind', "--log-file=$ENV{RX_VALGRIND}/vg.%p") : ();
exec(@vg, "$o/unit/digest_cache") or die "cannot run $o/unit/digest_cache: $!";
