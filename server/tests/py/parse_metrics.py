"""Parses Prometheus text (stdin) with the prometheus_client library's parser, which
refuses malformed exposition, and prints one line per sample:
`family type name {"label": "value"} value` (labels as JSON, sorted)."""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families

for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        labels = json.dumps(sample.labels, sort_keys=True, separators=(",", ":"))
        print(family.name, family.type, sample.name, labels, repr(float(sample.value)))
