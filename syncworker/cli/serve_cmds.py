"""`syncworker serve`: the HTTP API (operator endpoints, Xero webhooks, health, metrics) on uvicorn, with
jobs run in-process."""

from __future__ import annotations

import click

from syncworker.cli.context import get_app


@click.command("serve")
@click.option("--host", default=None, help="Address to listen on (default: http.host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default: http.port, 8080).")
@click.option("--workers-threads", "threads", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Threads running jobs (link runs, syncs, webhook pulls) in this process.")
def serve(host: str | None, port: int | None, threads: int) -> None:
    """Serve the HTTP API until interrupted. Operator endpoints need SYNCWORKER_OPERATOR_TOKEN (they answer
    503 without it); the Xero webhook needs SYNCWORKER_XERO_WEBHOOK_KEY. On shutdown, accepted jobs finish."""
    import uvicorn

    from syncworker.http.app import create_app
    from syncworker.jobs.inprocess import InProcessExecutor
    app_ = get_app()
    settings = app_.settings
    ctx = app_.services()
    if not settings.operator_token:
        click.echo("warning: SYNCWORKER_OPERATOR_TOKEN is not set: operator endpoints answer 503", err=True)
    executor = InProcessExecutor(ctx, workers=threads)
    server = uvicorn.Server(uvicorn.Config(
        create_app(ctx, executor), host=host or settings.http_host, port=port or settings.http_port,
        log_config=None,  # keep syncworker's redacting log handler
        server_header=False, proxy_headers=False, timeout_graceful_shutdown=10,
    ))
    try:
        server.run()
    finally:
        executor.shutdown(wait=True)
    if not server.started:
        raise click.ClickException(f"could not start the server on {host or settings.http_host}:"
                                   f"{port or settings.http_port} (see the log above)")


commands: list[click.Command] = [serve]

if __name__ == "__main__":  # `python -m syncworker.cli.serve_cmds` until the root group registers it
    serve(prog_name="syncworker serve")
