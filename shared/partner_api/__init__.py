"""The Partner Center Referrals API: port, httpx client, exception tree, OData filters, retries.

Handlers import `port.PartnerApi`, `errors` and `odata` only; `client.PartnerApiClient` is built
once per worker by `stack.partner_api_from_settings` (or `stack.build_partner_api`).
"""
