"""Fleet rollouts through AWS Systems Manager Run Command: ``python -m ssmenv fleet``.

For hosts in pull mode with SSH closed, or too many for one control machine: Run Command already
reaches every instance (its SSM Agent, as root), runs a command document on many at a time with
``MaxConcurrency`` and ``MaxErrors``, stops on a CloudWatch alarm, and records every invocation.
The document (``ssmenv.plan.fleet.document``) runs the app's agent's sync on the host
(``ssmenv-agent sync APP``): the host fetches with its own instance role, so no value travels
through Run Command, its parameters or its output.

- ``document``: the app's command document, written to SSM only when its content changed.
- ``rollout``: the canary's command, polled until every host said how its sync went, then the
  rest's, 50 instances a command, each decided by the core (``ssmenv.plan.fleet.decide``);
  a host that rolled back stops the rollout (the running command cancelled, the rest not sent).
- ``events``: the EventBridge rules that start the app's Automation runbook (a canary, then the
  waves, within the same limits) when its parameters change or its secrets rotate, and the two
  least-privilege roles: EventBridge's, which starts it, and the runbook's, which sends the
  document.
- ``commands``: the command line (``python -m ssmenv fleet rollout|status|events``).

AWS runs the commands; the tests prove what is sent and read (against the stand-in, which runs
nothing) and what the document's command does on real hosts (end to end): docs/fleet.md.
"""
