from causalgear.cli import main

raise SystemExit(main())
