r"""`python -m relay_cli ...`: the same CLI without the `referral-relay` script on PATH (Windows
PowerShell: `.venv\Scripts\python -m relay_cli run samples\independent.json`)."""

import sys

from relay_cli.main import main

sys.exit(main())
