"""Secure Application Model auth: token-provider and refresh-token-store ports and their adapters.

`ports.py` (protocols), `errors.py` (typed auth errors), `sam_provider.py` (msal refresh-token
exchange), `app_credentials.py` (secret / certificate / federated managed identity), `stores.py`
(Key Vault and file refresh-token stores), `msal_http.py` (msal's HTTP adapter, plain HTTP on
loopback for the sandbox).
"""
