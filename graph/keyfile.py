"""Secret key files in the user's config folder: made once, readable by their owner only.

ringfence keeps two keys there, ``$XDG_CONFIG_HOME/ringfence/`` (default
``~/.config/ringfence/``): ``model.key`` signs model files (models.signing) and
``mask.key`` masks identifier values (graph.masking). A key file holds 64 hex
digits (32 random bytes) and a line break; the key is the hex text. It is
written to a temporary file with permissions 0600 whatever the umask, then
linked into place, so a reader never sees half a key and two processes making
the key at once agree on one. Keys are never printed or logged.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> path = Path(tempfile.mkdtemp()) / "ringfence" / "test.key"
>>> key = create_key(path)
>>> len(key), oct(path.stat().st_mode & 0o777), read_key(path) == key
(64, '0o600', True)
>>> create_key(path) == key  # an existing key is kept
True
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["KeyFileError", "config_dir", "create_key", "read_key"]


class KeyFileError(ValueError):
    """A key file that cannot be used (empty); one line."""


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/ringfence`` (default ``~/.config/ringfence``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "ringfence"


def read_key(path: Path) -> bytes:
    """The key in ``path`` (surrounding whitespace removed)."""
    key = path.read_bytes().strip()
    if not key:
        raise KeyFileError(f"{path}: the key file is empty; delete it to make a new key")
    return key


def create_key(path: Path, *, replace: bool = False) -> bytes:
    """A new random key in ``path`` (0600), or the key already there unless ``replace``.

    Without ``replace`` the first of concurrent callers wins and every caller
    gets its key; with ``replace`` a new key takes the old one's place at once.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    # 0600 whatever the umask: whoever holds a key can sign models or resolve masks
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # atomic, and fails if the key exists
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return read_key(path)
