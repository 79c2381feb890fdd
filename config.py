"""pyinfra's run-wide configuration, loaded from the working directory before the inventory.

Deploys here are run from the repository root (``pyinfra inventories/prod.py deploy.py``), so
pyinfra finds this file first. It holds nothing about apps or hosts (that is ``group_data/``);
it only makes the control process cheaper (``ssmenv.control``).
"""

from ssmenv.control import tune_collector

tune_collector()
