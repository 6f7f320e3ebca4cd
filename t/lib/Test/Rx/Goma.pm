package Test::Rx::Goma;

# Goma client-side helpers for the tests, independent of our own code:
#
# - request bodies are built from protobuf text format by Debian's protoc
#   (`protoc --encode=devtools_goma.T -It/proto t/proto/goma_wire.proto`;
#   SaveLogReq from src/rpc/proto/goma_log.proto) and responses decoded by
#   `protoc --decode`;
# - hash keys are sha256 (Digest::SHA) of the FileBlob bytes protoc wrote;
# - request compression as the Goma client does it: gzip by gzip(1),
#   "deflate" by python3's zlib (a zlib stream without its 2-byte header,
#   the Adler-32 trailer kept), plus the no-trailer and zlib-headed forms;
# - response bodies are decoded with Perl's Compress::Raw::Zlib, strictly
#   (one complete stream, nothing after it; deflate must be raw RFC 1951);
# - a raw-socket HTTP/1.1 client (Content-Length framing, keep-alive).
#
#     my ($keys, $req, $r) = store_blobs($port, { content => "x" });
#     my ($blobs) = lookup_keys($port, @$keys);
#     is($blobs->[0], $req->{blobs}[0], 'byte-identical');
#
# Blob specs are hashes: type (FILE, FILE_CHUNK, FILE_META, FILE_REF,
# FILE_UNSPECIFIED or a number), content, offset, file_size, hash_keys.

use strict;
use warnings;

use Exporter qw(import);
use Carp qw(croak);
use Compress::Raw::Zlib qw(Z_OK Z_STREAM_END MAX_WBITS WANT_GZIP);
use Digest::SHA qw(sha256_hex);
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Test::More ();
use Time::HiRes qw(time);

our @EXPORT = qw(
    pb_text_bytes pb_encode pb_decode pb_fields pb_varint
    blob_text store_req store_reqs lookup_req save_log_req
    parse_store_resp parse_lookup_resp lookup_resp_types blob_labels
    is_blobs
    compress decompress deflate_bomb
    rpc rpc_conn http_raw store_blobs lookup_keys
    sha256_hex goma_progs
);

our $PROTOC  = $ENV{TEST_RX_PROTOC} // 'protoc';
our $PYTHON  = $ENV{TEST_RX_PYTHON}
    // (-x '/usr/bin/python3' ? '/usr/bin/python3' : 'python3');
our $PREFIX  = '/cxx-compiler-service';
our $TIMEOUT = 10;

my $ROOT = File::Spec->rel2abs(dirname(__FILE__) . '/../../../..');
my %PROTO = (
    goma_wire => [ "$ROOT/t/proto",       'goma_wire.proto' ],
    goma_log  => [ "$ROOT/src/rpc/proto", 'goma_log.proto' ],
);
my $TMP = tempdir('rx-goma-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $seq = 0;
my %cache;    # "what:digest of input" => output, for protoc and compressors

# ---------------------------------------------------------------- processes

# Skips the whole test (via $t->has_progs) unless protoc, gzip and python3
# are there.
sub goma_progs {
    my ($t) = @_;
    return $t->has_progs('protoc', 'gzip', $PYTHON =~ m{([^/]+)\z});
}

sub _spew {
    my ($path, $data) = @_;
    open(my $fh, '>:raw', $path) or croak "open $path: $!";
    print {$fh} $data;
    close $fh or croak "close $path: $!";
}

sub _slurp {
    my ($path) = @_;
    open(my $fh, '<:raw', $path) or croak "open $path: $!";
    local $/;
    my $d = <$fh>;
    close $fh;
    return $d // '';
}

# Runs @cmd with $in on stdin; returns (exit status, stdout, stderr).
sub _run {
    my ($in, @cmd) = @_;
    my $n = "$$." . ++$seq;
    my ($i, $o, $e) = map { "$TMP/$n.$_" } qw(in out err);
    _spew($i, $in);
    my $pid = fork() // croak "fork: $!";
    if ($pid == 0) {
        open(STDIN, '<', $i) or POSIX::_exit(126);
        open(STDOUT, '>', $o) or POSIX::_exit(126);
        open(STDERR, '>', $e) or POSIX::_exit(126);
        exec(@cmd) or POSIX::_exit(127);
    }
    waitpid($pid, 0);
    my @r = ($?, _slurp($o), _slurp($e));
    unlink $i, $o, $e;
    return @r;
}

# _cached('what', $input, sub { ... }) memoizes deterministic conversions.
sub _cached {
    my ($what, $in, $f) = @_;
    my $k = "$what:" . sha256_hex($in);
    $cache{$k} = $f->() unless exists $cache{$k};
    return $cache{$k};
}

# ---------------------------------------------------------------- protobuf

# A text-format bytes literal: bytes outside [A-Za-z0-9 ._-] as octal.
sub pb_text_bytes {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9 ._-])/sprintf('\\%03o', ord $1)/ge;
    return qq{"$s"};
}

