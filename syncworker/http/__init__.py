"""The HTTP surface: operator endpoints (bearer token), Xero webhooks (signature), health and metrics.

`create_app(ctx, executor)` in `syncworker.http.app` builds the FastAPI application; `syncworker serve`
runs it on uvicorn. Routers stay thin: each parses a request, calls one service and shapes the answer.
"""
