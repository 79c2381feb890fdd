"""Settings for every host of every inventory (see the README's table for all keys)."""

# The deploy user is a sudoer, as on EC2; root login is never needed.
_sudo = True

app_name = "example-app"
app_source = "examples/app"
app_runtime = "node"  # the python twin: app_runtime = "python", app_source = "examples/python-app"
aws_region = "us-east-1"

# The deploy stops before touching any host unless each of these is present and non-empty.
env_required = ["DATABASE_URL", "API_KEY", "SESSION_SECRET"]

# A connection storm (dozens of hosts at once) makes the odd SSH handshake fail ("transport shut
# down or saw EOF"); without retries pyinfra gives that host up and the run fails. pyinfra's own
# connect retries, with a random delay between tries, spread the storm out.
ssh_connect_retries = 3
ssh_connect_retry_min_delay = 0.2
ssh_connect_retry_max_delay = 1.5