sub _proto_args {
    my ($file) = @_;
    my $p = $PROTO{ $file // 'goma_wire' } or croak "unknown proto $file";
    return ("-I$p->[0]", "$p->[0]/$p->[1]");
}

# pb_encode('StoreFileReq', $text [, 'goma_log']) -> wire bytes (protoc).
sub pb_encode {
    my ($type, $text, $file) = @_;
    return _cached("enc.$type." . ($file // ''), $text, sub {
        my ($rc, $out, $err) = _run($text, $PROTOC,
            "--encode=devtools_goma.$type", _proto_args($file));
        croak "protoc --encode=devtools_goma.$type failed: $err" if $rc;
        return $out;
    });
}

# pb_decode('StoreFileResp', $bytes) -> text format; undef if protoc
# cannot parse it.
sub pb_decode {
    my ($type, $bytes, $file) = @_;
    my ($rc, $out) = _run($bytes, $PROTOC, "--decode=devtools_goma.$type",
        _proto_args($file));
    return $rc ? undef : $out;
}

sub pb_varint {
    my ($v) = @_;
    my $s = '';
    while ($v >= 0x80) {
        $s .= chr(($v & 0x7f) | 0x80);
        $v >>= 7;
    }
    return $s . chr($v);
}

sub _read_varint {
    my ($buf, $pos) = @_;
    my ($v, $shift) = (0, 0);
    while ($$pos < length $$buf) {
        my $b = ord substr($$buf, $$pos++, 1);
        $v |= ($b & 0x7f) << $shift;
        return $v unless $b & 0x80;
        $shift += 7;
        croak 'varint too long' if $shift > 63;
    }
    croak 'truncated varint';
}

# The top-level fields of a message: [number, wire type, value] each, the
# value of a length-delimited field being its payload. Dies if malformed.
sub pb_fields {
    my ($buf) = @_;
    my ($pos, @f) = (0);
    while ($pos < length $buf) {
        my $tag = _read_varint(\$buf, \$pos);
        my ($num, $wt) = ($tag >> 3, $tag & 7);
        my $v;
        if ($wt == 0) {
            $v = _read_varint(\$buf, \$pos);
        } elsif ($wt == 1 || $wt == 2 || $wt == 5) {
            my $len = $wt == 2 ? _read_varint(\$buf, \$pos)
                    : $wt == 1 ? 8 : 4;
            croak 'truncated field' if $pos + $len > length $buf;
            $v = substr($buf, $pos, $len);
            $pos += $len;
        } else {
            croak "unsupported wire type $wt";
        }
        push @f, [ $num, $wt, $v ];
    }
    return @f;
}

# ---------------------------------------------------------------- goma

# The text-format fields of one FileBlob (see the blob spec above). A FILE
# gets file_size = length(content) unless the spec has the key file_size
# (undef there omits the field).
sub blob_text {
    my (%b) = @_;
    my $type = $b{type} // 'FILE';
    my @t = ("blob_type: $type");
    push @t, "offset: $b{offset}" if defined $b{offset};
    push @t, 'content: ' . pb_text_bytes($b{content}) if defined $b{content};
    my $fs = $b{file_size};
    $fs = length $b{content}
        if !exists $b{file_size} && $type eq 'FILE' && defined $b{content};
    push @t, "file_size: $fs" if defined $fs;
    push @t, 'hash_key: ' . pb_text_bytes($_) for @{ $b{hash_keys} // [] };
    return join ' ', @t;
}

# store_req(\%spec, ...) -> { body => StoreFileReq bytes (one protoc run),
# blobs => [the FileBlob bytes in it], keys => [sha256 hex of each] }.
sub store_req {
    my @specs = @_;
    my $text = join "\n", map { 'blob { ' . blob_text(%$_) . ' }' } @specs;
    $text .= "\nrequester_info { addr: \"127.0.0.1\" username: \"test\" }\n";
    my $body = pb_encode('StoreFileReq', $text);
    my @b = map { $_->[2] } grep { $_->[0] == 1 } pb_fields($body);
    croak 'blob count mismatch' unless @b == @specs;
    return { body => $body, blobs => \@b,
             keys => [ map { sha256_hex($_) } @b ] };
}

# store_reqs($n, \%spec, ...) -> store_req() structures of $n blobs each
# (the last may be short) from a single protoc run: the FileBlob bytes are
# protoc's, only the StoreFileReq framing (field 1, length-delimited) is
# done here. For tests that need many requests.
sub store_reqs {
    my ($n, @specs) = @_;
    my $all = store_req(@specs);
    my @r;
    for (my $i = 0; $i < @specs; $i += $n) {
        my $j = $i + $n - 1 > $#specs ? $#specs : $i + $n - 1;
        my @b = @{ $all->{blobs} }[ $i .. $j ];
        push @r, { body => join('', map { "\x0a" . pb_varint(length) . $_ } @b),
                   blobs => \@b, keys => [ @{ $all->{keys} }[ $i .. $j ] ] };
    }
    return @r;
}

sub lookup_req {
    my @keys = @_;
    my $text = join "\n", map { 'hash_key: ' . pb_text_bytes($_) } @keys;
    $text .= "\nrequester_info { username: \"test\" }\n";
    return pb_encode('LookupFileReq', $text);
}

# A SaveLogReq with @logs as its exec_log entries.
sub save_log_req {
    my @logs = @_;
    my $text = join "\n", map { 'exec_log: ' . pb_text_bytes($_) } @logs;
    return pb_encode('SaveLogReq', $text, 'goma_log');
}

# StoreFileResp -> [hash keys] as protoc decodes them; undef if invalid.
sub parse_store_resp {
    my ($bytes) = @_;
    return undef unless defined $bytes;
    my $text = pb_decode('StoreFileResp', $bytes);
    return undef unless defined $text;
    my @k;
    for my $l (split /\n/, $text) {
        return undef unless $l =~ /^hash_key: "([0-9a-f]*)"$/;
        push @k, $1;
    }
    return \@k;
}

# LookupFileResp -> [the exact bytes of each blob (field 2)]; undef if the
# message holds anything else or is malformed.
sub parse_lookup_resp {
    my ($bytes) = @_;
    return undef unless defined $bytes;
    my @f = eval { pb_fields($bytes) };
    return undef if $@ || grep { $_->[0] != 2 || $_->[1] != 2 } @f;
    return [ map { $_->[2] } @f ];
}

# Readable names for raw FileBlobs (for is_deeply diagnostics): "#i" for
# the blob equal to $known->[i], "FILE_UNSPECIFIED", or "other <sha256>".
sub blob_labels {
    my ($got, $known) = @_;
    return undef unless $got;
    my %idx;
    for my $i (reverse 0 .. $#$known) {
        $idx{ $known->[$i] } = "#$i";
    }
    return [ map {
        exists $idx{$_} ? $idx{$_}
            : $_ eq "\x08\x00" ? 'FILE_UNSPECIFIED'
            : 'other ' . substr(sha256_hex($_), 0, 16)
    } @$got ];
}

# is_blobs(\@got, \@want, $name): is_deeply on blob_labels(), so that a
# failure prints names instead of binary.
sub is_blobs {
    my ($got, $want, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return Test::More::is_deeply(blob_labels($got, $want),
        blob_labels($want, $want), $name);
}

# The blob_type names of a LookupFileResp as protoc prints them.
sub lookup_resp_types {
    my ($bytes) = @_;
    my $text = pb_decode('LookupFileResp', $bytes // '');
    return undef unless defined $text;
    return [ $text =~ /^  blob_type: (\w+)$/mg ];
}

# ---------------------------------------------------------------- zlib

my $PY_ZLIB = <<'EOF';
import sys, zlib
mode = sys.argv[1]
data = sys.stdin.buffer.read()
if mode == 'zlib':
    out = zlib.compress(data, 6)
elif mode == 'deflate':
    out = zlib.compress(data, 6)[2:]
elif mode == 'deflate-notrailer':
    out = zlib.compress(data, 6)[2:-4]
elif mode == 'bomb':
    n, kind = int(sys.argv[2]), sys.argv[3]
    c = zlib.compressobj(9, zlib.DEFLATED, 31 if kind == 'gzip' else 15)
    chunk = bytes(1 << 20)
    out = b''.join(c.compress(chunk) for _ in range(n)) + c.flush()
    if kind == 'deflate':
        out = out[2:]
sys.stdout.buffer.write(out)
EOF

# compress($enc, $bytes): gzip (gzip -c), deflate (the Goma client's: a zlib
# stream minus its 2-byte header, Adler-32 trailer kept), deflate-notrailer
# (plain raw deflate), zlib (RFC 1950), identity or undef (unchanged).
sub compress {
    my ($enc, $data) = @_;
    return $data if !defined $enc || $enc eq 'identity' || $enc eq '';
    croak "unknown encoding $enc"
        unless $enc =~ /^(?:gzip|deflate|deflate-notrailer|zlib)$/;
    return _cached("z.$enc", $data, sub {
        my ($rc, $out, $err) = $enc eq 'gzip'
            ? _run($data, 'gzip', '-c', '-n')
            : _run($data, $PYTHON, '-c', $PY_ZLIB, $enc);
        croak "$enc compression failed: $err" if $rc;
        return $out;
    });
}

# decompress($content_encoding, $bytes) -> bytes, or undef unless the body
# is exactly one complete stream of that kind: gzip, deflate (raw RFC 1951:
# no zlib header, no trailer) or zlib. identity/undef: unchanged.
sub decompress {
    my ($enc, $data) = @_;
    return $data if !defined $enc || $enc eq 'identity';
    my %bits = (gzip => WANT_GZIP, deflate => -MAX_WBITS, zlib => MAX_WBITS);
    return undef unless exists $bits{$enc};
    my ($i, $st) = Compress::Raw::Zlib::Inflate->new(
        -WindowBits => $bits{$enc}, -Bufsize => 1 << 20,
        -LimitOutput => 0, -ConsumeInput => 1);
    return undef unless $st == Z_OK;
    my $in = $data;
    my $out = '';
    $st = $i->inflate($in, $out);
    return undef unless $st == Z_STREAM_END && length($in) == 0;
    return $out;
}

# $mib MiB of zeros compressed as one 'gzip' or goma 'deflate' stream.
sub deflate_bomb {
    my ($mib, $kind) = @_;
    $kind //= 'gzip';
    return _cached("bomb.$kind", $mib, sub {
        my ($rc, $out, $err) = _run('', $PYTHON, '-c', $PY_ZLIB, 'bomb', $mib,
            $kind);
        croak "python zlib failed: $err" if $rc;
        return $out;
    });
}

# ---------------------------------------------------------------- http

# A new connection to 127.0.0.1:$port.
sub rpc_conn {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
        Proto => 'tcp', Timeout => $TIMEOUT)
        or croak "connect 127.0.0.1:$port: $!";
    binmode $s;
    return $s;
}

sub _write_all {
    my ($s, $data) = @_;
    my $sel = IO::Select->new($s);
    my $deadline = time + $TIMEOUT;
    my $off = 0;
    local $SIG{PIPE} = 'IGNORE';
    while ($off < length $data) {
        return 0 unless $sel->can_write($deadline - time);
        my $n = syswrite($s, $data, 1 << 20, $off);
        return 0 unless defined $n && $n > 0;
        $off += $n;
    }
    return 1;
}

# One response from $s: { status, reason, headers (lower-case names,
# repeated ones joined by ", "), header_list ([name, value] in order), raw
# (the body as sent), eof (closed after it) }; undef on EOF or timeout
# before a whole response.
sub _read_response {
    my ($s) = @_;
    my $sel = IO::Select->new($s);
    my $deadline = time + $TIMEOUT;
    my ($buf, $r, $need) = ('');
    for (;;) {
        if (!$r && (my $end = index($buf, "\r\n\r\n")) >= 0) {
            my ($line, @h) = split /\r\n/, substr($buf, 0, $end);
            $buf = substr($buf, $end + 4);
            my ($st, $reason) = $line =~ m{^HTTP/1\.[01] (\d{3}) ?(.*)$}
                or return undef;
            $r = { status => $st, reason => $reason, headers => {},
                   header_list => [] };
            for (@h) {
                my ($n, $v) = /^([^:]+):\s*(.*?)\s*$/ or next;
                push @{ $r->{header_list} }, [ $n, $v ];
                my $k = lc $n;
                $r->{headers}{$k} = exists $r->{headers}{$k}
                    ? "$r->{headers}{$k}, $v" : $v;
            }
            $need = $r->{headers}{'content-length'};
        }
        if ($r && defined $need && length $buf >= $need) {
            $r->{raw} = substr($buf, 0, $need);
            return $r;
        }
        my $left = $deadline - time;
        return undef if $left <= 0 || !$sel->can_read($left);
        my $n = sysread($s, $buf, 1 << 20, length $buf);
        next if $n;
        return undef unless $r && !defined $need;
        @$r{qw(raw eof)} = ($buf, 1);    # close-delimited
        return $r;
    }
}

# http_raw($port_or_socket, $request_bytes) -> the response (above) with
# sock => the connection, which stays open for more requests.
sub http_raw {
    my ($where, $req) = @_;
    my $s = ref $where ? $where : rpc_conn($where);
    return undef unless _write_all($s, $req);
    my $r = _read_response($s) or return undef;
    $r->{sock} = $s;
    return $r;
}

# rpc($port_or_socket, $path, $body, %opt): POSTs $body to $path; a path of
# lower-case letters only ("s", "l", "sl", "ping") goes under
# /cxx-compiler-service/. Options: enc (compress the body with compress()
# and send the matching Content-Encoding), content_encoding (header value,
# overrides), accept (Accept-Encoding), auth (Authorization), headers
# ([[name, value], ...]), method. The response gets body => raw decoded
# per its Content-Encoding (undef if that fails).
sub rpc {
    my ($where, $path, $body, %opt) = @_;
    $body //= '';
    my $ce = $opt{content_encoding};
    if (defined $opt{enc}) {
        $body = compress($opt{enc}, $body);
        $ce //= $opt{enc} =~ /^(?:deflate-notrailer|zlib)$/ ? 'deflate'
              : $opt{enc};
    }
    $path = "$PREFIX/$path" if $path =~ /^[a-z]+\z/;
    my @h = (
        [ 'Host', 'localhost' ],
        [ 'User-Agent',
          'compiler-proxy built by test at 0123abcd@1700000000 on today' ],
        [ 'Content-Type', 'binary/x-protocol-buffer' ],
        [ 'Content-Length', length $body ],
    );
    push @h, [ 'Content-Encoding', $ce ] if defined $ce && length $ce;
    push @h, [ 'Accept-Encoding', $opt{accept} ] if defined $opt{accept};
    push @h, [ 'Authorization', $opt{auth} ] if defined $opt{auth};
    push @h, @{ $opt{headers} // [] };
    my $req = ($opt{method} // 'POST') . " $path HTTP/1.1\r\n"
        . join('', map { "$_->[0]: $_->[1]\r\n" } @h) . "\r\n" . $body;
    my $r = http_raw($where, $req) or return undef;
    $r->{body} = decompress($r->{headers}{'content-encoding'}, $r->{raw});
    return $r;
}

# store_blobs($port_or_socket, \%spec, ...) -> (the keys the server
# answered or undef, the store_req() structure, the response). The request
# goes gzip-compressed with Accept-Encoding: gzip, as the client sends it.
sub store_blobs {
    my ($where, @specs) = @_;
    my $req = store_req(@specs);
    my $r = rpc($where, 's', $req->{body}, enc => 'gzip', accept => 'gzip');
    my $keys = $r && $r->{status} == 200 ? parse_store_resp($r->{body})
             : undef;
    return ($keys, $req, $r);
}

# lookup_keys($port_or_socket, @keys) -> ([raw FileBlob bytes per key] or
# undef, the response).
sub lookup_keys {
    my ($where, @keys) = @_;
    my $r = rpc($where, 'l', lookup_req(@keys), enc => 'gzip',
        accept => 'gzip');
    my $blobs = $r && $r->{status} == 200 ? parse_lookup_resp($r->{body})
              : undef;
    return ($blobs, $r);
}

1;
