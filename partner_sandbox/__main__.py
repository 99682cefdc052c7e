"""`python -m partner_sandbox [--host H] [--port P] [--latency-ms N] [--faults SPEC] [--seed N]`."""

import sys

from partner_sandbox.server import main

sys.exit(main())
