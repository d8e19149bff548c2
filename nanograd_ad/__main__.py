"""``python -m nanograd_ad`` runs the ``nanograd-ad`` command (see `nanograd_ad.cli`)."""

from .cli import main

raise SystemExit(main())
