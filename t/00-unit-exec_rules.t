#!/usr/bin/perl
my $o = $ENV{RX_OBJS} // 'objs'; exec("$o/unit/exec_rules") or die "cannot run $o/unit/exec_rules: $!";
