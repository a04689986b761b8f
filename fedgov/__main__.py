"""``python -m fedgov`` is the ``fedgov`` command."""

from fedgov.cli import main

raise SystemExit(main())
