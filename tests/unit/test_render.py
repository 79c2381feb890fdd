from dataclasses import replace
from pathlib import Path

import jinja2
import pytest

from ssmenv import envfile, render
from ssmenv.config import AppConfig
from ssmenv.credentials import ENCRYPTED, PLAIN, Delivered


def test_env_file_parses_back_to_exactly_the_values():
    values = {"A": "it's \"quoted\" $HOME", "B": "", "C": "line1\nline2", "D": " # not a comment"}
    text = render.env_file("app", "SSM /app", values)
    assert envfile.parse(text) == values
    assert text.startswith("# app: managed by ssmenv")


def test_env_template_refuses_to_print_a_value_without_an_encoding_filter(tmp_path, monkeypatch):
    unsafe = render._environment(finalize=render._finalize).from_string("A={{ value }}\n")
    with pytest.raises(jinja2.TemplateError) as error:
        unsafe.render(value="FAKE-CANARY")
    assert "FAKE-CANARY" not in str(error.value)


def test_env_template_refuses_invalid_names():
    with pytest.raises(jinja2.TemplateError):
        render.env_file("app", "x", {"NOT-VALID": "v"})


def test_a_newline_in_the_origin_cannot_break_out_of_the_comment():
    text = render.env_file("app", "SSM\nINJECTED=1", {"A": "1"})
    assert envfile.parse(text) == {"A": "1"}


def test_unit_loads_the_env_file_without_a_dash_prefix():
    unit = render.unit_file(AppConfig.from_data({"ssm_path": "/a", "app_name": "shop"}))
    assert "EnvironmentFile=/etc/shop.env\n" in unit
    assert "User=shop\n" in unit
    assert "WorkingDirectory=/opt/shop/current\n" in unit
    assert "Restart=on-failure\n" in unit


def test_a_backslash_at_the_end_of_the_origin_cannot_hide_the_first_variable():
    text = render.env_file("app", "SSM /path\\\\", {"A": "1"})
    assert envfile.parse(text) == {"A": "1"}


def test_units_and_the_env_file_render_through_one_environment_only_the_env_file_strict():
    assert render._env_templates.loader is render.templates.loader
    assert render._env_templates.filters is render.templates.filters
    assert render.templates.from_string("{{ value }}").render(value="plain") == "plain"
    with pytest.raises(jinja2.TemplateError):
        render._env_templates.from_string("{{ value }}").render(value="FAKE-CANARY")


def test_the_env_template_stays_strict_whichever_environment_loaded_it_first():
    render.templates.get_template("app.env.j2")
    assert render._env_templates.get_template("app.env.j2").environment is render._env_templates


def test_in_a_checkout_the_templates_are_the_roots():
    assert render.TEMPLATES == Path(__file__).resolve().parents[2] / "templates"


def test_each_process_loads_the_credentials_and_is_told_where_each_file_is():
    config = AppConfig.from_data({"ssm_path": "/a/b", "credentials": ["DB_PASSWORD"]})
    delivered = Delivered(config.name, ("DB_PASSWORD", "TLS_KEY"), ENCRYPTED)
    units = render.unit_files(config, delivered)
    for name in ("example-app-web.service", "example-app-worker.service"):
        lines = units[name].splitlines()
        assert ("LoadCredentialEncrypted=TLS_KEY:/etc/credstore.encrypted/example-app/TLS_KEY"
                in lines)  # fmt: skip
        assert "Environment=DB_PASSWORD_FILE=%d/DB_PASSWORD" in lines


def test_the_fallback_loads_plain_credential_files():
    config = AppConfig.from_data({"ssm_path": "/a/b"})
    delivered = Delivered(config.name, ("API_KEY",), PLAIN)
    unit = render.unit_files(config, delivered)["example-app-web.service"]
    assert "LoadCredential=API_KEY:/etc/credstore/example-app/API_KEY" in unit.splitlines()


def test_without_credentials_a_unit_loads_none():
    unit = render.unit_files(AppConfig.from_data({"ssm_path": "/a/b"}))["example-app-web.service"]
    assert "LoadCredential" not in unit and "_FILE=" not in unit


def test_a_credential_name_that_is_no_variable_name_never_becomes_unit_lines():
    # The composition refuses it first; the renderer refuses it too, whoever hands it over.
    config = AppConfig.from_data({"ssm_path": "/a/b"})
    forged = Delivered(config.name, ("A\nExecStartPre=+/bin/true\nB",), ENCRYPTED)
    with pytest.raises(ValueError, match=r"^not variable names, refused in a unit: 'A\\nExec"):
        render.unit_files(config, forged)


@pytest.mark.parametrize("command", ["+/usr/bin/node s.js", "!!/usr/bin/node s.js",
                                     "/usr/bin/node s.js \\", "/usr/bin/node\0s.js"])  # fmt: skip
def test_a_command_systemd_would_run_otherwise_never_becomes_an_exec_start_line(command):
    # Host data and the Procfile are checked before; a process made any other way is too.
    config = AppConfig.from_data({"ssm_path": "/a/b"})
    process = replace(config.processes[0], command=command)
    with pytest.raises(ValueError, match=r"^ExecStart= command refused: "):
        render.unit_files(replace(config, processes=(process,)))
