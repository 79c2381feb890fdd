"""The example app (examples/app): what it is and what it cannot run without.

The hosts of inventories/staging.py, prod.py and local.py are in the group ``example``, defined
first so that the environment's data (group_data/staging.py, prod.py) layers over this. Your own
app gets a group data file of its own instead, named for it, and its hosts that group
(docs/production.md, "Your own app"): nothing here applies to a host outside the group ``example``.
"""

app_name = "example-app"
app_source = "examples/app"
app_runtime = "node"  # the python twin: app_runtime = "python", app_source = "examples/python-app"

# The deploy stops before touching any host unless each of these is present and non-empty.
env_required = ["DATABASE_URL", "API_KEY", "SESSION_SECRET"]
