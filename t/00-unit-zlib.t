#!/usr/bin/perl
my $o = $ENV{RX_OBJS} // 'objs'; exec("$o/unit/zlib") or die "cannot run $o/unit/zlib: $!";
