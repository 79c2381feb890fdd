"""Local demo hosts (inventories/local.py): containers on this machine, reached over SSH as the
non-root sudo user ``deploy`` with the lab's key."""

from lab.hosts import USER, key_path

ssh_hostname = "127.0.0.1"
ssh_user = USER
ssh_key = str(key_path())
# The containers share one image's host keys and are recreated on every boot: nothing to pin.
ssh_known_hosts_file = "/dev/null"
ssh_strict_host_key_checking = "no"

# Secrets as files (docs/credentials.md): the demo delivers SESSION_SECRET as a systemd
# credential, encrypted on each host; the app reads it from the file SESSION_SECRET_FILE names.
credentials = ["SESSION_SECRET"]

# The demo's hosts have a real database (make demo starts it): their health check queries it, so
# a deploy with database credentials that do not work is rolled back (docs/database.md).
health_path = "/healthz/db"
