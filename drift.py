"""Drift report: ``pyinfra inventories/prod.py drift.py`` changes nothing and lists, per host, the
variables whose deployed value or version differs from the current one in SSM / Secrets Manager.

What is deployed comes from each host's manifest (``/etc/<app>.env.manifest``): versions, and
values by their keyed fingerprints (the host's key), so a value replaced under the same version
(a parameter deleted and created again) is found. Values are never read back or shown.

Under ``python -m ssmenv drift`` each host also reports the names that differ (``ssmenv.report``),
from which the command's exit status is made: 0 none differs, 2 some do, 1 an error.
"""

from pyinfra import host

from ssmenv import manifest, report
from ssmenv.config import AppConfig
from tasks import environment
from tasks.state import read_host_state

config = AppConfig.from_data(host.data)
variables = environment.resolve(config)
state = read_host_state(config)

deployed = manifest.loads(state.manifest)
if deployed is None:
    host.log(f"drift: {config.env_file} has no manifest: never deployed")
    report.emit(host.name, differs=True, names=sorted(variables))
else:
    differences = manifest.compare(deployed, variables, state.key)
    host.log(manifest.drift_line(differences, keyed=state.key is not None))
    names = manifest.differing(differences)
    report.emit(host.name, differs=bool(names), names=names)
