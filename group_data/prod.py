"""Production: only injected configuration differs from staging, never code."""

ssm_path = "/example-app/prod"
env = {"NODE_ENV": "production", "LOG_LEVEL": "info"}
