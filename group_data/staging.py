"""Staging: only injected configuration differs from production, never code."""

ssm_path = "/example-app/staging"
env = {"NODE_ENV": "production", "LOG_LEVEL": "debug"}
