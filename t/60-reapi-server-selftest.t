#!/usr/bin/perl
#
# Runs t/reapi/selftest.py: the python gRPC self test of the REAPI test
# server t/reapi/reapi_server.py, then (if Debian's python3-buildstream is
# installed) the same client against BuildStream's CAS server started by
# t/reapi/casserver.py.  Each "ok N - ..." line of the python output becomes
# one test here.  Needs Debian's python3-grpcio, python3-protobuf, protoc and
# grpc_python_plugin; skips otherwise.

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Test::Rx::Reapi qw(missing $PYTHON);
use Test::Rx::Tap qw(report run_tap);

my $selftest = 't/reapi/selftest.py';
my $limit = 300;    # seconds per python run

my $why = missing(qw(grpc stubs));
plan skip_all => $why if $why;

report('reapi_server', run_tap($limit, $PYTHON, $selftest));

SKIP: {
    $why = missing('buildstream');
    skip $why, 1 if $why;
    report('buildstream casserver',
           run_tap($limit, $PYTHON, $selftest, '--buildstream'));
}

done_testing();
