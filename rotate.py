"""Rotate configuration: ``pyinfra inventories/prod.py rotate.py`` (add ``--dry`` for a plan).

Refreshes only the environment: fetch and check every variable, compare with what each host has
(its manifest), and rewrite and restart only the hosts whose values changed, health-gated and
rolling like a deploy. Prints per host which variables change, with their old and new versions,
never values. Nothing else (packages, release, unit) is touched.

Under ``python -m ssmenv plan`` (``--dry``) each host also reports whether the rotation would
change it and the variables whose values differ (``ssmenv.report``), from which the command's
exit status is made: 0 no host would change, 2 some would, 1 an error.
"""

from pyinfra import host

from ssmenv import manifest, report
from ssmenv.config import AppConfig
from tasks import environment, service
from tasks.state import read_host_state

config = AppConfig.from_data(host.data)
variables = environment.resolve(config)
state = read_host_state(config)

env = environment.app_environment(config, variables, state)
report.emit(host.name, differs=bool(env.files), names=manifest.differing(env.differences))
if env.files or state.pending:
    # A changed value, or an activation a run left unfinished: finish it or roll it back.
    service.app_service(config, state, env=env, only_env=True)
else:
    host.log(f"{config.env_file}: no value changed")
