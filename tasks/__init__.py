"""The push driver: what the plan (``ssmenv.plan``) says a host must switch to, carried out with
pyinfra, one importable module per concern: ``app`` (one app's plan on this host: its notes, its
operations), ``state`` (the state read), ``bootstrap`` (packages, provisioning), ``release`` (the
release archive), ``environment`` (the variables; the manifest alone), ``service`` (the
activation), ``scheduler`` (the rotation timer on a control host)."""
