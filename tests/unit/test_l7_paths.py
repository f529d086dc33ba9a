"""Ingress paths the controller could not match literally are refused before anything is sent.

Each bad path sits in an Ingress next to a good path of the same rule, on a shard with another,
healthy Ingress: the bad path is an error on its own field, and everything else is served.
The paths the real apiserver (1.20) lets through are the ones of the bug report: a regex in a
Prefix path, `%00`, an ImplementationSpecific regex; the sequences it refuses in Prefix and Exact
paths (`//`, `%2f`...) are covered here only.
"""

from __future__ import annotations

import pytest

from akod.model.l7hosts import MAX_PATH_LENGTH, path_problem
from akod.model.problems import MESSAGE_LIMIT, QUOTE_LIMIT, ObjectRef, Problem, quoted
from tests.unit.test_l7_bad_input import GOOD_POOL, SHARD0, with_good
from tests.unit.test_l7_seed import ingress, names, path, problems, rule, rules

OK_POOL = "cluster--foo.com_ok-default-bad"


def _bad_beside_ok(bad_path: str, path_type: str = "Prefix"):  # type: ignore[no-untyped-def]
    return with_good(ingress("bad", rule("foo.com", path("/ok", "good", 80), path(bad_path, "good", 80,
                                                                                  path_type=path_type))))


@pytest.mark.parametrize(("bad_path", "path_type", "reason", "words"), [
    ("/foo(.*)$[a-z]+", "Prefix", "InvalidPath", "'['"),
    ("/foo(.*)$[a-z]+", "Exact", "InvalidPath", "never sends unencoded"),
    ("/foo%00", "Prefix", "InvalidPath", "encodes a control character ('%00')"),
    ("/foo%1F/bar", "Prefix", "InvalidPath", "control character"),
    ("/foo\x00bar", "Prefix", "InvalidPath", "control character"),
    ("/foo\nbar", "Exact", "InvalidPath", "control character"),
    ("/a%zz", "Prefix", "InvalidPath", "two hex digits"),
    ("/api/v[0-9]+/.*", "ImplementationSpecific", "RegexPathNotSupported", "literal prefix"),
    ("/foo/*", "ImplementationSpecific", "RegexPathNotSupported", "regular expression"),
    ("/(api|web)", "ImplementationSpecific", "RegexPathNotSupported", "regular expression"),
    ("/foo bar", "Prefix", "InvalidPath", "' '"),
    ("/a?b", "Prefix", "InvalidPath", "'?'"),
    ("/a#b", "Exact", "InvalidPath", "'#'"),
    ("/caf\u00e9", "Prefix", "InvalidPath", "'\u00e9'"),
    ("/a{1}", "Prefix", "InvalidPath", "'{'"),
    ("/" + "x" * MAX_PATH_LENGTH, "Prefix", "PathTooLong", f"longer than {MAX_PATH_LENGTH}"),
    # The apiserver refuses these for Prefix and Exact (422); ImplementationSpecific ones reach akod.
    ("/a//b", "Prefix", "InvalidPath", "'//'"),
    ("/a/../b", "Exact", "InvalidPath", "'/../'"),
    ("/a%2fb", "ImplementationSpecific", "InvalidPath", "'%2f'"),
    ("/a/.", "ImplementationSpecific", "InvalidPath", "'/.'"),
    ("api", "ImplementationSpecific", "InvalidPath", "does not start with '/'"),
])
def test_a_path_that_cannot_be_matched_literally_is_an_error_on_its_field_and_costs_only_itself(
        bad_path: str, path_type: str, reason: str, words: str) -> None:
    result = _bad_beside_ok(bad_path, path_type)
    assert problems(result) == [("bad", "spec.rules[0].http.paths[1].path", reason)]
    message = result.problems[0].message
    assert words in message and "this path is not served" in message
    assert len(message) < MESSAGE_LIMIT
    assert sorted(names(result, "pool")) == sorted([GOOD_POOL, OK_POOL])
    assert result.served[("default", "bad")] == (("foo.com", SHARD0),)
    assert [r["match"]["path"]["match_str"] for r in rules(result, SHARD0)] == [["/ok"], ["/"]]


@pytest.mark.parametrize(("ok_path", "path_type"), [
    ("/a.b-c_d~e!$&'()*+,;=:@", "Prefix"),  # every sub-delim is a literal path character
    ("/price%20list", "Prefix"),
    ("/c++(beta)", "Exact"),
    ("/api/v1/", "ImplementationSpecific"),
    ("", "ImplementationSpecific"),  # no path: '/'
])
def test_a_path_of_literal_url_characters_is_served(ok_path: str, path_type: str) -> None:
    assert path_problem(ok_path or "/", path_type) is None
    result = with_good(ingress("bad", rule("foo.com", path(ok_path, "good", 80, path_type=path_type))))
    assert result.problems == ()
    (match,) = [r["match"]["path"] for r in rules(result, SHARD0) if r["match"]["host_hdr"]["value"] == ["foo.com"]]
    assert match["match_str"] == [ok_path or "/"]
    assert match["match_criteria"] == ("EQUALS" if path_type == "Exact" else "BEGINS_WITH")


def test_implementation_specific_is_a_prefix_as_in_ako() -> None:
    result = with_good(ingress("bad", rule("foo.com", path("/api", "good", 80, path_type="ImplementationSpecific"))))
    (match,) = [r["match"]["path"] for r in rules(result, SHARD0) if r["match"]["host_hdr"]["value"] == ["foo.com"]]
    assert match == {"match_criteria": "BEGINS_WITH", "match_case": "SENSITIVE", "match_str": ["/api"]}


def test_a_huge_path_is_quoted_cut_with_its_length() -> None:
    huge = "/" + "a" * 200_058
    result = _bad_beside_ok(huge)
    message = result.problems[0].message
    assert "(200059 characters)" in message and "..." in message
    assert len(message) < 2 * QUOTE_LIMIT + 200


def test_quoted_escapes_control_characters_and_cuts_long_values() -> None:
    assert quoted("a\x00b\n") == "'a\\x00b\\n'"
    assert quoted("x" * 10, limit=5) == "'xx...' (10 characters)"
    assert quoted("short") == "'short'"


def test_a_problem_message_never_exceeds_the_limit_whatever_it_was_built_from() -> None:
    problem = Problem(obj=ObjectRef("Ingress", "default", "bad"), field="spec", reason="ControllerRejected",
                      message="the controller refused pool x: " + "y" * 300_000 + "\x00")
    assert len(problem.message) == MESSAGE_LIMIT and problem.message.endswith("...")
    assert "\x00" not in Problem(obj=problem.obj, field="spec", reason="R", message="a\x00b").message


def test_an_ingress_with_thousands_of_bad_paths_keeps_fifty_problems_the_last_counting_the_rest() -> None:
    from akod.model.problems import PROBLEMS_PER_OBJECT, bounded_per_object

    bad = ingress("bad", rule("foo.com", *[path(f"/p{i}[x]", "good", 80) for i in range(3000)]))
    result = with_good(bad)
    assert len(result.problems) == 3000
    kept = bounded_per_object(result.problems)
    assert len(kept) == PROBLEMS_PER_OBJECT
    assert kept[:-1] == list(result.problems[:PROBLEMS_PER_OBJECT - 1])
    assert (kept[-1].field, kept[-1].reason) == ("*", "MoreProblems")
    assert "2951 more problems of this Ingress (InvalidPath)" in kept[-1].message
    assert bounded_per_object(result.problems[:10]) == list(result.problems[:10])
