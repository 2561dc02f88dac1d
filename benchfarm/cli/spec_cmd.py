"""`benchfarm spec`: the job spec's JSON Schema, and validating a spec file.

Exit codes: 0 valid, 2 invalid (each problem with its line and field path).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from benchfarm.cli.console import out, print_json

app = typer.Typer(help="Job specs: print the JSON Schema, validate a file.", no_args_is_help=True)


@app.command()
def schema() -> None:
    """Print the job spec's JSON Schema (the same as docs/job-spec.schema.json)."""
    from benchfarm.spec.schema import job_spec_schema_text

    sys.stdout.write(job_spec_schema_text())


@app.command()
def validate(
    spec_file: Annotated[Path, typer.Argument(help="YAML or JSON job spec.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print {valid, spec | problems} as JSON.")] = False,
) -> None:
    """Validate a job spec; exit 2 listing each problem's line and field when it is invalid."""
    from benchfarm.spec.loader import SpecValidationError, load_spec_file

    try:
        spec = load_spec_file(spec_file)
    except SpecValidationError as exc:
        if not as_json:
            raise
        print_json({"valid": False, "source": exc.source, "problems": [p.as_dict() for p in exc.problems]})
        raise typer.Exit(2) from None
    if as_json:
        print_json({"valid": True, "source": str(spec_file), "spec": spec.model_dump(mode="json")})
    else:
        out.print(f"{spec_file}: a valid job spec ({spec.name!r}, image {spec.image})", highlight=False)
