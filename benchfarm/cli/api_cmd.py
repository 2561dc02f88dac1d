"""`benchfarm api`: serve the farm's HTTP API."""

from __future__ import annotations

from typing import Annotated

import typer

from benchfarm.settings import get_settings

app = typer.Typer(help="The farm's HTTP API (FastAPI; OpenAPI at /docs and /openapi.json).", no_args_is_help=True)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default: settings api_host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: settings api_port).")] = None,
) -> None:
    """Serve the API until stopped."""
    import uvicorn

    from benchfarm.api.app import create_app
    from benchfarm.composition import build_api_deps

    settings = get_settings()
    app = create_app(settings, build_deps=build_api_deps)
    uvicorn.run(app, host=host or settings.api_host, port=port or settings.api_port, log_level="warning")
