#!/usr/bin/perl
my $o = $ENV{RX_OBJS} // 'objs'; exec("$o/unit/digest_cache") or die "cannot run $o/unit/digest_cache: $!";
