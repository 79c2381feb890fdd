"""Drift report: ``pyinfra inventories/prod.py drift.py`` changes nothing and lists, per host, the
variables whose deployed value or version differs from the current one in SSM / Secrets Manager.

What is deployed comes from each host's manifest (``/etc/<app>.env.manifest``): versions, and
values by their keyed fingerprints (the host's key), so a value replaced under the same version
(a parameter deleted and created again) is found. Values are never read back or shown.
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
    differences = manifest.compare(deployed, variables, state["key"])
    host.log(manifest.drift_line(differences, keyed=state["key"] is not None))
