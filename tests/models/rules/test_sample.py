"""Decoding a `metrics` record: the C path gives exactly what item-by-item validation gives,
and a record with bad items still yields its good ones, each bad one with its reason."""

from __future__ import annotations

import orjson
import pytest

from models.rules.sample import Sample, SampleDecoder, parse_many
from models.wire import WireError, decode_batch

NOW = 1_700_000_000.0


def by_items(raw: bytes, tenant: str | None) -> tuple[list[Sample], list[tuple[object, str]]]:
    """The reference: orjson, then each item through Sample.from_wire."""
    return parse_many(Sample, decode_batch(raw), tenant, NOW)


def test_a_well_formed_record_decodes_to_known_samples():
    raw = orjson.dumps(
        [
            {"name": "cpu", "labels": {"host": "a"}, "value": 95, "ts": 1000},
            {"name": "cpu", "value": 1.5, "tenant": "other"},
            {"name": "mem", "labels": {}, "value": -2.0, "ts": 1001.25, "extra": [1, 2]},
        ]
    )
    samples, bad = SampleDecoder().decode(raw, "acme", NOW)
    assert bad == []
    assert samples == [
        Sample(tenant="acme", name="cpu", labels={"host": "a"}, value=95.0, ts=1000.0),
        Sample(tenant="other", name="cpu", labels={}, value=1.5, ts=NOW),
        Sample(tenant="acme", name="mem", labels={}, value=-2.0, ts=1001.25),
    ]
    assert all(type(s.value) is float and type(s.ts) is float for s in samples)
    assert (samples, bad) == by_items(raw, "acme")


def test_one_object_is_a_batch_of_one_and_no_key_means_the_default_tenant():
    samples, bad = SampleDecoder().decode(b'{"name": "cpu", "value": 1}', None, NOW)
    assert (samples, bad) == (
        [Sample(tenant="default", name="cpu", labels={}, value=1.0, ts=NOW)],
        [],
    )


def test_bad_items_are_named_and_the_good_ones_of_the_record_still_count():
    items = [
        {"name": "cpu", "value": 90, "labels": {"host": "a"}},
        {"name": "cpu", "value": "high"},
        {"name": "cpu", "value": None},
        {"name": "cpu", "value": True},
        {"name": "", "value": 1},
        {"value": 1},
        {"name": "cpu", "value": 1, "ts": None},
        {"name": "cpu", "value": 1, "labels": {"host": {"nested": 1}}},
        {"name": "cpu", "value": 1, "labels": "host=a"},
        7,
        # accepted after coercion, as the per-item path always did
        {"name": "cpu", "value": 2, "labels": {"port": 9100, "up": True}},
        {"name": "cpu", "value": 3, "labels": None, "tenant": 5},
        {"name": "cpu", "value": 4, "tenant": None},
    ]
    raw = orjson.dumps(items)
    samples, bad = SampleDecoder().decode(raw, "acme", NOW)
    assert [(item, reason) for item, reason in bad] == [
        ({"name": "cpu", "value": "high"}, "value: expected a number, got 'high'"),
        ({"name": "cpu", "value": None}, "value: expected a number, got None"),
        ({"name": "cpu", "value": True}, "value: expected a number, got True"),
        ({"name": "", "value": 1}, "name: required, a non-empty string"),
        ({"value": 1}, "name: required, a non-empty string"),
        ({"name": "cpu", "value": 1, "ts": None}, "ts: expected epoch seconds"),
        (
            {"name": "cpu", "value": 1, "labels": {"host": {"nested": 1}}},
            "labels.host: expected a string",
        ),
        (
            {"name": "cpu", "value": 1, "labels": "host=a"},
            "labels: expected an object of strings",
        ),
        (7, "sample: expected a JSON object"),
    ]
    assert samples == [
        Sample(tenant="acme", name="cpu", labels={"host": "a"}, value=90.0, ts=NOW),
        Sample(tenant="acme", name="cpu", labels={"port": "9100", "up": "True"}, value=2.0, ts=NOW),
        Sample(tenant="5", name="cpu", labels={}, value=3.0, ts=NOW),
        Sample(tenant="acme", name="cpu", labels={}, value=4.0, ts=NOW),
    ]
    assert (samples, bad) == by_items(raw, "acme")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid JSON"),
        (b'[{"name": "cpu", "value": 1e400}]', "invalid JSON"),  # inf: JSON cannot say it
        (b'[{"name": "cpu", "value": NaN}]', "invalid JSON"),
        (b"", "empty body"),
        (None, "empty body"),
        (b"42", "expected a JSON object or array, got int"),
        (b"null", "expected a JSON object or array, got NoneType"),
    ],
)
def test_a_record_that_is_not_a_batch_is_refused_whole(raw, reason):
    with pytest.raises(WireError, match=reason):
        SampleDecoder().decode(raw, "acme", NOW)


def test_nan_and_inf_from_a_python_producer_are_rejected_by_the_item_path():
    good, bad = parse_many(
        Sample,
        [{"name": "cpu", "value": float("nan")}, {"name": "cpu", "value": float("inf")}],
        "acme",
        NOW,
    )
    assert good == []
    assert [reason for _, reason in bad] == ["value: nan is not finite", "value: inf is not finite"]


def test_a_series_is_parsed_once_and_its_samples_share_one_key():
    decoder = SampleDecoder(max_series=2)
    first = b'[{"name": "cpu", "labels": {"b": "2", "a": "1"}, "value": 1, "ts": 10}]'
    again = b'[{"name": "cpu", "labels": {"b": "2", "a": "1"}, "value": 2, "ts": 20}]'
    other_order = b'[{"name": "cpu", "labels": {"a": "1", "b": "2"}, "value": 3, "ts": 30}]'
    [s1], _ = decoder.decode(first, "acme", NOW)
    [s2], _ = decoder.decode(again, "acme", NOW)
    [s3], _ = decoder.decode(other_order, "acme", NOW)
    assert s1.key == (("a", "1"), ("b", "2")) and s1.labels == {"b": "2", "a": "1"}
    assert s2.key is s1.key and s2.labels is s1.labels  # found by its raw JSON
    assert s3.key == s1.key  # other bytes, the same series: the same windows
    assert [s.value for s in (s1, s2, s3)] == [1.0, 2.0, 3.0]
    # the bound: a third series forgets the first two, and they are parsed again
    decoder.decode(b'[{"name": "cpu", "labels": {"c": "3"}, "value": 4}]', "acme", NOW)
    [s4], _ = decoder.decode(again, "acme", NOW)
    assert s4.key == s1.key and s4.key is not s1.key


def test_a_sample_made_in_python_computes_its_key():
    s = Sample(tenant="acme", name="cpu", labels={"z": "1", "a": "2"}, value=1.0, ts=0.0)
    assert s.key == (("a", "2"), ("z", "1"))
    assert Sample(tenant="acme", name="cpu", labels={}, value=1.0, ts=0.0).key == ()
