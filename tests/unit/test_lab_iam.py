"""IAM's wildcards in the AWS stand-in (lab.moto_server): ``*`` any run, ``?`` one character,
everything else literally (moto reads a pattern as a regular expression)."""

from __future__ import annotations

import pytest

from lab.moto_server import iam_pattern

SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:shop/prod/db"


@pytest.mark.parametrize(("pattern", "arn", "matches"), [
    (f"{SECRET}-??????", f"{SECRET}-AbC123", True),
    (f"{SECRET}-??????", f"{SECRET}-AbC1234", False),
    (f"{SECRET}-??????", f"{SECRET}x-AbC123", False),
    ("arn:aws:ssm:us-east-1:123456789012:parameter/shop/prod/*",
     "arn:aws:ssm:us-east-1:123456789012:parameter/shop/prod/db/URL", True),
    ("arn:aws:ssm:us-east-1:123456789012:parameter/shop/prod",
     "arn:aws:ssm:us-east-1:123456789012:parameter/shop/prod/API_KEY", False),
    ("arn:aws:s3:::bucket/a.b/*", "arn:aws:s3:::bucket/aXb/key", False),
    ("*", "anything at all", True),
])  # fmt: skip
def test_a_policy_pattern_matches_as_iam_does(pattern, arn, matches):
    assert bool(iam_pattern(pattern).fullmatch(arn)) is matches
