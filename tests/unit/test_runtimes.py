"""Runtimes: each is one object that says its packages, start command and dependency install."""

import subprocess

import pytest

from ssmenv import render
from ssmenv.config import AppConfig
from ssmenv.credentials import Delivered
from ssmenv.errors import ConfigError
from ssmenv.runtimes import RUNTIMES
from ssmenv.runtimes.container import ENGINES, RUN_AS, Image, auth_json

DIGEST = "sha256:" + "0123456789abcdef" * 4
IMAGE = f"registry.example.com:5000/shop/web:1.4@{DIGEST}"


def test_node_installs_with_npm_only_where_the_source_has_a_lockfile(tmp_path):
    node = RUNTIMES["node"]
    assert node.install(tmp_path) is None and node.packages_for(tmp_path) == ()
    (tmp_path / "package-lock.json").write_text("{}")
    assert node.install(tmp_path) == "npm ci --omit=dev --no-audit --no-fund"
    assert node.packages_for(tmp_path) == ("npm",)


def test_python_makes_a_virtualenv_per_release_and_installs_requirements_if_any(tmp_path):
    python = RUNTIMES["python"]
    assert python.install(tmp_path) == "python3 -m venv .venv"
    (tmp_path / "requirements.txt").write_text("# nothing yet\n")
    assert python.install(tmp_path) == "python3 -m venv .venv"
    (tmp_path / "requirements.txt").write_text("flask==3.1.3\n")
    assert python.install(tmp_path).startswith("python3 -m venv .venv && .venv/bin/python -m pip")


def test_every_runtime_is_a_setting_value_giving_its_packages_and_start():
    for name, runtime in RUNTIMES.items():
        image = {"app_image": IMAGE} if runtime.image else {}
        config = AppConfig.from_data({"ssm_path": "/a", "app_runtime": name, **image})
        assert config.runtime is runtime
        assert config.packages == runtime.packages
        assert config.start == runtime.start.format(home="/opt/example-app")


@pytest.mark.parametrize(("text", "registry", "repository", "tag"), [
    (IMAGE, "registry.example.com:5000", "shop/web", "1.4"),
    (f"127.0.0.1:5951/example@{DIGEST}", "127.0.0.1:5951", "example", None),
    (f"localhost/app:v2@{DIGEST}", "localhost", "app", "v2"),
    (f"library/node:22@{DIGEST}", "docker.io", "library/node", "22"),
    (f"node@{DIGEST}", "docker.io", "node", None),
])  # fmt: skip
def test_an_image_reference_is_read_into_its_registry_repository_tag_and_digest(
    text, registry, repository, tag
):
    image = Image.parse(text)
    assert (image.registry, image.repository, image.tag, image.digest) == (
        registry, repository, tag, DIGEST)  # fmt: skip
    assert image.reference == text


@pytest.mark.parametrize(("text", "why"), [
    ("registry.example.com/shop:1.4", "must name the image by digest"),
    ("shop@sha256:abc", "64 lowercase hex digits"),
    (f"Shop@{DIGEST}", "repository path"),
    (f"shop:bad tag@{DIGEST}", "tag"),
    (f"shop; rm -rf /@{DIGEST}", "repository path"),
])  # fmt: skip
def test_an_image_reference_that_is_not_pinned_or_not_a_reference_is_refused(text, why):
    with pytest.raises(ValueError, match=why):
        Image.parse(text)


def container(**more) -> AppConfig:
    return AppConfig.from_data({"ssm_path": "/a", "app_runtime": "container",
                                "app_image": IMAGE, **more})  # fmt: skip


@pytest.mark.parametrize(("data", "line"), [
    ({"app_runtime": "container"}, "app_image: required"),
    ({"app_image": IMAGE}, 'app_image: only with app_runtime "container"'),
    ({"container_engine": "docker"}, 'container_engine: only with app_runtime "container"'),
    ({"app_runtime": "container", "app_image": IMAGE, "container_registry_password": "PW"},
     "the registry's user and password go together"),
    ({"app_runtime": "container", "app_image": IMAGE, "container_engine": "lxc"},
     "container_engine: Input should be 'podman' or 'docker'"),
    ({"app_runtime": "container", "app_image": IMAGE, "app_processes": ["worker"]},
     "app_processes: without a Procfile the app has one process, web"),
])  # fmt: skip
def test_container_settings_are_checked_together_before_any_host_is_touched(data, line):
    with pytest.raises(ConfigError, match=line):
        AppConfig.from_data({"ssm_path": "/a", **data})


def test_a_container_app_is_one_web_unit_whose_command_is_the_image_and_app_start():
    config = container(app_start="--workers 2 'a b'")
    assert config.units == ("example-app.service",)
    assert config.container.args(config.processes[0].command) == ("--workers", "2", "a b")
    assert config.container.args("") == ()


