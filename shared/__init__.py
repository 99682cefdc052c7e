"""Referral Relay core: contracts, ports, adapters and handlers deployed with the functions."""

__version__ = "0.1.0"
