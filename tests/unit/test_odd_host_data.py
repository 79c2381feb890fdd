"""Any host data, however odd its types, is either an app or one line per problem naming the
key: never a traceback (a ``KeyError`` for a setting that had a problem, a ``TypeError`` for a
dict where a name was expected), never a line that a value or a name splits in two.

Hypothesis builds the data from every setting's key, with values of every JSON type, text with
control characters, and the words settings look for (``secure``, ``web``, ``id``, ``check``...)
as dict keys and values."""

from __future__ import annotations

import json
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssmenv import apps
from ssmenv.config import SETTINGS
from ssmenv.errors import ConfigError
from ssmenv.sources.secrets_manager import _json_object

KEYS = [s.key for s in SETTINGS]
# Words some setting looks for, in a dict's keys or values.
IMAGE = "registry.example.com/shop@sha256:" + "0" * 64
WORDS = ["id", "variable", "prefix", "stage", "as_json", "web", "worker", "scale", "port",
         "health_path", "check", "default", "required", "one_of", "pattern", "allow_empty", "A",
         "shop", "secure", "*", "node", "python", "container", "50%", "/a", "/healthz", "url",
         IMAGE, "a\nb", "+x", "{}", "[]", '["web"]']  # fmt: skip
scalars = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats()
           | st.text(max_size=10) | st.sampled_from(WORDS))  # fmt: skip
keys = st.sampled_from(KEYS + WORDS) | st.text(max_size=6)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)
host_data = st.dictionaries(st.sampled_from(KEYS), values, max_size=6)
# A line that is one line to a terminal and to Python: no control character, no other line end.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(host_data, st.none() | st.dictionaries(keys, st.none() | host_data | values, max_size=3))
def test_any_host_data_is_an_app_or_one_line_per_problem_never_a_traceback(data, several):
    data = {"ssm_path": "/a", **data}
    if several is not None:
        data["apps"] = several
    try:
        apps.read(data, overrides={})
    except ConfigError as e:
        for line in str(e).split("\n")[1:]:
            assert line.startswith("  ") and not CONTROL.search(line), line


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=8,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=5), st.booleans())
def test_a_json_secrets_values_are_its_text_or_one_line_reasons(document, spaced):
    text = json.dumps(document, indent=2 if spaced else None, allow_nan=True)
    found, why = _json_object(text)
    for key, value in document.items():
        if isinstance(value, str):
            assert found[key] == value
        elif isinstance(value, bool):
            assert found[key] == json.dumps(value)
        elif isinstance(value, int | float):
            assert found[key] == json.dumps(value)  # as written, here by json.dumps
    assert all(not CONTROL.search(reason) for reason in why), why
