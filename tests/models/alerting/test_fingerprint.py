"""Fingerprints are Alertmanager's: known answers from prometheus/common's own tests, and
agreement with a byte-by-byte FNV-1a written here as the reference."""

from __future__ import annotations

import random

import pytest

from models.alerting.fingerprint import fingerprint, fingerprint_int

# prometheus/common model/signature_test.go (TestMetricToFingerprint and the
# BenchmarkMetricToFingerprint* expectations): labelSetToFingerprint, which
# Alertmanager's LabelSet.Fingerprint calls.
KNOWN = [
    ({}, 14695981039346656037),
    ({"name": "garland, briggs", "fear": "love is not enough"}, 5799056148416392346),
    ({"first-label": "first-label-value"}, 5146282821936882169),
    (
        {"first-label": "first-label-value", "second-label": "second-label-value"},
        3195800080984914717,
    ),
    (
        {
            "first-label": "first-label-value",
            "second-label": "second-label-value",
            "third-label": "third-label-value",
        },
        13843036195897128121,
    ),
]


def reference(labels: dict[str, str]) -> int:
    """FNV-1a 64 byte by byte over name, 0xFF, value, 0xFF, names in Go's byte order."""
    h = 14695981039346656037
    for name, value in sorted(labels.items(), key=lambda kv: kv[0].encode()):
        for b in name.encode() + b"\xff" + value.encode() + b"\xff":
            h = ((h ^ b) * 1099511628211) & (2**64 - 1)
    return h


@pytest.mark.parametrize(("labels", "expected"), KNOWN)
def test_known_answers_of_prometheus_common(labels, expected):
    assert fingerprint_int(labels) == expected
    assert fingerprint(labels) == f"{expected:016x}"


def test_the_empty_label_set_is_the_fnv_offset():
    assert fingerprint({}) == "cbf29ce484222325"


def test_agrees_with_the_reference_on_awkward_label_sets():
    rng = random.Random(9)
    alphabet = "az_:09 ,=\"'{}\\\x00\u00ff\u00e9\u4e2d\U0001f525"
    cases = [
        {"alertname": "HighCpu", "host": "web-1", "severity": "warning", "tenant": "acme"},
        {"a": "", "": "b"},
        {"ÿ": "\u00ff", "y": "\xff"},  # U+00FF is two bytes in UTF-8, never the separator
        {"z": "1", "ä": "2", "a": "3", "中": "4", "🔥": "5"},  # byte order = code point order
    ]
    for _ in range(200):
        n = rng.randrange(0, 6)
        cases.append(
            {
                "".join(rng.choices(alphabet, k=rng.randrange(0, 8))): "".join(
                    rng.choices(alphabet, k=rng.randrange(0, 12))
                )
                for _ in range(n)
            }
        )
    for labels in cases:
        assert fingerprint_int(labels) == reference(labels), labels
    # the insertion order of a label set does not matter
    labels = cases[0]
    assert fingerprint(dict(reversed(labels.items()))) == fingerprint(labels)
