#!/usr/bin/perl
my $o = $ENV{RX_OBJS} // 'objs'; exec("$o/unit/pb_group") or die "cannot run $o/unit/pb_group: $!";
