"""The pull driver: a program on each host (``ssmenv-agent``) that switches its apps itself, with
the same plan and the same host programs as a push, and its instance role's credentials.

For each app the host pulls (``ssmenv.plan.pull``: the agent's configuration for it says where
its description is, a file a deploy wrote or an SSM parameter the publish step wrote), a sync
(``sync``) reads the description (``ssmenv.description``), fetches the app's variables with
botocore's default credential chain (the instance role through IMDSv2: no key on disk) and
checks them against the contract, reads the host's state with ``shell/state.sh``, asks the plan
(``ssmenv.plan.app.deploy(..., by_agent=True)``), fetches the release it names when the host
lacks it (from S3, checked by its sha256), and runs ``shell/provision.sh`` and
``shell/activate.sh`` here, under the app's lock: one health-gated activation of release and
configuration together, rolled back on failure. It runs at boot (``boot``: bounded retries while
AWS cannot be reached, then the last known good configuration, ``lastgood``, up to its age), on a
timer with jitter and on command (``ssmenv-agent sync APP``), and says how it went in its exit
status (``status``).

Nothing here imports pyinfra: the agent runs on the host's own Python with the distribution's
botocore, and the rest of what it needs (pydantic, jinja2, this package) travels in its bundle
(``ssmenv.bundle``).
"""
