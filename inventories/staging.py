"""Staging hosts: the static list below, or, with ``SSMENV_INVENTORY=ec2``, the running EC2
instances carrying the tags below (see the README's "Inventories and hosts").

Every host is in the groups ``example`` (the app it runs), ``staging`` and ``web``; its data come
from, later ones winning: group_data/all.py, group_data/example.py, group_data/staging.py,
group_data/web.py (if present), its own entry (EC2: ``ssh_hostname`` and ``ec2_*``), then
``--data``. For your own app, its group instead of ``example`` (README, "Your own app").
"""

from ssmenv import ec2

_hosts = ec2.hosts(
    static=[
        "app-1.staging.example.internal",
    ],
    tags={"Environment": "staging", "Role": "web"},
)

# pyinfra applies a host's group data in the order this file defines its groups, the last
# one winning; the file's own group (``staging``), when not defined in it, is added last. Defining
# them in this order layers the data all -> example -> staging -> web -> host.
example = _hosts  # the example app's settings (group_data/example.py): your app's group instead
staging = _hosts
web = _hosts
