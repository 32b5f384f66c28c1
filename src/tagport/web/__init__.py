"""The web console: server-rendered pages (Jinja2, htmx) over the same services as the API.

`create_console` builds it; `tagport.api.app.create_app` mounts it at `/`, beside `/api/v1`.
Pages authenticate with the session cookie of a console login; every unsafe request carries the
session's CSRF token. Labels come from one message catalogue per language (`i18n`).
"""
