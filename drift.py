"""Drift report: ``pyinfra inventories/prod.py drift.py`` changes nothing and lists, per host and
app, the variables whose deployed value or version differs from the current one in SSM / Secrets
Manager.

What is deployed comes from each app's manifest (``/etc/<app>.env.manifest``): versions, and
values by their keyed fingerprints (the host's key), so a value replaced under the same version
(a parameter deleted and created again) is found. Values are never read back or shown. On a host
with several apps (``apps``) each line starts with the app's name.

Under ``python -m ssmenv drift`` each app of each host also reports the names that differ
(``ssmenv.report``), from which the command's exit status is made: 0 none differs, 2 some do, 1 an
error.
"""

from pyinfra import host

from ssmenv import apps, manifest, report
from ssmenv.plan.environment import in_manifest
from tasks import environment
from tasks.state import read_host_state

found = apps.read(host.data)
variables = {
    config.name: in_manifest(environment.resolve(config), config)
    for config in found.configs
}

for config in apps.each(host, found):
    state = read_host_state(config)
    current = variables[config.name]
    deployed = manifest.loads(state.manifest)
    if deployed is None:
        host.log(f"{found.label(config)}drift: {config.env_file} has no manifest: never deployed")
        report.emit(host.name, differs=True, names=sorted(current), app=config.name)
    else:
        differences = manifest.compare(deployed, current, state.key)
        line = manifest.drift_line(differences, keyed=state.key is not None)
        host.log(found.label(config) + line)
        names = manifest.differing(differences)
        report.emit(host.name, differs=bool(names), names=names, app=config.name)