def test_the_unit_runs_the_image_by_digest_giving_every_value_by_name_only():
    unit = render.unit_files(container(), names=("API_KEY", "DATABASE_URL"),
                             engine=ENGINES["podman"])["example-app.service"]  # fmt: skip
    start = unit.split("ExecStart=", 1)[1].split("\n# ", 1)[0]
    assert "\n  --rm --name=example-app --network=host --pull=never --init --replace "\
           "--http-proxy=false \\\n" in start  # fmt: skip
    assert "  --env=API_KEY \\\n  --env=DATABASE_URL \\\n  --env=PORT \\\n" in start
    assert start.rstrip().endswith(IMAGE)
    assert "EnvironmentFile=/etc/example-app.env" in unit and "Environment=PORT=3000" in unit
    assert "KillMode=mixed" in unit
    # The sandbox is the container's business: the engine must run as root.
    assert "ProtectSystem" not in unit and "WorkingDirectory" not in unit


def test_the_container_runs_as_the_apps_user_by_its_ids_on_the_host_which_owns_the_credentials():
    unit = render.unit_files(container(app_user="shop"), Delivered("example-app", ("API_KEY",)),
                             names=("A",), engine=ENGINES["podman"])  # fmt: skip
    unit = unit["example-app.service"]
    # User= makes systemd hand the credentials to the app's user; "+" keeps the engine root.
    assert "\nUser=shop\nGroup=shop\n" in unit
    assert ("\nExecStart=+/bin/sh -c 'u=$$(id -u shop) && g=$$(id -g shop) && "
            'exec "$$0" run --user="$$u:$$g" "$$@"\' /usr/bin/podman \\\n'
            "  --rm --name=example-app --network=host --pull=never --init --replace "
            "--http-proxy=false --volume=%d:/run/secrets:ro \\\n") in unit  # fmt: skip


def test_the_root_shell_runs_the_engine_with_the_users_ids_and_every_word_after_it(tmp_path):
    # The script as systemd hands it to sh ($$ is $), with an engine that prints its arguments.
    script = RUN_AS.format(user="root")
    engine = tmp_path / "engine"
    engine.write_text('#!/bin/sh\nprintf "%s|" "$@"\n')
    engine.chmod(0o755)
    ran = subprocess.run(["/bin/sh", "-c", script, str(engine), "--rm", "a b", "IMAGE"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert ran.stdout == "run|--user=0:0|--rm|a b|IMAGE|"
    missing = subprocess.run(["/bin/sh", "-c", RUN_AS.format(user="ssmenv-no-such-user"),
                              str(engine), "IMAGE"], capture_output=True, text=True)  # fmt: skip
    assert missing.returncode != 0 and missing.stdout == ""  # no engine without the user


def test_container_user_image_runs_the_images_own_user_as_root_would_start_it():
    unit = render.unit_files(container(container_user="image"), names=("A",),
                             engine=ENGINES["podman"])["example-app.service"]  # fmt: skip
    assert "User=" not in unit and "/bin/sh" not in unit and "--user" not in unit
    assert "\nExecStart=/usr/bin/podman run --rm --name=example-app --network=host " in unit


def test_a_units_script_is_single_quoted_and_one_that_could_break_out_is_refused():
    assert render.exec_script('exec "$0" "$@"') == "'exec \"$$0\" \"$$@\"'"
    for script in ("echo 'x'", "a\\b", "a\nb"):
        with pytest.raises(ValueError, match="no quote, backslash or line break"):
            render.exec_script(script)


def test_a_containers_credentials_are_mounted_read_only_and_named_by_their_path_inside():
    unit = render.unit_files(container(), Delivered("example-app", ("API_KEY",)), names=("A",),
                             engine=ENGINES["podman"])["example-app.service"]  # fmt: skip
    assert "--volume=%d:/run/secrets:ro" in unit
    assert "Environment=API_KEY_FILE=/run/secrets/API_KEY" in unit
    assert "--env=API_KEY_FILE" in unit and "--env=API_KEY " not in unit


def test_docker_removes_a_leftover_container_before_each_start_and_takes_no_podman_options():
    unit = render.unit_files(container(container_engine="docker"), names=("A",),
                             engine=ENGINES["docker"])["example-app.service"]  # fmt: skip
    # As root ("+"): the unit's User= is the app's.
    assert "ExecStartPre=-+/usr/bin/docker rm --force example-app" in unit
    assert '"$$@"\' /usr/bin/docker \\\n  --rm --name=example-app' in unit
    assert "--replace" not in unit and "--http-proxy" not in unit
    config = container(container_engine="docker", container_user="image")
    image = render.unit_files(config, names=("A",), engine=ENGINES["docker"])["example-app.service"]
    assert "ExecStartPre=-/usr/bin/docker rm --force example-app" in image
    assert "ExecStart=/usr/bin/docker run --rm --name=example-app" in image


def test_app_start_words_are_taken_literally_by_systemd():
    unit = render.unit_files(container(app_start="--greeting '50% $HOME'"), names=(),
                             engine=ENGINES["podman"])["example-app.service"]  # fmt: skip
    assert f'{IMAGE} --greeting "50%% $$HOME"' in unit


def test_the_registry_login_is_what_both_engines_read():
    assert auth_json("127.0.0.1:5000", "ci", "FAKE-pw") == (
        '{"auths": {"127.0.0.1:5000": {"auth": "Y2k6RkFLRS1wdw=="}}}')  # fmt: skip
