"""`python -m akod` runs the same command line as the `akod` console script."""

from akod.cli.main import main

raise SystemExit(main())
