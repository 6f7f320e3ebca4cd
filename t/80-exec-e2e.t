#!/usr/bin/perl
#
# Exec (/e) end to end against the python REAPI test server with real
# execution (t/reapi/reapi_server.py --real-exec): real gcc invocations
# of this machine sent by an independent Goma client (t/exec/goma_exec.py,
# python3-protobuf with stubs from Debian's protoc), objects compared byte
# for byte with a local gcc run of the same command in the same directory
# (GOMA_PROTOCOL.md §8-§9, REMOTEEXEC.md §6-§7): several sources with
# headers; a compile error with gcc's own stderr and exit status; the
# action cache (MEM_CACHE from GetActionResult, STORAGE_CACHE from
# Execute); the missing-input round trip (hash keys only -> missing_input
# with reasons -> StoreFile -> success; and the client's embed-and-retry);
# a > 2 MiB object as FILE_META whose chunks /l returns; a > 2 MiB source
# uploaded in chunks; inputs escaping the input root (§6.5.1, §6.5.2);
# the non-arbitrary-toolchain answer (§6.3); no dimensions; the REAPI
# RequestMetadata.

use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex);
use JSON::PP ();

use lib 't/lib';
use Test::Rx;
use Test::Rx::Exec;

my $why = python_ok();
plan skip_all => $why if $why;

my $t = Test::Rx->new;
my $dir = $t->testdir;
my $MIB2 = 2 * 1024 * 1024;
spew("$dir/script.json", JSON::PP->new->encode({ rules => [
  { match => { argv => 'FILEREF_MARK' },
    output_files => { 'out/ref.d' => 'd' x $MIB2, 'out/ref.o' => 'o' x $MIB2,
                      'out/ref.dwo' => 'w' x $MIB2 } },
  { match => { argv => 'EMPTY_MARK' }, exit_code => 3,
    stdout => "to stdout\n", stderr => "to stderr\n",
    output_files => { 'out/empty.o' => '' } },
  { match => { argv => 'TREE_MARK' },
    output_directories => { gen => { 'a.txt' => "A\n",
                                     'sub/b.txt' => "B\n" } } },
  { match => { argv => 'ESCAPE_MARK' },
    output_files => { '../../escape.txt' => "x\n", 'out/kept.txt' => "k\n" } },
  { match => { argv => 'HUNDRED_MARK' },
    output_directories => { big => { map { ("f$_.txt" => "$_\n") }
                                     1 .. 300 } } },
] }));
my $reapi = Test::Rx::Exec::Reapi->start($dir, '--real-exec', '--script',
                                         "$dir/script.json");
my $rport = $reapi->port;

$t->write_config(<<"EOF");
listen: ["127.0.0.1:%%PORT_0%%"]
backend: {address: "127.0.0.1:$rport", insecure: on}
file_store: {path: files, index_entries: 65536}
exec: {request_timeout: 50s}
EOF
$t->plan(65)->run;

my $port = $t->port(0);
my $proj = "$dir/proj";
my $tag = "t80_${$}_" . int(time);
make_project($proj, $tag);
my %common = (cwd => $proj, stubs => "$dir/stubs", tmp => $dir);

sub run_exec { return goma_exec($port, %common, @_) }

sub both {
  my ($src, @extra) = @_;
  (my $obj = $src) =~ s{^src/(.*)\.c$}{out/$1.o};
  return compile_both($port, %common, out => $obj,
                      cmd => [ 'gcc', '-c', $src, '-o', $obj, '-Iinclude',
                               '-g0', @extra ]);
}

sub summary {
  my ($r) = @_;
  return JSON::PP->new->canonical->encode($r);
}

###############################################################################
# several sources with headers, byte for byte equal to local objects

