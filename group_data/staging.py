"""Staging: only injected configuration differs from production, never code.

The group of the hosts of inventories/staging.py (and of the demo's, inventories/local.py),
layered over their app's group (the example's: group_data/example.py). ``ssm_path`` and ``env``
below are the example app's in staging: point them at your app's when its hosts join this group.
"""

ssm_path = "/example-app/staging"
env = {"NODE_ENV": "production", "LOG_LEVEL": "debug"}
# Secrets as files (docs/credentials.md): every SecureString and secret as an encrypted
# systemd credential.
# credentials = "secure"

# How the deploy logs in: a user with passwordless sudo (Debian's EC2 images: "admin") and the
# private key of the instances' key pair.
ssh_user = "admin"
ssh_key = "~/.ssh/example-app-staging.pem"
# Hosts only reachable through a bastion: an OpenSSH config file whose ProxyJump covers their
# addresses (docs/inventories.md).
# ssh_config_file = "~/.ssh/example-app-staging.config"
