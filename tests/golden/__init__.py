"""What deploys, rotations and drift reports decide, byte for byte, for fixed host states and
fixed fetched variables: the golden files beside this, made by ``harness`` (``python -m
tests.golden.harness`` writes them again) and compared by ``tests/unit/test_golden_plans.py``."""
