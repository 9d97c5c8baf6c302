"""Alert fingerprints, computed exactly as Prometheus Alertmanager does.

64-bit FNV-1a over the label set sorted by name, each label fed as name, 0xFF, value,
0xFF (``model.LabelSet.Fingerprint``), hashed in C by ``fnv_c``.  About 2 µs an alert,
all of it building the bytes; no cache: one would save ~1.5 µs on a repeated label set
but cost as much on a new one, and hold memory for every alert ever seen.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import chain

from fnv_c import fnv1a_64

# The separator byte 0xFF is not valid UTF-8, so no str encodes to it; U+DCFF does under
# "surrogateescape".  Label text never holds a lone surrogate of its own: the JSON decoders
# refuse them (orjson, msgspec), and Alertmanager's Go strings cannot carry one either.
_SEP = "\udcff"


def fingerprint_int(labels: Mapping[str, str]) -> int:
    """The fingerprint as Alertmanager's ``model.Fingerprint``: an unsigned 64-bit int."""
    text = _SEP.join(chain.from_iterable(sorted(labels.items())))
    return fnv1a_64((text + _SEP).encode("utf-8", "surrogateescape") if labels else b"")


def fingerprint(labels: Mapping[str, str]) -> str:
    """The alert's fingerprint as Alertmanager shows it: 16 lower-case hex digits."""
    return f"{fingerprint_int(labels):016x}"
