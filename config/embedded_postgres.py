"""Zero-setup PostgreSQL: a private server from the ``pgserver`` wheel, kept under ``.data/pg``.

Used only when ``DATABASE_URL`` is unset. Every process that asks for it shares one server; the server stops
when the last of them exits normally. ``python -m config.embedded_postgres stop`` stops it from outside (for a
server left running by a killed process). All knowledge of pgserver stays in this module so it can be swapped.
"""

import fcntl
import subprocess
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlparse

DATABASE_NAME = "loyalty"
_server = None


@contextmanager
def _exclusive(lock_path: Path):
    # Simultaneous first calls from several processes would race on initdb; serialise them.
    with open(lock_path, "w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def database_settings(data_dir: Path) -> dict:
    """Start (or join) the embedded server and return a Django DATABASES entry for it."""
    global _server
    data_dir.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        with _exclusive(data_dir.parent / "pg.lock"):
            if _server is None:
                _server = pgserver.get_server(data_dir, cleanup_mode="stop")
            _ensure_database(_server)
    socket_dir = parse_qs(urlparse(_server.get_uri()).query)["host"][0]
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": socket_dir,
        "PORT": "",
    }


def _ensure_database(server) -> None:
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "1 row" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")


def stop(data_dir: Path) -> None:
    """Stop a server left running under ``data_dir`` (fast shutdown), if any."""
    pid_file = data_dir / "postmaster.pid"
    if not pid_file.exists():
        return
    import pgserver

    pg_ctl = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_ctl"
    command = [str(pg_ctl), "-D", str(data_dir), "-m", "fast", "-w", "stop"]
    user = data_dir.owner()
    if user != "root" and Path("/proc/self").owner() == "root":
        command = ["su", user, "-s", "/bin/sh", "-c", " ".join(command)]
    subprocess.run(command, check=False)  # noqa: S603
    (data_dir / ".handle_pids.json").unlink(missing_ok=True)


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent / ".data" / "pg"
    if sys.argv[1:] == ["stop"]:
        stop(root)
    else:
        sys.exit("usage: python -m config.embedded_postgres stop")
