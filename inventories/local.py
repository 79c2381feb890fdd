"""The two local demo hosts booted by ``make demo`` (``python -m lab.hosts up --prefix demo``).

They run the example app (group ``example``) and play staging: same group data as staging, with
this machine's SSH ports and app ports; group_data/local.py (the file's own group, applied last)
says how to reach them.
"""

_hosts = [
    ("demo-1", {"ssh_port": 2201, "app_port": 3001}),
    ("demo-2", {"ssh_port": 2202, "app_port": 3002}),
]
example = _hosts
staging = _hosts
