#!/usr/bin/python3
"""Parses a Prometheus text exposition on stdin with python3-prometheus-client
(an independent parser) and prints one line per sample:

    TYPE family type
    S name{label="v",...} value

Labels are sorted.  Exit status 2 when the text does not parse."""

import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    text = sys.stdin.read()
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # noqa: BLE001 - any parse error is the answer
        print('PARSE ERROR: %s' % e)
        return 2
    for f in families:
        print('TYPE %s %s' % (f.name, f.type))
        for s in f.samples:
            labels = ','.join('%s="%s"' % (k, s.labels[k])
                              for k in sorted(s.labels))
            print('S %s{%s} %r' % (s.name, labels, float(s.value)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
