"""`python -m vtex_order_flow`: the command line."""

from .cli import main

raise SystemExit(main())
