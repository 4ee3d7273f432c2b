import sys

from contop.cli.main import main

sys.exit(main())
