#!/usr/bin/perl
#
# The nsjail chroot mode (REMOTEEXEC.md §7.5): a request whose inputs share
# no directory but "/" with its cwd runs through the chroot wrapper when
# the matching platform has has_nsjail, and is a BAD_REQUEST otherwise.
# The python REAPI test server answers synthetically with the command line
# it was asked to run, so the wrapper is visible in stdout.

use strict;
use warnings;
use Test::More;

use lib 't/lib';
use Test::Rx;
use Test::Rx::Exec;

my $why = python_ok();
plan skip_all => $why if $why;

my $t = Test::Rx->new;
my $dir = $t->testdir;
my $reapi = Test::Rx::Exec::Reapi->start($dir);
my $rport = $reapi->port;
$t->write_config(<<"CONF");
listen: ["127.0.0.1:%%PORT_0%%"]
file_store: {path: files, index_entries: 4096}
backend: {address: "127.0.0.1:$rport", insecure: on}
exec:
  request_timeout: 30s
  platforms:
    - dimensions: ["os:linux"]
      properties: [{name: OSFamily, value: Linux}]
    - dimensions: ["os:linux", "jail:yes"]
      has_nsjail: on
      properties: [{name: OSFamily, value: Linux}]
CONF
$t->plan(5)->run;

# a header under another top-level directory: the only common path is "/"
my $other = "/var/tmp/rx-nsjail-$$";
mkdir $other;
END { unlink "$other/h.h"; rmdir $other; }
spew("$other/h.h", "#define V 7\n");
mkdir "$dir/proj";
spew("$dir/proj/a.c", "#include \"h.h\"\nint v(void) { return V; }\n");
my @cmd = ('gcc', '-c', 'a.c', '-o', 'a.o', "-I$other");
my %o = (cwd => "$dir/proj", stubs => "$dir/stubs", tmp => $dir,
         cmd => \@cmd);

my $r = goma_exec($t->port(0), %o,
                  args => [ '--dimension', 'os:linux', '--dimension',
                            'jail:yes' ]);
is($r->{exit_status}, 0, 'nsjail platform: executed')
  or diag(explain($r));
(my $wd = "$dir/proj") =~ s{^/}{};
like($r->{stdout} // '', qr{^reapi_server: \Q$wd\E/run\.sh /usr/bin/gcc },
     'the command runs through the chroot wrapper at the cwd');
ok(!@{ $r->{error_message} // [] }, 'no error message');

my $b = goma_exec($t->port(0), %o);
is($b->{error} // '', 'BAD_REQUEST', 'without has_nsjail: BAD_REQUEST');
like(join(' ', @{ $b->{error_message} // [] }),
     qr/input root detection failed/, 'and why');
