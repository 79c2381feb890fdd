"""The demo's third host (``make demo``): ``demo-3``, which pulls its configuration as an Auto
Scaling group's instance would. No pyinfra deploy reaches it: this inventory is what the control
machine publishes for it (``python -m ssmenv publish inventories/local_pull.py``) and what
``python -m ssmenv iam`` derives its instance role from. Its SSH data is there only to look
(``python -m ssmenv drift``, ``plan``).

Same app and environment as demo-1 and demo-2 (the groups ``example`` and ``staging``, as
inventories/local.py), so it serves the same values; its own port, and ``delivery = "pull"``.
"""

from lab.hosts import connection_data as _connection

_pulling = {
    **_connection(2203),
    "app_port": 3003,
    # As group_data/local.py does for demo-1 and demo-2 (a group applied to inventories/local.py
    # alone): SESSION_SECRET as an encrypted systemd credential.
    "credentials": ["SESSION_SECRET"],
    "delivery": "pull",
    "release_bucket": "demo-releases",
    # Short, for the demo: a value changed in the stand-in reaches demo-3 within about a minute.
    "pull_period": "1min",
    "pull_jitter": "10s",
}
_hosts = [("demo-3", _pulling)]
example = _hosts
staging = _hosts
