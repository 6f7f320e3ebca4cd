#!/usr/bin/perl
#
# The documentation follows the code:
# - every key of the directive tables in src/core/rx_conf.c has an entry in
#   man/remoteexec_proxy.yaml.5, under its dotted path ("limits.body_size",
#   "listen.tls.key"), and its name appears in conf/remoteexec_proxy.yaml;
# - every Go flag of the table in src/core/rx_conf_flags.c is described in
#   man/remoteexec_proxy.8;
# - conf/remoteexec_proxy.yaml, and the Go command line of the man page's
#   EXAMPLES, pass -t;
# - groff -mandoc -ww finds nothing to say about the man pages (skipped when
#   groff is not installed: Debian package groff-base).

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);

my $objs = $ENV{RX_OBJS} // 'objs';
my $bin = "$objs/remoteexec_proxy";
my $conf = 'conf/remoteexec_proxy.yaml';
my $man5 = 'man/remoteexec_proxy.yaml.5';
my $man8 = 'man/remoteexec_proxy.8';

sub slurp {
    my ($file) = @_;
    open(my $fh, '<', $file) or die "cannot read $file: $!";
    local $/;
    my $text = <$fh>;
    close $fh;
    return $text;
}

sub strip_c_comments {
    my ($text) = @_;
    $text =~ s{/\*.*?\*/}{ }gs;
    $text =~ s{//[^\n]*}{}g;
    return $text;
}

# ------------------------------------------------------------ rx_conf.c

# Function definitions in nginx style: the name starts a line and the body
# ends at the next "}" in column 0.  Returns [name, start, end] triples.
sub functions {
    my ($src) = @_;
    my @f;
    while ($src =~ /^(\w+)\s*\([^;{]*?\)\s*\n\{/mg) {
        my ($name, $start) = ($1, $-[0]);
        my $end = index($src, "\n}", $start);
        $end = length($src) if $end < 0;
        push @f, [$name, $start, $end];
    }
    return @f;
}

# Directive tables: key => { name, pos, fn, entries => [{ name, setter,
# args }] }.  An entry is { "name", TYPE, setter, offset, post, reloadable }
# or a macro call such as RX_EXEC_TIMEOUT("inventory", 0).  A table local to
# a function is keyed "function/name", so that two functions may both have,
# say, a kv_cmds.
sub tables {
    my ($src, @fn) = @_;
    my %t;
    while ($src =~ /\brx_conf_cmd_t\s+(\w+)\s*\[\s*\]\s*=\s*\{(.*?)\}\s*;/gs) {
        my ($name, $body, $pos) = ($1, $2, $-[0]);
        my ($in) = grep { $_->[1] < $pos && $pos < $_->[2] } @fn;
        my $fn = $in ? $in->[0] : '';
        my @e;
        while ($body =~ /\{\s*"(\w+)"\s*,([^{}]*)\}|\b[A-Z][A-Z0-9_]*\(\s*"(\w+)"/g) {
            if (defined $1) {
                my ($key, $rest) = ($1, $2);
                my @f = map { s/^\s+|\s+$//gr } split /,/, $rest;
                push @e, { name => $key, setter => $f[1] // '', args => $rest };
            } else {
                push @e, { name => $3, setter => '', args => '' };
            }
        }
        $t{length $fn ? "$fn/$name" : $name} =
            { name => $name, pos => $pos, fn => $fn, entries => \@e };
    }
    return %t;
}

# The entry a table hangs under, as [parent table, entry]:
# - the entry of another table that names it (a section: rx_conf_set_section
#   and the table as post), looked up in the same function when the table is
#   local to one, else among the file-scope tables;
# - else, for a table local to a function, the entry whose setter is that
#   function or calls it: listen -> rx_conf_set_listen -> rx_conf_listen_item,
#   and for lists of mappings exec.platforms -> rx_conf_set_platforms, whose
#   platform_cmds has properties -> rx_conf_set_properties -> kv_cmds.
sub parent_of {
    my ($tk, $t, $body) = @_;
    my $me = $t->{$tk};
    for my $pk (sort keys %$t) {
        next if $pk eq $tk;
        next if length $me->{fn} && $t->{$pk}{fn} ne $me->{fn};
        for my $e (@{ $t->{$pk}{entries} }) {
            return [$pk, $e] if $e->{args} =~ /\b\Q$me->{name}\E\b/;
        }
    }
    return undef unless length $me->{fn};
    my $f = $me->{fn};
    for my $pk (sort keys %$t) {
        next if $t->{$pk}{fn} eq $f;
        for my $e (@{ $t->{$pk}{entries} }) {
            my $s = $e->{setter};
            return [$pk, $e] if $s eq $f
                || (exists $body->{$s} && $body->{$s} =~ /\b\Q$f\E\s*\(/);
        }
    }
    return undef;
}

# Qualifies every key with the path of its section, walking the parent
# links up to rx_conf_main_cmds.  A key inside a list of mappings is written
# with the list's path, as the configuration's error messages do:
# exec.platforms.properties.name is the name of each item of the properties
# list of each item of exec.platforms.
sub conf_keys {
    my $src = strip_c_comments(slurp('src/core/rx_conf.c'));
    my @fn = functions($src);
    my %t = tables($src, @fn);
    my %body = map { $_->[0] => substr($src, $_->[1], $_->[2] - $_->[1]) } @fn;
    my %parent = map { $_ => parent_of($_, \%t, \%body) } keys %t;
    my %prefix;

    my $resolve;
    $resolve = sub {
        my ($tk, $depth) = @_;
        return $prefix{$tk} if exists $prefix{$tk};
        return '' if $tk eq 'rx_conf_main_cmds';
        my $p = $parent{$tk};
        return undef if !$p || $depth > 16;
        my $pp = $resolve->($p->[0], $depth + 1);
        return undef unless defined $pp;
        return $prefix{$tk} = join('.', grep { length } $pp, $p->[1]{name});
    };

    my %keys;
    for my $tk (sort keys %t) {
        my $p = $resolve->($tk, 0);
        for my $e (@{ $t{$tk}{entries} }) {
            my $k = defined $p && length $p ? "$p.$e->{name}" : $e->{name};
            $keys{$k} = 1;
            diag("cannot tell the section of table $tk; checking $k")
                unless defined $p;
        }
    }
    return sort keys %keys;
}

my @keys = conf_keys();
cmp_ok(scalar @keys, '>=', 40, 'directive tables parsed: ' . scalar @keys
       . ' keys');
ok((grep { $_ eq 'limits.body_size' } @keys), 'limits.body_size qualified');
ok((grep { $_ eq 'listen.tls.certificate' } @keys),
   'listen.tls.certificate qualified');
# lists of mappings: a table named by an entry of a function-local table,
# and a table local to the setter of such an entry
ok((grep { $_ eq 'exec.platforms.acl.allowed_groups' } @keys),
   'exec.platforms.acl.allowed_groups qualified');
ok((grep { $_ eq 'exec.platforms.properties.value' } @keys),
   'exec.platforms.properties.value qualified');

my $man5_text = slurp($man5);
my $conf_text = slurp($conf);
for my $k (@keys) {
    ok($man5_text =~ /(?<![\w.])\Q$k\E(?![\w.])/, "$man5 describes $k");
    my $leaf = (split /\./, $k)[-1];
    ok($conf_text =~ /(?<![\w.])\Q$leaf\E:/, "$conf shows $leaf ($k)");
}

# ------------------------------------------------------------ Go flags

my $flags_src = strip_c_comments(slurp('src/core/rx_conf_flags.c'));
my ($flag_table) = $flags_src =~ /\brx_flag_t\s+rx_flags\s*\[\s*\]\s*=\s*\{(.*?)\}\s*;/s;
ok(defined $flag_table, 'rx_flags[] found in rx_conf_flags.c');
my @flags = ($flag_table // '') =~ /\{\s*"([a-z0-9-]+)"/g;
cmp_ok(scalar @flags, '>=', 20, 'Go flags parsed: ' . scalar @flags);

my $man8_text = slurp($man8);
for my $f (@flags) {
    ok($man8_text =~ /(?:\bFl\s+\\?-|\\?-\\?-)\Q$f\E(?![\w-])/,
       "$man8 describes --$f");
}

# ------------------------------------------------------------ -t

sub run_test_config {
    my (@args) = @_;
    my $prefix = tempdir(CLEANUP => 1);
    my $pid = open(my $fh, '-|');
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        open(STDERR, '>&', \*STDOUT) or die "dup: $!";
        exec($bin, '-t', '-p', $prefix, @args) or die "exec $bin: $!";
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out);
}

SKIP: {
    skip("$bin is not built", 4) unless -x $bin;

    my ($rc, $out) = run_test_config('-c', $conf);
    is($rc, 0, "$conf passes -t") or diag($out);
    like($out, qr/test is successful/, "-t says so");

    my ($example) = $man8_text =~ /^(remoteexec_proxy --port .*?)\n(?!\s)/ms;
    ok(defined $example, 'the Go command line example is in the man page');
    $example //= '';
    $example =~ s/\\e\n//g;
    my @argv = split ' ', $example;
    shift @argv;
    # the backend's host is resolved at load time: keep the test offline
    s/^[\w.-]+\.example\.com:/127.0.0.1:/ for @argv;
    ($rc, $out) = run_test_config('-c', $conf, @argv);
    is($rc, 0, "-t with the man page's Go flags: @argv") or diag($out);
}

# ------------------------------------------------------------ groff

SKIP: {
    my $groff = (grep { -x "$_/groff" } split /:/, $ENV{PATH} // '')[0];
    skip('groff is not installed (groff-base)', 1) unless $groff;
    my $out = `groff -mandoc -ww -z $man8 $man5 2>&1`;
    is($out, '', 'groff -mandoc -ww -z is silent') or diag($out);
}

done_testing();
