"""A new source is one module: this file's static dict source, once in the registry, is read from
host data, fetched once per run, merged at its place in the precedence, named where a missing
name would come from, summarised and given its docs table row, with no other module touched."""

from collections.abc import Mapping
from typing import Any

import pytest

from ssmenv import sources, variables
from ssmenv.config import AppConfig
from ssmenv.errors import ConfigError
from ssmenv.settings import Json, Setting, StrictStr
from ssmenv.sources.base import Pin, Row, Source, Variable, lock, plural, run_cache
from ssmenv.sources.secrets_manager import Secret
from ssmenv.sources.ssm import Parameter

# --- the whole source ---------------------------------------------------------------------------

_answers = run_cache()  # static dict -> its answer, for the run
reads: list[Any] = []  # every read, to count them


class StaticSource(Source):
    """Variables from a dict in host data (``static_env``): a stand-in for Vault or the like."""

    kind = "static_env"
    settings = (Setting("static_env", Json(dict[StrictStr, StrictStr]), {},
                        "Variables from a static dict."),)  # fmt: skip
    row = Row("static dict", "`static_env`", "—", "one variable per key")

    def spec(self, values: Mapping[str, Any]) -> tuple[Any, list[str]]:
        return (tuple(sorted(values["static_env"].items())) or None), []

    def fetch(self, spec: Any) -> dict[str, str]:
        with lock:  # hosts are prepared concurrently: the second waits, then finds the answer
            if spec not in _answers:
                reads.append(spec)
                _answers[spec] = dict(spec)
            return _answers[spec]

    def variables(self, spec, answer, pinned: frozenset[Pin]) -> tuple[list[Variable], list[str]]:
        return [Variable(k, v, f"static {k}") for k, v in answer.items()], []

    def expected(self, spec, name: str, pinned: frozenset[Pin]) -> list[str]:
        return [f"static key {name}"]

    def summary(self, spec) -> str:
        return plural(len(spec), "static variable")


# --- registered between SSM by name and Secrets Manager -----------------------------------------


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    path, by_name, secrets = sources.REGISTRY
    monkeypatch.setattr(sources, "REGISTRY", (path, by_name, StaticSource(), secrets))
    sources.clear_cache()
    yield
    sources.clear_cache()


def config(**data) -> AppConfig:
    return AppConfig.from_data({"static_env": {"A": "a", "X": "low"}, **data})


def composed(cfg: AppConfig, **answers) -> variables.Composition:
    """``compose``, the static source fetched through the registry, the AWS ones' ``answers``
    given (no AWS here)."""
    fetched = sources.fetch({"static_env": cfg.sources["static_env"]})
    return variables.compose(cfg, sources.Fetched({**fetched.answers, **answers}))


def test_its_host_data_is_a_source_and_checked_by_key():
    assert config().sources == {"static_env": (("A", "a"), ("X", "low"))}  # no AWS source needed
    with pytest.raises(ConfigError) as error:
        AppConfig.from_data({"static_env": {"A": 5}})
    problems = str(error.value).splitlines()[1:]
    assert problems == ["  static_env['A']: Input should be a valid string"]


def test_it_is_read_once_per_run_whatever_the_number_of_hosts():
    cfg = config()
    reads.clear()
    for _host in range(3):
        assert composed(cfg).variables["A"].source == "static A"
    assert reads == [cfg.sources["static_env"]]
    assert sources.api_calls == {}  # no AWS source asked for: no call
    sources.clear_cache()  # a new run reads it again
    composed(cfg)
    assert len(reads) == 2


def test_it_takes_its_place_in_the_precedence():
    assert variables.precedence() == (
        "env_contract default", "ssm_path", "ssm_parameters", "static_env", "secrets", "env",
        "app_port",
    )  # fmt: skip
    path = {"/app/prod/X": Parameter("/app/prod/X", "path", 1, "String")}
    cfg = config(ssm_path="/app/prod")
    assert composed(cfg, ssm_path=path).problems == (
        "X: set by both /app/prod/X and static X; list it in env_overrides to let the last win",
    )
    overridden = config(ssm_path="/app/prod", secrets=["s"], env_overrides=["X"])
    secret = Secret("s", "s", '{"X": "high"}', "v-1", "AWSCURRENT")
    found = composed(overridden, ssm_path=path, secrets={("s", "AWSCURRENT"): secret})
    assert found.problems == ()
    assert (found.variables["X"].value, found.variables["X"].source) == ("high", "secret s key X")
    over_the_path = composed(config(ssm_path="/app/prod", env_overrides=["X"]), ssm_path=path)
    assert over_the_path.variables["X"].source == "static X"


def test_a_missing_name_says_it_could_come_from_it():
    cfg = config(ssm_path="/app/prod", env_required=["MISSING"])
    assert composed(cfg, ssm_path={}).problems == (
        "MISSING: required but missing (expected SSM parameter /app/prod/MISSING, static key "
        "MISSING or host data env; required by env_required)",
    )


def test_it_has_its_part_of_the_summary_and_its_readme_row():
    assert config(ssm_path="/app/prod").sources_summary == (
        "SSM /app/prod, 2 static variables, host data"
    )
    rows = sources.markdown_table().splitlines()[2:]
    assert rows[2] == "| static dict | `static_env` | — | one variable per key |"
    assert "static_env" in sources.settings().keys
