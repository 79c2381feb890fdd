"""Production hosts: the static list below, or, with ``SSMENV_INVENTORY=ec2``, the running EC2
instances carrying the tags below, of the account and with the instance profile below (see
docs/inventories.md, "EC2 discovery by tags").

Every host is in the groups ``example`` (the app it runs), ``prod`` and ``web``; its data come
from, later ones winning: group_data/all.py, group_data/example.py, group_data/prod.py,
group_data/web.py (if present), its own entry (EC2: ``ssh_hostname`` and ``ec2_*``), then
``--data``. For your own app, its group instead of ``example`` (docs/production.md, "Your own app").
"""

from ssmenv import ec2

_hosts = ec2.hosts(
    static=[
        "app-1.prod.example.internal",
        "app-2.prod.example.internal",
    ],
    tags={"Environment": "prod", "Role": "web"},
    # Tags are not proof: anyone allowed to tag an instance could tag one of theirs
    # Environment=prod and receive prod's secrets. Require what only prod's instances have:
    # the account that owns them and the instance profile they are launched with (attaching it
    # takes iam:PassRole on its role); vpc= and subnet= narrow it further. Put your own here.
    account="123456789012",
    instance_profile="arn:aws:iam::123456789012:instance-profile/example-app-prod",
)

# pyinfra applies a host's group data in the order this file defines its groups, the last
# one winning; the file's own group (``prod``), when not defined in it, is added last. Defining
# them in this order layers the data all -> example -> prod -> web -> host.
example = _hosts  # the example app's settings (group_data/example.py): your app's group instead
prod = _hosts
web = _hosts
