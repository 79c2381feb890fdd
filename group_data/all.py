"""Settings for every host of every inventory: what is not any one app's (docs/settings.md has
all keys). An app's own settings live in its group's file: the example app's in
``group_data/example.py``, yours in ``group_data/<your app>.py`` (docs/production.md)."""

# The deploy user is a sudoer, as on EC2; root login is never needed.
_sudo = True

aws_region = "us-east-1"

# A connection storm (dozens of hosts at once) makes the odd SSH handshake fail ("transport shut
# down or saw EOF"); without retries pyinfra gives that host up and the run fails. pyinfra's own
# connect retries, with a random delay between tries, spread the storm out.
ssh_connect_retries = 3
ssh_connect_retry_min_delay = 0.2
ssh_connect_retry_max_delay = 1.5
