"""Keyed signatures of model files: a model is unpickled only when its signature checks.

A model file is a pickle, and unpickling runs whatever code the file names, so
``load_model`` must know that a file came from a ``ringfence train`` it trusts
before it reads it. ``save_model`` writes ``<model>.sig``, an HMAC-SHA256 of
the model file's bytes under a secret key; :func:`verify_file` recomputes it
before anything is unpickled. Whoever holds the key can make models this
machine will load; nobody else can.

The key is ``RINGFENCE_MODEL_KEY`` when set, else the key file
``$XDG_CONFIG_HOME/ringfence/model.key`` (``~/.config/ringfence/model.key``),
made with a random key, readable by its owner only (0600), on the first save.
The key is never printed or logged.

Examples
--------
>>> import tempfile
>>> from pathlib import Path
>>> model = Path(tempfile.mkdtemp()) / "m.joblib"
>>> _ = model.write_bytes(b"model bytes")
>>> sign_file(model).name
'm.joblib.sig'
>>> verify_file(model)
>>> _ = model.write_bytes(b"other bytes")
>>> verify_file(model)
Traceback (most recent call last):
...
ringfence.models.signing.UntrustedModelError: ...m.joblib: the model's signature does not match ...
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from ringfence.graph.atomic import atomic_file
from ringfence.graph.keyfile import KeyFileError, config_dir, create_key, read_key

__all__ = ["KEY_VARIABLE", "SIGNATURE_SUFFIX", "UntrustedModelError", "key_path", "model_key",
           "sign_file", "signature_path", "verify_file"]

KEY_VARIABLE = "RINGFENCE_MODEL_KEY"
SIGNATURE_SUFFIX = ".sig"
_SCHEME = "hmac-sha256"
_SHARING = (f"To use a model trained on another machine, copy that machine's key file to "
            f"this one or set {KEY_VARIABLE} to the same key on both (docs/how-it-works.md).")


class UntrustedModelError(ValueError):
    """A model file that is not signed with this machine's key: it is never unpickled."""


def key_path() -> Path:
    """The key file: ``$XDG_CONFIG_HOME/ringfence/model.key`` (default ``~/.config/...``)."""
    return config_dir() / "model.key"


def _read_key(path: Path) -> bytes:
    try:
        return read_key(path)
    except KeyFileError:
        raise UntrustedModelError(f"{path}: the model key file is empty; delete it to make a "
                                  "new key (models signed with the old key will be refused)"
                                  ) from None


def model_key(create: bool = False) -> bytes:
    """The signing key: ``RINGFENCE_MODEL_KEY``, else the key file (made when ``create``)."""
    env = os.environ.get(KEY_VARIABLE)
    if env:
        return env.encode("utf-8")
    path = key_path()
    if path.exists():
        return _read_key(path)
    if create:
        return create_key(path)
    raise UntrustedModelError(f"no model key on this machine ({KEY_VARIABLE} is not set and "
                              f"{path} does not exist), so no model can be trusted. " + _SHARING)


def _digest(path: Path, key: bytes) -> str:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            mac.update(block)
    return mac.hexdigest()


def signature_path(path: str | os.PathLike) -> Path:
    """Where the signature of the model file ``path`` lives: ``<path>.sig``."""
    path = Path(path)
    return path.with_name(path.name + SIGNATURE_SUFFIX)


def sign_file(path: str | os.PathLike) -> Path:
    """Write ``<path>.sig``, the HMAC-SHA256 of the file's bytes; returns its path."""
    path = Path(path)
    sig = signature_path(path)
    with atomic_file(sig) as tmp:
        Path(tmp).write_text(f"{_SCHEME} {_digest(path, model_key(create=True))}\n")
    return sig


def verify_file(path: str | os.PathLike) -> None:
    """Raise :class:`UntrustedModelError` unless ``<path>.sig`` is the file's signature."""
    path = Path(path)
    sig = signature_path(path)
    if not sig.exists():
        raise UntrustedModelError(
            f"{path}: no signature ({sig.name} is missing), so the model is not loaded: a model "
            "file can run code when read. Only models saved by ringfence train are loaded.")
    scheme, _, digest = sig.read_text(encoding="utf-8", errors="replace").strip().partition(" ")
    if scheme != _SCHEME or not hmac.compare_digest(
            digest.encode("utf-8"), _digest(path, model_key()).encode("ascii")):
        raise UntrustedModelError(
            f"{path}: the model's signature does not match (the file was changed, or signed "
            "with another key), so it is not loaded. " + _SHARING)
