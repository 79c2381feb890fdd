"""Drift report: ``pyinfra inventories/prod.py drift.py`` changes nothing and lists, per host, the
variables whose deployed version differs from the current one in SSM / Secrets Manager.

Deployed versions come from each host's manifest (``/etc/<app>.env.manifest``); values are never
read back or shown.
"""

from pyinfra import host

from ssmenv import manifest
from ssmenv.config import AppConfig
from tasks import environment
from tasks.state import read_host_state

config = AppConfig.from_data(host.data)
variables = environment.resolve(config)
state = read_host_state(config)

deployed = manifest.loads(state["manifest"])
if deployed is None:
    host.log(f"drift: {config.env_file} has no manifest: never deployed")
else:
    drifted = manifest.drift(deployed, variables)
    host.log(f"drift: {', '.join(drifted)}" if drifted else "drift: none, every version is current")
