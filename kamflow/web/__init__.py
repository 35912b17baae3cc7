"""kamflow's web app and REST API (FastAPI).

- `kamflow.web.app.create_app` builds the app; `kamflow serve` runs it with uvicorn.
- `kamflow.web.deps`: the dependencies every route uses (`current_user`, `optional_user`,
  `context`, `moment`), the session cookies (`start_session`, `end_session`) and the CSRF
  helpers (`csrf_token`, `csrf_field`).
- `kamflow.people`: passwords, API tokens, the login rate limit, calendar tokens, demo
  logins; no web framework, so the CLI uses it too.
- `kamflow.access`: who may see and do what, for every route.
- `kamflow.web.errors`: errors as JSON `{"error", "field"}` with their status codes.
- `kamflow.web.api`: the /api routers; `kamflow.web.calendar`: the iCalendar feeds;
  `kamflow.web.ops`: /healthz and /metrics.
"""
