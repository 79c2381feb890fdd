"""Deploy the app to every host of an inventory: ``pyinfra inventories/prod.py deploy.py``.

The app's configuration is fetched (once for all hosts) and checked before any operation is
added: a missing or invalid variable stops the run in pyinfra's prepare phase, so no host changes.
"""

from pyinfra import host

from ssmenv.config import AppConfig
from tasks import bootstrap, environment, release, service

config = AppConfig.from_data(host.data)
variables = environment.resolve(config)

bootstrap.app_host(config)
new_release = release.app_release(config)
env_file = environment.app_environment(config, variables)
service.app_service(config, restart_if=[new_release, env_file])
