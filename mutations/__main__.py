import sys

from mutations.run import main

sys.exit(main())
