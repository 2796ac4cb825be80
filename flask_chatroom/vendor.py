"""The bundled Socket.IO browser client: its pinned version, checksums, and updater.

The client ships inside the package (``static/vendor/socket.io/``) so the chat
works without a CDN. To update it, change :data:`SOCKETIO_CLIENT_VERSION` and
:data:`SOCKETIO_CLIENT_INTEGRITY` (``npm view socket.io-client@X dist.integrity``),
then run::

    python -m flask_chatroom.vendor

which fetches the package with ``npm pack`` from the npm registry, checks the
tarball against the pinned integrity, and writes the client and its LICENSE.
Run it with ``--print-checksums`` to see the per-file checksums to pin below.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

#: The socket.io-client release bundled with this package (Socket.IO protocol 5,
#: served by python-socketio 5.x).
SOCKETIO_CLIENT_VERSION = "4.8.4"
#: The npm tarball's Subresource Integrity string, as the registry publishes it.
SOCKETIO_CLIENT_INTEGRITY = (
    "sha512-7wjKAvVXYOJsbmUgkWbnhPD4bFpkqrUR0++XOjpGFmqDqsqV1CI93VTraeExL"
    "xpjxEqrWgFoSRZu1ihjLWfkAA=="
)
#: Files taken from the tarball -> (name in the package, sha256 of the content).
SOCKETIO_CLIENT_FILES = {
    "package/dist/socket.io.min.js": (
        "socket.io.min.js",
        "d5d79a35039e860b32bdef4795528b05c2f788d4b2d9dacc913120e2878f7b3f",
    ),
    "package/LICENSE": (
        "LICENSE",
        "73cb68c437d59e066f9386ef97be57298df4db119fdbd7d7150817c6dbd9f189",
    ),
}

VENDOR_DIR = Path(__file__).parent / "static" / "vendor" / "socket.io"


def sha256(data: bytes) -> str:
    """Hex SHA-256 of *data*."""
    return hashlib.sha256(data).hexdigest()


def integrity(data: bytes) -> str:
    """The ``sha512-...`` Subresource Integrity string of *data*."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def fetch_tarball(workdir: Path) -> bytes:
    """``npm pack`` the pinned socket.io-client into *workdir* and verify it."""
    spec = f"socket.io-client@{SOCKETIO_CLIENT_VERSION}"
    subprocess.run(
        ["npm", "pack", spec, "--silent", "--pack-destination", str(workdir)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    tarball = next(workdir.glob("socket.io-client-*.tgz"))
    data = tarball.read_bytes()
    found = integrity(data)
    if found != SOCKETIO_CLIENT_INTEGRITY:
        raise SystemExit(
            f"{spec}: the tarball's integrity {found} is not the pinned "
            f"{SOCKETIO_CLIENT_INTEGRITY}; refusing to vendor it."
        )
    return data


def extract(tarball: Path, *, check: bool = True) -> dict[str, bytes]:
    """The vendored files' contents from *tarball*, checked against their pins."""
    files: dict[str, bytes] = {}
    with tarfile.open(tarball) as archive:
        for member, (name, pinned) in SOCKETIO_CLIENT_FILES.items():
            handle = archive.extractfile(member)
            if handle is None:  # pragma: no cover - not in a valid tarball
                raise SystemExit(f"{member} is missing from {tarball.name}")
            data = handle.read()
            if check and sha256(data) != pinned:
                raise SystemExit(
                    f"{member}: sha256 {sha256(data)} is not the pinned {pinned}"
                )
            files[name] = data
    return files


def main(argv: list[str] | None = None) -> int:
    """Fetch, verify and write the bundled client (see the module docstring)."""
    args = sys.argv[1:] if argv is None else argv
    print_only = "--print-checksums" in args
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        fetch_tarball(workdir)
        tarball = next(workdir.glob("socket.io-client-*.tgz"))
        files = extract(tarball, check=not print_only)
    if print_only:
        for name, data in files.items():
            print(f"{name}  {sha256(data)}")
        return 0
    VENDOR_DIR.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (VENDOR_DIR / name).write_bytes(data)
        print(f"wrote {VENDOR_DIR / name} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
