"""`benchfarm image list`: the table as printed, through the CLI, over a stand-in engine."""

from __future__ import annotations

import json

from benchfarm.cli import image_cmd
from benchfarm.cli.main import main
from benchfarm.errors import NotFoundError
from benchfarm.images import labels as L
from benchfarm.images.model import ImageInfo

SYSBENCH_ID = "sha256:" + "ab" * 32


class _Engine:
    """Stands in for DockerImages.get: holds only the images it is given."""

    def __init__(self, images: dict[str, ImageInfo] | None = None) -> None:
        self.images = images or {}

    def get(self, ref: str) -> ImageInfo:
        try:
            return self.images[ref]
        except KeyError:
            raise NotFoundError(f"no image {ref}") from None


def _list(monkeypatch, capsys, engine: _Engine, *args: str) -> str:
    monkeypatch.setattr(image_cmd, "_docker", lambda: engine)
    assert main(["image", "list", *args]) == 0
    return capsys.readouterr().out


def _row(text: str, name: str) -> str:
    return next(line for line in text.splitlines() if f" {name} " in line)


def test_unbuilt_images_read_not_built_without_markup_leaking(monkeypatch, capsys):
    text = _list(monkeypatch, capsys, _Engine())
    assert "not built" in _row(text, "sysbench")
    assert "[" not in text  # was "not built[/dim": the markup cut at 19 characters


def test_built_images_show_the_short_id_and_label_text_verbatim(monkeypatch, capsys):
    labels = {L.GIT_COMMIT: "0123456789abcdef", L.BUILD_CAUSE: "[bold]manual", L.GIT_DIRTY: "true"}
    info = ImageInfo(id=SYSBENCH_ID, tags=["benchfarm/sysbench:1.0.20"], repo_digests=[], labels=labels,
                     created="")
    from benchfarm.images.catalogue import Catalogue
    from benchfarm.settings import REPO_ROOT

    ref = Catalogue(REPO_ROOT / "images").get("sysbench").spec.ref
    row = _row(_list(monkeypatch, capsys, _Engine({ref: info})), "sysbench")
    assert SYSBENCH_ID[:19] in row and SYSBENCH_ID[:20] not in row
    assert "0123456789 " in row and "True" in row
    assert "[bold]manual" in row  # label values are data, not markup


def test_list_json_has_a_null_image_id_for_unbuilt_images(monkeypatch, capsys):
    rows = {r["name"]: r for r in json.loads(_list(monkeypatch, capsys, _Engine(), "--json"))}
    assert rows["sysbench"]["image_id"] is None and rows["sysbench"]["tags"] == []
