"""`benchfarm image`: build, list, inspect, history, diff and push benchmark images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from benchfarm.adapters.docker_images import DockerImages
from benchfarm.cli.console import out, print_json, progress
from benchfarm.errors import UserInputError
from benchfarm.images import labels as L
from benchfarm.images.builder import ImageBuilder
from benchfarm.images.directory import is_path_target
from benchfarm.images.index import IndexDocs, index_manifest, manifest_index
from benchfarm.images.inspect import ImageCatalogueView
from benchfarm.images.manifest import Manifest, diff_manifests, ensure_manifest
from benchfarm.images.model import ImageEngine
from benchfarm.images.registry import push_image
from benchfarm.settings import get_settings

app = typer.Typer(help="Benchmark images: the golden base, the catalogue, their provenance and the farm registry.",
                  no_args_is_help=True)

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _cell(value: object) -> Text:
    """A table cell holding ``value`` as plain text: data from labels and tags is never read as markup."""
    return Text("" if value is None else str(value))


def _docker() -> DockerImages:
    from benchfarm.cli.farm import farm

    return farm().images


def _index_docs() -> IndexDocs | None:
    """``index_docs(index, docs)`` over the store's spooling writer (documents carry their ``_id``)."""
    from benchfarm.cli.farm import farm

    writer = farm().store_writer

    def index_docs(index: str, docs: list[dict]) -> bool:
        pairs = [(d["_id"], {k: v for k, v in d.items() if k != "_id"}) for d in docs]
        return writer.index_docs(index, pairs, op_type="index").delivered

    return index_docs


def _keep_manifest(docker: ImageEngine, image_id: str, refs: list[str]) -> Manifest:
    """Compute/store the image's file manifest and index it in Elasticsearch when the store can."""
    settings = get_settings()
    manifest = ensure_manifest(docker, image_id, settings.state_dir, progress=progress)
    index_docs = _index_docs()
    if index_docs is None:
        progress(f"manifest kept on disk; not indexed in {manifest_index(settings.index_prefix)} "
                 "(benchfarm.store provides no index_docs yet)")
    else:
        sent = index_manifest(manifest, refs, index_docs, settings.index_prefix)
        progress(f"indexed {sent} manifest documents in {manifest_index(settings.index_prefix)}")
    return manifest


@app.command()
def build(
    target: Annotated[str, typer.Argument(
        metavar="NAME|PATH",
        help="A catalogue image (a directory name under images/, e.g. sysbench), or the path of any directory "
             "with a Dockerfile (contains '/' or is an existing directory; a benchmark.yaml there is optional).")],
    name: Annotated[str | None, typer.Option("--name", help="PATH only: the image name "
                                             "(default: benchmark.yaml's, else the directory's name).")] = None,
    version: Annotated[str | None, typer.Option("--version", help="PATH only: the version tag (default: "
                                                "benchmark.yaml's, else 0.0.0-<hash of the directory>).")] = None,
    cause: Annotated[str, typer.Option("--cause", help="Why it is built: manual, ci or timer.")] = "manual",
    ci_tag: Annotated[str, typer.Option("--ci-tag", help="The CI build tag (e.g. jenkins-benchfarm-123).")] = "",
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Ignore the engine's build cache.")] = False,
    as_json: AsJson = False,
) -> None:
    """Build NAME or PATH with provenance labels, run its validate self-test, then tag it usable.

    A directory's image is benchfarm/<name>:<version> (and :latest); `benchfarm image push <name>` sends it
    to the farm registry.
    """
    if cause not in L.BUILD_CAUSES:
        raise UserInputError(f"--cause must be one of {', '.join(L.BUILD_CAUSES)}, not {cause!r}")
    settings = get_settings()
    docker = _docker()
    builder = ImageBuilder(docker, settings)
    if is_path_target(target, builder.catalogue.names()):
        result = builder.build_path(Path(target), name=name, version=version, cause=cause, ci_tag=ci_tag,
                                    progress=progress, nocache=no_cache)
    elif name is not None or version is not None:
        raise UserInputError(f"--name and --version are for a directory; {target} is a catalogue image, whose "
                             "name and version are in its benchmark.yaml",
                             hint=f"build it as `benchfarm image build {target}`, or give the path of a directory")
    else:
        result = builder.build(target, cause=cause, ci_tag=ci_tag, progress=progress, nocache=no_cache)
    _keep_manifest(docker, result.image_id, result.tags)
    if as_json:
        print_json(result.to_dict())
    else:
        note = "" if result.validated else " (no validate command: not self-tested)"
        out.print(f"[green]built[/green] {', '.join(result.tags)}  {result.image_id}{note}", highlight=False)


