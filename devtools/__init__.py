"""Development-only tools: generators of the published schemas and docs. Never deployed
(`.funcignore`); nothing under `shared/` imports them."""
