from jupyternetes.cli import main

raise SystemExit(main())
