"""`benchfarm spec`: the job spec's schema and validation."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from benchfarm.cli.console import out, print_json

app = typer.Typer(help="Job specs: print the JSON Schema, validate a file.", no_args_is_help=True)


@app.command()
def schema() -> None:
    """Print the job spec's JSON Schema."""
    from benchfarm.spec.schema import job_spec_schema_text

    sys.stdout.write(job_spec_schema_text())


@app.command()
def validate(
    spec_file: Annotated[Path, typer.Argument(help="YAML or JSON job spec.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the validated spec with defaults as JSON.")] = False,
) -> None:
    """Validate a job spec; exit 2 with each problem's line and field when it is invalid."""
    from benchfarm.spec.loader import load_spec_file

    spec = load_spec_file(spec_file)
    if as_json:
        print_json(spec.model_dump(mode="json"))
    else:
        out.print(f"{spec_file}: valid job spec {spec.name!r}")
