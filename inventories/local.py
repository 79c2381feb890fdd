"""The two local demo hosts booted by ``make demo`` (``python -m lab.hosts up --prefix demo``).

They play staging: same group data as staging, with this machine's SSH ports and app ports.
"""

staging = [
    ("demo-1", {"ssh_port": 2201, "app_port": 3001}),
    ("demo-2", {"ssh_port": 2202, "app_port": 3002}),
]
