"""The IAM evaluator used by the role tests behaves as the IAM User Guide's evaluation logic says."""

from __future__ import annotations

import pytest

from tests.iam_eval import allowed, decide


def _policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


ALLOW_TAGGED = {
    "Effect": "Allow",
    "Action": "rds:DeleteDBInstance",
    "Resource": "arn:aws:rds:eu-central-1:111122223333:db:drill-*",
    "Condition": {"StringEquals": {"aws:ResourceTag/kind": "drill"}},
}


def test_nothing_matched_is_an_implicit_deny():
    assert decide(_policy(), "s3:GetObject", "arn:aws:s3:::b/k") == "implicit-deny"


def test_an_explicit_deny_wins_over_an_allow():
    policy = _policy(
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::b/*"},
    )
    assert decide(policy, "s3:DeleteObject", "arn:aws:s3:::b/k") == "deny"
    assert decide(policy, "s3:GetObject", "arn:aws:s3:::b/k") == "allow"


def test_actions_match_case_insensitively_resources_case_sensitively():
    policy = _policy({"Effect": "Allow", "Action": "RDS:deletedbinstance", "Resource": "arn:aws:rds:*:*:db:Prod"})
    assert decide(policy, "rds:DeleteDBInstance", "arn:aws:rds:eu-central-1:1:db:Prod") == "allow"
    assert decide(policy, "rds:DeleteDBInstance", "arn:aws:rds:eu-central-1:1:db:prod") == "implicit-deny"


@pytest.mark.parametrize(
    ("name", "tags", "expected"),
    [
        ("drill-1", {"aws:ResourceTag/kind": "drill"}, "allow"),
        ("drill-1", {}, "implicit-deny"),  # a missing key fails StringEquals
        ("drill-1", {"aws:ResourceTag/kind": "restore"}, "implicit-deny"),
        ("prod", {"aws:ResourceTag/kind": "drill"}, "implicit-deny"),  # the resource pattern
    ],
)
def test_a_condition_and_the_resource_must_both_hold(name, tags, expected):
    arn = f"arn:aws:rds:eu-central-1:111122223333:db:{name}"
    assert decide(_policy(ALLOW_TAGGED), "rds:DeleteDBInstance", arn, tags) == expected


def test_negated_operators_hold_for_a_missing_key_and_null_tests_presence():
    policy = _policy(
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*",
         "Condition": {"StringNotEquals": {"s3:x-amz-acl": "public-read"}, "Null": {"aws:SourceVpc": "false"}}}
    )  # fmt: skip
    assert decide(policy, "s3:PutObject", "x", {"aws:SourceVpc": "vpc-1"}) == "allow"
    assert decide(policy, "s3:PutObject", "x", {"aws:SourceVpc": "vpc-1", "s3:x-amz-acl": "public-read"}) != "allow"
    assert decide(policy, "s3:PutObject", "x", {}) != "allow"


def test_a_list_of_values_matches_any_and_every_resource_of_a_request_must_be_allowed():
    policy = _policy(
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": ["arn:k1", "arn:k2"],
         "Condition": {"StringEquals": {"kms:ViaService": ["rds.x.amazonaws.com", "s3.x.amazonaws.com"]}}}
    )  # fmt: skip
    assert allowed(policy, "kms:Decrypt", ["arn:k1", "arn:k2"], {"kms:ViaService": "s3.x.amazonaws.com"})
    assert not allowed(policy, "kms:Decrypt", ["arn:k1", "arn:k3"], {"kms:ViaService": "s3.x.amazonaws.com"})
    assert not allowed(policy, "kms:Decrypt", ["arn:k1"], {"kms:ViaService": "ec2.x.amazonaws.com"})


def test_an_unknown_operator_is_an_error_not_a_pass():
    policy = _policy({"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"DateLessThan": {"k": "v"}}})
    with pytest.raises(ValueError, match="DateLessThan"):
        decide(policy, "s3:GetObject", "x", {"k": "v"})
