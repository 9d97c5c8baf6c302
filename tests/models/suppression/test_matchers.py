import pytest

from models.suppression.matchers import (
    Matcher,
    MatcherError,
    format_matchers,
    matches_all,
    parse_matcher,
    parse_matchers,
    sort_matchers,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('foo="bar"', ("foo", "=", "bar")),
        ("foo=bar", ("foo", "=", "bar")),
        ('foo != "bar"', ("foo", "!=", "bar")),
        ('foo=~"a|b"', ("foo", "=~", "a|b")),
        ("foo!~a.*", ("foo", "!~", "a.*")),
        ("foo=", ("foo", "=", "")),
        ('foo=""', ("foo", "=", "")),
        ('foo="a\\"b"', ("foo", "=", 'a"b')),
        ('foo="a\\nb"', ("foo", "=", "a\nb")),
        ('foo="a\\\\b"', ("foo", "=", "a\\b")),
        ('foo="a\\xb"', ("foo", "=", "a\\xb")),
        ('"my label"="x"', ("my label", "=", "x")),
        ("job:name=x", ("job:name", "=", "x")),
    ],
)
def test_parse_matcher(text, expected):
    assert parse_matcher(text).to_tuple() == expected


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("foo", "bad matcher format: foo"),
        ("1foo=bar", "bad matcher format: 1foo=bar"),
        ('foo="bar', 'matcher value contains unescaped double quote: "bar'),
        ('foo="b"ar"', 'matcher value contains unescaped double quote: "b"ar"'),
        ("foo=~(", "error parsing regexp"),
    ],
)
def test_parse_matcher_errors(text, error):
    with pytest.raises(MatcherError) as exc:
        parse_matcher(text)
    assert str(exc.value).startswith(error)


def test_parse_matchers_list():
    ms = parse_matchers('{foo = "bar", dings != "bums", }')
    assert [m.to_tuple() for m in ms] == [("foo", "=", "bar"), ("dings", "!=", "bums")]
    ms = parse_matchers('quote="She said: \\"Hi, ladies!\\"",x=~"5.."')
    assert ms[0].value == 'She said: "Hi, ladies!"'
    assert ms[1].op == "=~"
    assert parse_matchers("foo=bar,dings!=bums")[1].to_tuple() == ("dings", "!=", "bums")
    assert parse_matchers("{}") == []
    with pytest.raises(MatcherError, match="bad matcher format"):
        parse_matchers("a=b,,c=d")


def test_regex_fully_anchored():
    m = Matcher("job", "=~", "foo")
    assert m.matches({"job": "foo"})
    assert not m.matches({"job": "foobar"})
    assert not m.matches({"job": "xfoo"})
    assert not m.matches({"job": "foo\n"})  # Python's $ would allow this
    alt = Matcher("job", "=~", "a|b")
    assert alt.matches({"job": "a"}) and alt.matches({"job": "b"})
    assert not alt.matches({"job": "ab"})
    assert Matcher("x", "=~", "(?i)abc").matches({"x": "ABC"})
    assert Matcher("x", "!~", "a.*").matches({"x": "ba"})
    assert not Matcher("x", "!~", "a.*").matches({"x": "abc"})


def test_missing_label_is_empty():
    assert Matcher("x", "=", "").matches({})
    assert Matcher("x", "!=", "a").matches({})
    assert Matcher("x", "=~", ".*").matches({})
    assert not Matcher("x", "=~", ".+").matches({})
    assert Matcher("x", "!~", ".+").matches({})
    assert not Matcher("x", "=", "a").matches({})


def test_matches_all_and_empty_list():
    assert matches_all([], {"a": "b"})
    ms = parse_matchers('a="1",b=~"2|3"')
    assert matches_all(ms, {"a": "1", "b": "3"})
    assert not matches_all(ms, {"a": "1", "b": "4"})


def test_string_form_and_sort():
    ms = sort_matchers(parse_matchers('z="1", a=~"x", a="x", a!="x"'))
    assert format_matchers(ms) == '{a="x",a!="x",a=~"x",z="1"}'
    assert str(Matcher("a", "=", 'q"\n\\')) == 'a="q\\"\\n\\\\"'
    assert str(Matcher("my label", "=", "v")) == '"my label"="v"'
    # round trip
    for m in ms:
        assert parse_matcher(str(m)) == m


def test_api_json():
    m = Matcher.from_api({"name": "a", "value": "b", "isRegex": True, "isEqual": False})
    assert m.op == "!~"
    assert Matcher.from_api({"name": "a", "value": "b", "isRegex": False}).op == "="
    assert (
        Matcher.from_api({"name": "a", "value": "b", "isRegex": False, "isEqual": False}).op == "!="
    )
    assert Matcher("a", "=~", "b").to_api() == {
        "name": "a",
        "value": "b",
        "isRegex": True,
        "isEqual": True,
    }
    with pytest.raises(MatcherError):
        Matcher.from_api({"name": "a"})


def test_matches_empty_like_alertmanager():
    assert Matcher("a", "=", "").matches_empty()
    assert Matcher("a", "=~", ".*").matches_empty()
    assert not Matcher("a", "=~", ".+").matches_empty()
    assert not Matcher("a", "!=", "x").matches_empty()  # negative matchers never count


def test_literal_values_and_hash():
    assert Matcher("a", "=~", "x|y|x").literal_values() == ("x", "y")
    assert Matcher("a", "=~", "x.*").literal_values() is None
    assert Matcher("a", "!=", "x").literal_values() is None
    assert len({Matcher("a", "=", "b"), Matcher("a", "=", "b")}) == 1
