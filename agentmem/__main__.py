"""``python -m agentmem`` runs the CLI."""

from agentmem.cli import main

raise SystemExit(main())
