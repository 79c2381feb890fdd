"""Deploy the apps to every host of an inventory: ``pyinfra inventories/prod.py deploy.py``.

Each host runs one app (its data) or several (``apps``; ``--data app=NAME`` deploys one of them).
Every app's configuration is fetched (each source once for all hosts and apps) and checked before
any operation is added: a missing or invalid variable stops the run in pyinfra's prepare phase, so
no host changes. Then one command per app on each host reads what it has, and the plan
(``ssmenv.plan``) adds operations only for what differs (an app that runs a container image has
its image pulled first). What an app runs (env file, release or image, unit) switches in one
health-gated activation per host, host after host, rolled back where the app does not come up
healthy; a host's apps take their turns in the order its data lists them.
"""

from pyinfra import host

from ssmenv import apps
from tasks import app, environment, release
from tasks.state import read_host_state

found = apps.read(host.data)
variables = {config.name: environment.resolve(config) for config in found.configs}

done = []
for config in apps.each(host, found):
    # The release (built once per run for all hosts) is the deploy's alone to ask about.
    path = release.release_path(config)
    state = read_host_state(config, release=path)
    app.deploy(config, variables[config.name], state, path, others=tuple(done))
    done.append(config)
