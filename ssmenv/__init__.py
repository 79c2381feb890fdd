"""ssmenv: configuration from AWS SSM into systemd env files, for pyinfra deploys.

Pure logic (sources, validation, env-file encoding, rendering) lives in plain modules; the pyinfra
operations and facts of the project are in ``ssmenv.operations`` and ``ssmenv.facts``.
"""

import logging

# botocore logs whole response bodies (decrypted SecureStrings and secret strings included) at
# DEBUG, which `pyinfra --debug-all` turns on for every logger: keep those loggers above DEBUG.
for _name in ("botocore.parsers", "botocore.endpoint", "botocore.hooks", "botocore.auth"):
    logging.getLogger(_name).setLevel(logging.INFO)
