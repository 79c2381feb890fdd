"""Whether a secret rotated by Secrets Manager rotates faster than its hosts take up a new
version (ssmenv.rotation_window): by equality."""

from ssmenv.rotation_window import interval, span, warning


def test_the_rotation_interval_comes_from_a_rate_expression_or_the_days():
    assert interval({"AutomaticallyAfterDays": 30}) == 30 * 86400
    assert interval({"ScheduleExpression": "rate(4 hours)"}) == 4 * 3600
    assert interval({"ScheduleExpression": "rate(1 day)", "AutomaticallyAfterDays": 1}) == 86400
    assert interval({"ScheduleExpression": "rate(10 minutes)"}) == 600


def test_an_interval_that_is_not_said_is_none():
    assert interval(None) is None
    assert interval({}) is None
    assert interval({"ScheduleExpression": "cron(0 16 1,15 * ? *)"}) is None
    assert interval({"AutomaticallyAfterDays": 0}) is None


def test_spans_are_written_as_systemd_writes_them():
    assert span(0) == "0s"
    assert span(900) == "15min"
    assert span(90061) == "1d 1h 1min 1s"


def test_hosts_slower_than_the_rotation_are_warned_of_in_one_line():
    # Every 4 hours, hosts that sync every 4 hours and take 10 minutes to roll out: too slow.
    assert warning("shop/prod/db", 4 * 3600, 4 * 3600, 600) == (
        "warning: secret shop/prod/db rotates every 4h, but its hosts take up to 4h (sync "
        "period) + 10min (a rollout) to take up a new version: the next rotation would change "
        "the previous role's password before every host has the new one")


def test_hosts_as_fast_as_the_rotation_or_an_unknown_interval_are_not_warned_of():
    assert warning("shop/prod/db", 86400, 900 + 300, 600) is None
    assert warning("shop/prod/db", 1500, 900, 600) is None  # exactly the interval: in time
    assert warning("shop/prod/db", None, 10**9, 10**9) is None
