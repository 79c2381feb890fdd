"""A user's own app, deployed from its own inventory and group data beside the example (run from
the checkout, so ``group_data/all.py`` applies), needs none of the example app's settings: not its
required variables, its name, its source or its environment.

The user's project is a directory of its own: ``shop.py`` (the inventory: the group ``shop``) and
``group_data/shop.py`` beside it, as docs/production.md's "Your own app" describes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import hosts as lab
from tests.e2e.conftest import BLOCKS, Deployer, aws_env, booted

SSM_PATH = "/e2e-own/shop"
TOKEN = "FAKE-own-app-token"
EXAMPLE_NAMES = ("DATABASE_URL", "API_KEY", "SESSION_SECRET", "NODE_ENV", "LOG_LEVEL")

SERVER_JS = """'use strict';
const http = require('node:http');
if (!process.env.SHOP_TOKEN) {
  console.error('SHOP_TOKEN is missing');
  process.exit(78);
}
http.createServer((req, res) => {
  res.writeHead(req.url === '/healthz' ? 200 : 404, { 'content-type': 'text/plain' });
  res.end(req.url === '/healthz' ? 'ok\\n' : 'not found\\n');
}).listen(Number(process.env.PORT));
"""


@pytest.fixture(scope="module")
def shop_host():
    with booted(BLOCKS["own-app"], 1) as hosts:
        yield hosts[0]


@pytest.fixture(scope="module")
def shop(shop_host, stand_in, tmp_path_factory) -> Deployer:
    """The user's project: its app, its inventory (group ``shop``) and its group data."""
    project = tmp_path_factory.mktemp("shop-project")
    (project / "app").mkdir()
    (project / "app" / "server.js").write_text(SERVER_JS)
    (project / "group_data").mkdir()
    (project / "group_data" / "shop.py").write_text(
        '"""The shop app: everything it is and needs."""\n'
        'app_name = "shop"\n'
        f"app_source = {str(project / 'app')!r}\n"
        f"ssm_path = {SSM_PATH!r}\n"
        'env_contract = {"SHOP_TOKEN": {}}\n'
    )
    data = {**lab.connection_data(shop_host.ssh_port), "app_port": shop_host.app_port}
    inventory = project / "shop.py"
    inventory.write_text(f"shop = [({shop_host.name!r}, {data!r})]\n")
    return Deployer(inventory, aws_env(stand_in))


def test_a_missing_variable_of_ones_own_app_is_named_with_the_file_that_requires_it(
    shop, shop_host
):
    result = shop.run()
    assert result.returncode != 0
    group_data = Path(shop.inventory).parent / "group_data" / "shop.py"
    assert (
        f"SHOP_TOKEN: required but missing (expected SSM parameter {SSM_PATH}/SHOP_TOKEN or "
        f"host data env; required by env_contract in {group_data})" in result.output
    ), result.output[-3000:]
    for name in EXAMPLE_NAMES:  # nothing of the example app's is asked for
        assert name not in result.output, result.output[-3000:]
    assert "Starting operation" not in result.output
    assert shop_host.run("getent passwd shop; test -e /opt/shop && echo exists", check=False) == ""


def test_ones_own_app_deploys_with_none_of_the_example_apps_settings(shop, shop_host, stand_in):
    stand_in.put({f"{SSM_PATH}/SHOP_TOKEN": TOKEN})
    result = shop.run()
    assert result.returncode == 0, result.output[-3000:]
    assert shop_host.get("/healthz") == b"ok\n"
    environ = shop_host.process_environ("shop.service")
    assert environ["SHOP_TOKEN"] == TOKEN.encode()
    assert environ["PORT"] == str(shop_host.app_port).encode()
    assert not set(EXAMPLE_NAMES) & set(environ)
    assert shop_host.run("systemctl show shop.service -p User --value").strip() == "shop"
    # Nothing of the example app on the host: its user, directory, env file or units.
    assert shop_host.run(
        "getent passwd example-app; ls -d /opt/example-app /etc/example-app.env "
        "/etc/systemd/system/example-app* 2>/dev/null", check=False
    ) == ""
    assert "example-app" not in result.output
