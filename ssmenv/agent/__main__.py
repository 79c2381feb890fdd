"""``python3 -m ssmenv.agent COMMAND APP``: the agent, as ``ssmenv-agent`` runs it."""

from ssmenv.agent.cli import main

raise SystemExit(main())
