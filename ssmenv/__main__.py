"""``python -m ssmenv COMMAND ...``: see ``ssmenv.cli``."""

from ssmenv.cli import main

raise SystemExit(main())
