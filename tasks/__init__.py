"""The deploy's steps, one importable ``@deploy`` function per concern, run in this order by
``deploy.py``: bootstrap (user, directories, runtime), release (the app's code), environment (the
env file from SSM) and service (the systemd unit, restarts and health)."""