@app.command("list")
def list_(as_json: AsJson = False) -> None:
    """The catalogue and the images built from it, with their provenance."""
    rows = ImageCatalogueView(_docker(), get_settings()).rows()
    if as_json:
        print_json(rows)
        return
    table = Table("name", "version", "image id", "tags", "commit", "dirty", "cause", "created (source)")
    for r in rows:
        p = r.get("provenance") or {}
        image_id = _cell(r["image_id"][:19]) if r.get("image_id") else Text("not built", style="dim")
        table.add_row(_cell(r["name"]), _cell(r["version"]), image_id, _cell(", ".join(r.get("tags", []))),
                      _cell((p.get("git_commit") or "")[:10]), _cell(p.get("git_dirty", "")),
                      _cell(p.get("build_cause", "")), _cell(p.get("created", "")))
    out.print(table)


@app.command()
def inspect(ref: Annotated[str, typer.Argument(help="Image name (sysbench), tag or id.")]) -> None:
    """An image's provenance, labels, tags and build records (JSON)."""
    print_json(ImageCatalogueView(_docker(), get_settings()).inspect(ref))


@app.command()
def history(ref: Annotated[str, typer.Argument(help="Image name, tag or id.")], as_json: AsJson = False) -> None:
    """Walk an image's ancestors (its base chain), newest first."""
    chain = ImageCatalogueView(_docker(), get_settings()).history(ref)
    if as_json:
        print_json(chain)
        return
    table = Table("image id", "name", "version", "tags", "commit", "created (source)")
    for c in chain:
        table.add_row(_cell(c["image_id"][:19]), _cell(c.get("name", "")), _cell(c.get("version", "")),
                      _cell(", ".join(c.get("tags", []))), _cell((c.get("git_commit") or "")[:10]),
                      _cell(c.get("created", "")))
    out.print(table)


@app.command()
def manifest(ref: Annotated[str, typer.Argument(help="Image name, tag or id.")], as_json: AsJson = False) -> None:
    """Compute (once) and show an image's file manifest: path -> sha256, size, mode; plus its Debian packages."""
    view = ImageCatalogueView(_docker(), get_settings())
    info = view.docker.get(view.resolve_ref(ref))
    m = _keep_manifest(view.docker, info.id, info.tags)
    if as_json:
        print_json(m.to_dict())
    else:
        out.print(f"{info.id}: {len(m.files)} paths, {len(m.packages)} Debian packages "
                  f"(stored under {get_settings().state_dir / 'manifests'})", highlight=False)


@app.command()
def diff(
    a: Annotated[str, typer.Argument(help="Old image: name, tag or id.")],
    b: Annotated[str, typer.Argument(help="New image: name, tag or id.")],
    as_json: AsJson = False,
) -> None:
    """Files (path, sha256, size, mode) and Debian packages that differ between two images, without running them."""
    settings = get_settings()
    view = ImageCatalogueView(_docker(), settings)
    docker = view.docker
    ma = ensure_manifest(docker, view.resolve(a), settings.state_dir, progress=progress)
    mb = ensure_manifest(docker, view.resolve(b), settings.state_dir, progress=progress)
    result = diff_manifests(ma, mb)
    if as_json:
        print_json(result.to_dict())
        return
    for path in result.added:
        out.print(f"[green]+ {path}[/green]", highlight=False)
    for path in result.removed:
        out.print(f"[red]- {path}[/red]", highlight=False)
    for path in result.changed:
        out.print(f"[yellow]~ {path}[/yellow]", highlight=False)
    for pkg, (old, new) in sorted(result.packages.items()):
        out.print(f"package {pkg}: {old or '(none)'} -> {new or '(none)'}", highlight=False)
    out.print(f"{len(result.added)} added, {len(result.removed)} removed, {len(result.changed)} changed files; "
              f"{len(result.packages)} packages changed", highlight=False)


@app.command()
def push(
    name: Annotated[str, typer.Argument(help="An image name (sysbench, or one built from a directory), a local tag, "
                                             "or the directory it was built from.")],
    as_json: AsJson = False,
) -> None:
    """Push an image to the farm registry as <registry>/<name>:<version>; prints the pullable digest reference.

    Catalogue images and images built from a directory (`benchfarm image build PATH`) alike: jobs on pool hosts
    run the pushed image by that digest.
    """
    settings = get_settings()
    view = ImageCatalogueView(_docker(), settings)
    pushed = push_image(view.docker, view.resolve_ref(name), settings.registry_address, progress=progress)
    if as_json:
        print_json(pushed.to_dict())
    else:
        out.print(pushed.pull_ref, highlight=False)
