"""Rotate configuration: ``pyinfra inventories/prod.py rotate.py`` (add ``--dry`` for a plan).

Refreshes only the environment: fetch and check every variable, compare with what each host has
(its manifest), and rewrite and restart only the apps whose values changed, health-gated and
rolling like a deploy. Prints per host which variables change, with their old and new versions,
never values. Nothing else (packages, release, unit) is touched. A host with several apps
(``apps``) is compared app by app: a changed value restarts its app only.

Under ``python -m ssmenv plan`` (``--dry``) each app of each host also reports whether the
rotation would change it and the variables whose values differ (``ssmenv.report``), from which the
command's exit status is made: 0 no host would change, 2 some would, 1 an error.
"""

from pyinfra import host

from ssmenv import apps, report
from tasks import app, environment
from tasks.state import read_host_state

found = apps.read(host.data)
variables = {config.name: environment.resolve(config) for config in found.configs}

for config in apps.each(host, found):
    state = read_host_state(config)
    plan = app.rotate(config, variables[config.name], state)
    report.emit(host.name, differs=plan.differs, names=plan.differing, app=config.name)