my %first;
for my $src (qw(src/hello.c src/util.c src/main.c)) {
  my $b = both($src);
  my $r = $b->{r};
  ok(($r->{http_status} // 0) == 200 && ($r->{exit_status} // -1) == 0
     && !@{ $r->{error_message} // [1] }, "$src: compiled remotely")
    or diag(summary($r));
  is($r->{cache_hit}, 'NO_CACHE', "$src: first run executed (NO_CACHE)");
  ok(defined $b->{remote} && defined $b->{local}
     && $b->{remote} eq $b->{local}, "$src: object equals the local one")
    or diag('remote ' . length($b->{remote} // '') . ' bytes, local '
            . length($b->{local} // '') . ' bytes');
  $first{$src} = $r;
}

###############################################################################
# the action cache: GetActionResult hit (MEM_CACHE), Execute's cached
# result (STORAGE_CACHE) when GetActionResult fails

{
  my $b = both('src/hello.c');
  is($b->{r}{cache_hit}, 'MEM_CACHE', 'second run: MEM_CACHE')
    or diag(summary($b->{r}));
  ok(defined $b->{remote} && $b->{remote} eq ($b->{local} // ''),
     'second run: same object');

  like($reapi->ctl('fault GetActionResult:status:code=INTERNAL,count=1'),
       qr/^OK/, 'fault: GetActionResult fails once');
  my $r = both('src/util.c')->{r};
  is($r->{cache_hit}, 'STORAGE_CACHE',
     'GetActionResult failed: Execute answers from its cache (STORAGE_CACHE)')
    or diag(summary($r));
  $reapi->ctl('clear');
}

###############################################################################
# a compile error: gcc's stderr and exit status, faithfully

{
  my $b = both('src/err.c');
  my $r = $b->{r};
  ok($b->{local_rc} != 0 && ($r->{exit_status} // 0) == $b->{local_rc},
     "compile error: exit status $b->{local_rc} as locally")
    or diag(summary($r));
  is($r->{stderr}, $b->{local_err}, 'compile error: stderr as locally');
  ok(!@{ $r->{outputs} // [1] } && !defined $b->{remote}
     && $r->{error} eq 'OK' && !@{ $r->{error_message} },
     'compile error: an ordinary result without outputs');
}

###############################################################################
# missing inputs: hash keys only -> missing_input (exactly those, with
# reasons) -> StoreFile (/s) -> the same hash-only request succeeds

{
  spew("$proj/include/fresh.h", "#define FRESH \"$tag fresh\"\n");
  spew("$proj/src/fresh.c", "#include \"fresh.h\"\n"
       . "const char *fresh = FRESH \" $tag\";\n");
  my @cmd = qw(gcc -c src/fresh.c -o out/fresh.o -Iinclude -g0);
  my $r = run_exec(cmd => \@cmd, args => [qw(--hash-only --on-missing fail)]);
  is_deeply($r->{missing_input}, [ 'src/fresh.c', 'include/fresh.h' ],
            'hash keys only: missing_input lists exactly the new files')
    or diag(summary($r));
  ok(@{ $r->{missing_reason} // [] } == 2
     && !grep({ !length } @{ $r->{missing_reason} }),
     'one non-empty reason per missing input');
  ok($r->{error} eq 'OK' && $r->{exit_status} == -1,
     'missing inputs: error OK, exit_status -1');

  my $b = compile_both($port, %common, out => 'out/fresh.o', cmd => \@cmd,
                       args => [qw(--hash-only --store-first
                                   --on-missing fail)]);
  $r = $b->{r};
  ok($r->{attempts} == 1 && !@{ $r->{missing_input} // [1] }
     && $r->{exit_status} == 0,
     'after StoreFile the hash-only request succeeds') or diag(summary($r));
  ok(defined $b->{remote} && $b->{remote} eq ($b->{local} // ''),
     'and its object equals the local one');

  spew("$proj/src/fresh2.c", "const char *fresh2 = \"$tag fresh2\";\n");
  $r = run_exec(cmd => [qw(gcc -c src/fresh2.c -o out/fresh2.o -g0)],
                args => ['--hash-only']);
  ok($r->{attempts} == 2
     && ($r->{missing_rounds}[0]{missing_input}[0] // '') eq 'src/fresh2.c'
     && $r->{exit_status} == 0,
     'client way: missing input re-sent with content, then success')
    or diag(summary($r));
}

###############################################################################
# a > 2 MiB object: FILE_META, chunks through /l (5 keys per call),
# reassembled equal to the local object

{
  my $b = both('src/big.c');
  my $r = $b->{r};
  my ($o) = @{ $r->{outputs} // [] };
  is($r->{exit_status}, 0, 'big object: compiled') or diag(summary($r));
  ok($o && $o->{type} eq 'FILE_META' && @{ $o->{keys} } >= 2,
     'big object: FILE_META with chunk keys')
    or diag(summary($r));
  ok($o && ($o->{fetched_size} // 0) == $o->{file_size}
     && $o->{file_size} > 2 * 1024 * 1024,
     'big object: chunks reassemble to file_size');
  ok(defined $b->{remote} && defined $b->{local}
     && $b->{remote} eq $b->{local}, 'big object: equals the local object');
}

###############################################################################
# a > 2 MiB source: chunks uploaded with /s, FILE_META embedded (the
# client's way, GOMA_PROTOCOL.md §9.3): accepted on the first attempt

{
  my $b = both('src/bigsrc.c');
  my $r = $b->{r};
  ok(($r->{attempts} // 0) == 1 && ($r->{exit_status} // -1) == 0,
     'big source (FILE_META embedded): compiled on the first attempt')
    or diag(summary({ %$r, missing_rounds => scalar
                      @{ $r->{missing_rounds} // [] } }));
  ok(defined $b->{remote} && $b->{remote} eq ($b->{local} // ''),
     'big source: object equals the local one');
}

###############################################################################
# a hash key sent with other bytes than it names does not poison the
# digest cache that every user shares: a later request that names the
# key alone gets the right content (or is asked for it), never the other

{
  my %proj;
  for my $who (qw(victim attacker)) {
    my $p = $proj{$who} = "$dir/$who";
    spew("$p/src/v.c", "#include \"v.h\"\nint v_$tag = V;\n");
    spew("$p/include/v.h", $who eq 'victim' ? "#define V 1 /* $tag */\n"
                                             : "#define V 666\n");
  }
  my @cmd = qw(gcc -c src/v.c -o out/v.o -Iinclude -g0);
  my $r = goma_exec($port, %common, cwd => $proj{attacker}, cmd => \@cmd,
                    args => [ '--forge-key',
                              "include/v.h=\@$proj{victim}/include/v.h" ]);
  is($r->{exit_status}, 0, 'forged hash key: that request compiles its bytes')
    or diag(summary($r));
  my $b = compile_both($port, %common, cwd => $proj{victim}, cmd => \@cmd,
                       out => 'out/v.o', args => ['--hash-only']);
  ok(defined $b->{remote} && $b->{remote} eq ($b->{local} // ''),
     'forged hash key: a later hash-only request gets the real content')
    or diag(summary($b->{r}));
}

###############################################################################
# inputs escaping the input root never reach the action (§6.5.1, §6.5.2)

{
  my $secret = "secret $tag\n";
  spew("$dir/secret.txt", $secret);
  my $up = '../' x 20;
  my @hello = qw(gcc -c src/hello.c -o out/hello.o -Iinclude -g0);
  my $r = run_exec(cmd => \@hello,
                   args => [ '--extra-input', "${up}etc/passwd=\@$dir/secret.txt" ]);
  is($r->{error}, 'BAD_REQUEST', '../ to /etc/passwd: BAD_REQUEST')
    or diag(summary($r));
  like($r->{error_message}[0] // '', qr/^input root detection failed: /,
       'no common input root: "input root detection failed"');
  $r = run_exec(cmd => \@hello,
                args => [ '--extra-input', "/etc/passwd=\@$dir/secret.txt" ]);
  ok($r->{error} eq 'BAD_REQUEST' && $r->{exit_status} == -1,
     'absolute /etc/passwd: BAD_REQUEST');

  # with exec_root the root is fixed: escaping inputs are dropped
  $r = run_exec(cmd => \@hello,
                args => [ '--exec-root', $proj,
                          '--extra-input', "../outside.txt=\@$dir/secret.txt",
                          '--extra-input', "/etc/passwd=\@$dir/secret.txt",
                          '--extra-input', "src/../../x=\@$dir/secret.txt" ]);
  is($r->{exit_status}, 0, 'exec_root: escaping inputs do not fail the compile')
    or diag(summary($r));
  is($r->{cache_key}, $first{'src/hello.c'}{cache_key},
     'exec_root: the action is the one without the escaping inputs');
  my $d = sha256_hex($secret) . '/' . length($secret);
  is($reapi->ctl("cas-has $d"), 'OK 0',
     'the escaping content never reached the CAS');
}

###############################################################################
# not arbitrary toolchain (§6.3): BAD_REQUEST, command_spec without
# binary_hash; no dimensions

{
  my $r = run_exec(cmd => [qw(gcc -c src/hello.c -o out/hello.o -Iinclude)],
                   args => ['--no-toolchain']);
  is($r->{error}, 'BAD_REQUEST', 'toolchain_included false: BAD_REQUEST')
    or diag(summary($r));
  my $cs = $r->{command_spec} // {};
  my $version = `gcc -dumpfullversion`;
  chomp $version;
  ok($cs->{present} && $cs->{name} eq 'gcc'
     && $cs->{target} eq 'x86_64-linux-gnu'
     && index($cs->{version}, $version) == 0,
     'result.command_spec: name, version, target of the request');
  ok($cs->{present} && !$cs->{has_binary_hash}, 'and no binary_hash');
  is($r->{exit_status}, -1, 'exit_status -1');

  $r = run_exec(cmd => [qw(gcc -c src/hello.c -o out/hello.o -Iinclude)],
                args => ['--no-dimensions']);
  ok($r->{error} eq 'BAD_REQUEST'
     && "@{ $r->{error_message} }" eq 'No dimensions are specified',
     'no dimensions: BAD_REQUEST "No dimensions are specified"')
    or diag(summary($r));
}

###############################################################################
# more inventory answers (§6.3, §12): no platform for the dimensions, an
# unsafe platform property (allowed ones pass), Windows clients,
# toolchain_included without toolchain_specs

{
  my @h = qw(gcc -c src/hello.c -o out/hello.o -Iinclude -g0);
  my $r = run_exec(cmd => \@h, args => [qw(--dimension os:win)]);
  ok($r->{error} eq 'BAD_REQUEST' && ($r->{error_message}[0] // '')
     =~ /^Could not matching runtime config with dimensions=\[os:win\]/,
     'unknown dimensions: BAD_REQUEST "Could not matching runtime config"')
    or diag(summary($r));
  $r = run_exec(cmd => \@h, args => [qw(--platform-property dockerRuntime=runc
                                        --platform-property cache-silo=x)]);
  ok($r->{error} eq 'BAD_REQUEST' && "@{ $r->{error_message} }"
     =~ /unsafe platform property: dockerRuntime/
     && "@{ $r->{error_message} }" !~ /cache-silo/,
     'unsafe platform property: BAD_REQUEST naming it') or diag(summary($r));
  $r = run_exec(cmd => \@h, args => [qw(--platform-property cache-silo=x
                                        --platform-property dockerRuntime=runsc)]);
  ok($r->{error} eq 'OK' && ($r->{exit_status} // -1) == 0,
     'allowed platform properties: compiled') or diag(summary($r));
  $r = run_exec(cmd => \@h, args => [qw(--path-style WINDOWS_STYLE)]);
  ok($r->{error} eq 'BAD_REQUEST', 'WINDOWS_STYLE: BAD_REQUEST')
    or diag(summary($r));
  $r = run_exec(cmd => \@h, args => ['--no-toolchain-specs']);
  ok($r->{error} eq 'BAD_REQUEST' && $r->{exit_status} == -1,
     'toolchain_included without toolchain_specs: BAD_REQUEST')
    or diag(summary($r));
}

###############################################################################
# an absolute include directory (not relocatable: input root absolute
# path wrapper); the headers are sent with absolute names

{
  my $b = compile_both($port, %common, out => 'out/util.o',
                       cmd => [ qw(gcc -c src/util.c -o out/util.o -g0),
                                "-I$proj/include" ]);
  ok(($b->{r}{exit_status} // -1) == 0 && defined $b->{remote}
     && $b->{remote} eq ($b->{local} // ''),
     'absolute -I: compiled, same object') or diag(summary($b->{r}));
  is($b->{r}{cache_hit}, 'NO_CACHE', 'absolute -I: a new action');
}

###############################################################################
# warnings: exit 0, gcc's stderr, the same object

{
  spew("$proj/src/warn.c", "int warned(void) { int unused_$tag; return 0; }\n");
  my $b = both('src/warn.c', '-Wall');
  ok(($b->{r}{exit_status} // -1) == 0 && $b->{local_err} =~ /unused/
     && $b->{r}{stderr} eq $b->{local_err},
     'warnings: exit 0 with the local stderr') or diag(summary($b->{r}));
  ok(defined $b->{remote} && $b->{remote} eq ($b->{local} // ''),
     'warnings: same object');
}

###############################################################################
# request and answer encodings: deflate (goma's) and identity

for my $enc (qw(deflate identity)) {
  my $r = run_exec(cmd => [qw(gcc -c src/hello.c -o out/hello.o -Iinclude -g0)],
                   args => [ '--encoding', $enc, '--accept', $enc ]);
  ok(($r->{exit_status} // -1) == 0 && $r->{cache_hit} eq 'MEM_CACHE',
     "$enc request and answer") or diag(summary($r));
}

###############################################################################
# more than 100 missing inputs: 100 of them, in request order, each with
# its reason (§6.5.4, §12 #3)

{
  my $inc = join '', map { "#include \"many/h$_.h\"\n" } 1 .. 150;
  spew("$proj/include/many/h$_.h", "/* $tag $_ */\n") for 1 .. 150;
  spew("$proj/src/many.c", $inc . "int many;\n");
  my $r = run_exec(cmd => [qw(gcc -c src/many.c -o out/many.o -Iinclude)],
                   args => [qw(--hash-only --on-missing fail)]);
  my @m = @{ $r->{missing_input} // [] };
  my @all = ('src/many.c', map { "include/many/h$_.h" } 1 .. 150);
  my %pos = map { $all[$_] => $_ } 0 .. $#all;
  my $ordered = !grep { !defined $pos{ $m[$_] }
                        || ($_ && $pos{ $m[$_] } <= $pos{ $m[$_ - 1] }) }
                0 .. $#m;
  is(scalar @m, 100, '151 unknown inputs: 100 reported');
  ok($ordered, 'a subset in request order');
  is(scalar @{ $r->{missing_reason} // [] }, 100, 'each with a reason');
}

###############################################################################
# outputs made by the backend (script rules): an answer over 6 MiB turns
# FILE outputs into FILE_REFs (§6.12 step 12); an empty output keeps its
# content field; exit status, stdout and stderr as the action's; output
# directories through their Tree (step 9)

{
  my $r = run_exec(cmd => [qw(gcc -c src/hello.c -o out/ref.o -Iinclude -MD
                              -MF out/ref.d -gsplit-dwarf -DFILEREF_MARK)]);
  my %o = map { $_->{filename} => $_ } @{ $r->{outputs} // [] };
  is_deeply([ sort keys %o ], [qw(out/ref.d out/ref.dwo out/ref.o)],
            'three 2 MiB outputs') or diag(summary($r));
  ok(3 == grep({ $_->{type} eq 'FILE_REF' && @{ $_->{keys} } == 1 } values %o),
     'answer over 6 MiB: every output is a FILE_REF');
  ok(slurp("$proj/out/ref.d") eq 'd' x $MIB2
     && slurp("$proj/out/ref.o") eq 'o' x $MIB2
     && slurp("$proj/out/ref.dwo") eq 'w' x $MIB2,
     'the FILE_REFs resolve through /l to the contents');

  $r = run_exec(cmd => [qw(gcc -c src/hello.c -o out/empty.o -Iinclude
                           -DEMPTY_MARK)]);
  ok(($r->{exit_status} // 0) == 3 && $r->{stdout} eq "to stdout\n"
     && $r->{stderr} eq "to stderr\n",
     'exit status, stdout and stderr of the action') or diag(summary($r));
  my ($e) = @{ $r->{outputs} // [] };
  ok($e && $e->{type} eq 'FILE' && $e->{file_size} == 0,
     'an empty output is a FILE of size 0 (content present: the client '
     . 'accepted it)') or diag(summary($r));

  unlink "$proj/gen/a.txt", "$proj/gen/sub/b.txt";
  $r = run_exec(cmd => [qw(gcc -c src/hello.c -o out/tree.o -Iinclude
                           -DTREE_MARK)],
                args => [qw(--expected-output-dir gen)]);
  is_deeply([ sort map { $_->{filename} } @{ $r->{outputs} // [] } ],
            [qw(gen/a.txt gen/sub/b.txt)], 'output directory: its files')
    or diag(summary($r));
  ok((slurp("$proj/gen/a.txt") // '') eq "A\n"
     && (slurp("$proj/gen/sub/b.txt") // '') eq "B\n",
     'output directory: contents');

  # a backend's output path that leaves the input root never reaches
  # the client
  $r = run_exec(cmd => [qw(gcc -c src/hello.c -o out/esc.o -Iinclude
                           -DESCAPE_MARK)],
                args => [qw(--expected-output-file out/kept.txt)]);
  ok(!grep({ $_->{filename} =~ m{\.\./} } @{ $r->{outputs} // [] })
     && (join(' ', @{ $r->{error_message} // [] }) =~ /outside the input root/)
     && !-e "$dir/escape.txt" && !-e "$proj/../escape.txt",
     'an output path with .. from the backend: refused, not written')
    or diag(summary($r));

  # a tree of 300 files: the outputs outgrow their first arrays
  $r = run_exec(cmd => [qw(gcc -c src/hello.c -o out/big.o -Iinclude
                           -DHUNDRED_MARK)],
                args => [qw(--expected-output-dir big)]);
  my %got = map { $_->{filename} => 1 } @{ $r->{outputs} // [] };
  ok(keys %got == 300 && !grep({ !$got{"big/f$_.txt"} } 1 .. 300)
     && (slurp("$proj/big/f77.txt") // '') eq "77\n",
     'output directory of 300 files: every file, with its content')
    or diag(summary($r));
}

###############################################################################
# RequestMetadata of the backend calls (§6.2)

{
  my $seen = 0;
  for my $l (split /\n/, slurp($reapi->log_file) // '') {
    my $e = eval { JSON::PP->new->decode($l) } or next;
    next unless ($e->{short} // '') eq 'Execute' && $e->{requestmetadata};
    my $m = $e->{requestmetadata};
    $seen++ if ($m->{tool_invocation_id} // $m->{toolInvocationId} // '')
      eq 'build-1'
      && ($m->{action_id} // $m->{actionId} // '') =~ /^test@/
      && ($m->{tool_details}{tool_name} // $m->{toolDetails}{toolName} // '')
      eq 'remoteexec_proxy';
  }
  ok($seen, 'Execute carries RequestMetadata (action_id, build id, tool)');
}

$reapi->stop;
