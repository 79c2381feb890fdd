"""Deploy the app to every host of an inventory: ``pyinfra inventories/prod.py deploy.py``.

The app's configuration is fetched (once for all hosts) and checked before any operation is
added: a missing or invalid variable stops the run in pyinfra's prepare phase, so no host changes.
Then one command per host reads what it has, and each task adds operations only for what differs.
What the app runs (env file, release, unit) switches in one health-gated activation per host,
host after host, rolled back where the app does not come up healthy.
"""

from pyinfra import host

from ssmenv.config import AppConfig
from tasks import bootstrap, environment, release, service
from tasks.state import read_host_state

config = AppConfig.from_data(host.data)
variables = environment.resolve(config)
# The release (built once per run for all hosts) is the deploy's alone to ask about.
state = read_host_state(config, release=release.release_path(config))

bootstrap.app_host(config, state)
new_release = release.app_release(config, state)
env = environment.app_environment(config, variables, state)
service.app_service(config, state, env=env, release=new_release)
