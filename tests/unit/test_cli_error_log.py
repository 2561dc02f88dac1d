"""The CLI's error boundary writes an unexpected error's traceback to a private log, never through a
symlink planted at a path someone else can predict."""

from __future__ import annotations

import stat
import tempfile
from pathlib import Path

import pytest

from benchfarm.cli.main import main
from benchfarm.settings import get_settings


@pytest.fixture
def crash(monkeypatch):
    """`benchfarm spec schema` fails with an unexpected error."""
    import benchfarm.spec.schema

    def boom() -> str:
        raise RuntimeError("boom in the schema")

    monkeypatch.setattr(benchfarm.spec.schema, "job_spec_schema_text", boom)


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    """A private temporary directory and state directory; ``victim`` is what planted symlinks point at."""
    tmp = tmp_path / "tmp"
    state = tmp_path / "state"
    tmp.mkdir()
    state.mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (tmp / "benchfarm-error.log").symlink_to(victim)  # the old fixed path
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.setenv("BENCHFARM_STATE_DIR", str(state))
    get_settings.cache_clear()
    yield tmp, state, victim
    get_settings.cache_clear()


def _logged(capsys) -> Path:
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: boom in the schema (traceback in " in err, err
    return Path(err.split("(traceback in ", 1)[1].split(")", 1)[0])


def _private_file(log: Path) -> None:
    st = log.lstat()
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    assert "RuntimeError: boom in the schema" in log.read_text() and "Traceback" in log.read_text()


def test_the_traceback_goes_to_a_private_file_under_the_state_dir(crash, dirs, capsys):
    _, state, victim = dirs
    assert main(["spec", "schema"]) == 1
    log = _logged(capsys)
    assert victim.read_text() == "precious\n"  # the symlink at the old /tmp/benchfarm-error.log is not followed
    assert log.parent == state / "logs"
    assert stat.S_IMODE((state / "logs").stat().st_mode) == 0o700
    _private_file(log)


def test_each_error_gets_its_own_log(crash, dirs, capsys):
    assert main(["spec", "schema"]) == 1
    first = _logged(capsys)
    assert main(["spec", "schema"]) == 1
    assert _logged(capsys) != first


def test_a_symlink_planted_as_the_logs_dir_is_not_followed(crash, dirs, capsys, tmp_path):
    tmp, state, victim = dirs
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (state / "logs").symlink_to(elsewhere)
    assert main(["spec", "schema"]) == 1
    log = _logged(capsys)
    assert log.parent == tmp and log.name != "benchfarm-error.log"  # a fresh private temporary file
    _private_file(log)
    assert list(elsewhere.iterdir()) == [] and victim.read_text() == "precious\n"


def test_a_logs_dir_others_can_write_is_not_used(crash, dirs, capsys):
    tmp, state, _ = dirs
    (state / "logs").mkdir()
    (state / "logs").chmod(0o777)
    assert main(["spec", "schema"]) == 1
    assert _logged(capsys).parent == tmp
    assert list((state / "logs").iterdir()) == []


def test_without_a_usable_state_dir_a_private_temporary_file_is_used(crash, dirs, capsys, monkeypatch):
    tmp, state, victim = dirs
    monkeypatch.setenv("BENCHFARM_STATE_DIR", str(state / "missing"))
    get_settings.cache_clear()
    assert main(["spec", "schema"]) == 1
    log = _logged(capsys)
    assert log.parent == tmp and log.name.startswith("benchfarm-error-") and log.suffix == ".log"
    _private_file(log)
    assert victim.read_text() == "precious\n" and not (state / "missing").exists()


@pytest.mark.parametrize("message", ["closing [/results] tag", "[bold]not bold[/bold]"])
def test_messages_are_printed_verbatim_not_as_markup(dirs, capsys, monkeypatch, message):
    import benchfarm.spec.schema
    from benchfarm.errors import BenchfarmError

    for exc in (RuntimeError(message), BenchfarmError(message, hint=message)):
        def fail(_exc: Exception = exc) -> str:
            raise _exc

        monkeypatch.setattr(benchfarm.spec.schema, "job_spec_schema_text", fail)
        assert main(["spec", "schema"]) == 1
        assert message in capsys.readouterr().err
