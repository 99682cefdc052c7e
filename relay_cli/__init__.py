"""The `referral-relay` console script (development and operator tool; not deployed)."""
