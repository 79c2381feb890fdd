"""The example app as a container image, built without any outside registry, pushed to the lab's.

Two layers, written here as an OCI image layout and pushed with ``skopeo``: no container engine on
this machine, no ``FROM`` a public image. The base layer is a debootstrap'd Debian minbase with
``nodejs`` (built once, cached under the lab cache keyed by its recipe, like the host images); the
app layer is ``examples/app`` in ``/app`` with its ``node_modules`` as ``npm ci`` makes them
(``lab.npm``, as a Dockerfile's ``RUN npm ci`` would). Each tag gets its own digest (the tag is
a label), and ``--broken`` makes an image whose container exits 1 at start, for rollback tests.

    python -m lab.images build --registry 127.0.0.1:5951 --tag example:v1
    python -m lab.images build --registry 127.0.0.1:5951 --tag example:v2-broken --broken
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lab import npm
from lab.hosts import CACHE, MIRROR, SUITE, cache_lock

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "examples" / "app"
BASE_PACKAGES = ("nodejs",)
# Trimmed from the base after debootstrap: nothing an app container needs, a third of the size.
BASE_TRIM = "rm -rf /var/cache/apt/* /var/lib/apt/lists/* /usr/share/doc/* /usr/share/man/* \
/usr/share/locale/* /usr/share/info/*"
# Fixed timestamps: the same inputs give the same digests.
EPOCH = "1970-01-01T00:00:00Z"
APP_PORT_DEFAULT = "8080"

LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
#: The platforms of a multi-architecture image: the hosts' own first. The others are the same
#: layers under a config naming that architecture: an index as CI's multi-platform builds push,
#: of which a host pulls its own platform's image.
PLATFORMS = ("amd64", "arm64")


@dataclass(frozen=True)
class Layer:
    """A gzipped layer blob and what a config names it by."""

    path: Path
    digest: str  # of the gzipped blob: the manifest's
    diff_id: str  # of the uncompressed tar: the config's
    size: int


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def base_layer() -> Layer:
    """The Debian minbase + nodejs layer, built once (about a minute) and cached by its recipe."""
    recipe = json.dumps([SUITE, "minbase", sorted(BASE_PACKAGES), BASE_TRIM]).encode()
    root = CACHE / "container-base" / hashlib.sha256(recipe).hexdigest()[:16]
    record = root / "layer.json"
    if not record.exists():
        with cache_lock(f"container-base-{root.name}"):
            if not record.exists():  # built while this one waited
                _build_base_layer(root)
    meta = json.loads(record.read_text())
    return Layer(root / "layer.tar.gz", meta["digest"], meta["diff_id"], meta["size"])


def _build_base_layer(root: Path) -> None:
    record = root / "layer.json"
    shutil.rmtree(root, ignore_errors=True)
    rootfs = root / "rootfs"
    rootfs.mkdir(parents=True)
    print(f"building container base layer {root.name} (about a minute, cached)", file=sys.stderr)
    log = root / "debootstrap.log"
    with log.open("wb") as out:
        result = subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
             SUITE, str(rootfs), MIRROR],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"debootstrap failed, see {log}")
    subprocess.run(["chroot", str(rootfs), "/bin/sh", "-c", BASE_TRIM], check=True)
    tar = root / "layer.tar"
    # /dev, /proc, /sys are the engine's to fill at run time; device nodes in a layer only hurt.
    subprocess.run(
        ["tar", "--numeric-owner", "--xattrs", "--sort=name", "--mtime=@0",
         "--exclude=./dev/*", "--exclude=./proc/*", "--exclude=./sys/*",
         "-C", str(rootfs), "-cf", str(tar), "."],
        check=True,
    )  # fmt: skip
    diff_id = _sha256_file(tar)
    subprocess.run(["gzip", "-n", "-6", str(tar)], check=True)
    gz = root / "layer.tar.gz"
    shutil.rmtree(rootfs)  # the tarball is what is kept
    # Written last, whole: a base layer whose record exists is complete.
    done = record.with_suffix(".json.new")
    done.write_text(json.dumps({"digest": _sha256_file(gz), "diff_id": diff_id,
                                "size": gz.stat().st_size}))  # fmt: skip
    done.rename(record)


def app_layer(directory: Path, app: Path = APP) -> Layer:
    """``app`` as ``/app`` with its dependencies installed (``lab.npm``), owned by root, with
    fixed timestamps; written in ``directory``."""
    raw = io.BytesIO()
    with (
        tempfile.TemporaryDirectory(prefix="ssmenv-app-") as tmp,
        tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        installed = npm.installed_copy(app, Path(tmp) / "app")

        def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0
            return info

        for path in [installed, *sorted(installed.rglob("*"))]:
            name = "app" if path == installed else f"app/{path.relative_to(installed)}"
            tar.add(path, arcname=name, recursive=False, filter=clean)
    data = raw.getvalue()
    blob = gzip.compress(data, mtime=0)
    path = directory / "app.tar.gz"
    path.write_bytes(blob)
    return Layer(
        path,
        "sha256:" + hashlib.sha256(blob).hexdigest(),
        "sha256:" + hashlib.sha256(data).hexdigest(),
        len(blob),
    )


def image_config(
    layers: list[Layer], tag: str, broken: bool = False, architecture: str = "amd64"
) -> dict:
    """The OCI image config: ``node server.js`` in ``/app`` (or, broken, a process that exits 1)."""
    entrypoint = (
        ["/bin/sh", "-c", "echo 'this image is broken on purpose: exiting 1' >&2; exit 1"]
        if broken
        else ["/usr/bin/node", "server.js"]
    )
    return {
        "created": EPOCH,
        "architecture": architecture,
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Entrypoint": entrypoint,
            "WorkingDir": "/app",
            # Makes every tag's digest its own, so v1 and v2 of the same app are two images.
            "Labels": {"org.opencontainers.image.version": tag},
            # What `podman stop` sends; the app exits on SIGTERM.
            "StopSignal": "SIGTERM",
        },
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]},
        "history": [
            {"created": EPOCH, "created_by": "lab.images: debian minbase + nodejs"},
            {"created": EPOCH, "created_by": "lab.images: examples/app in /app"},
        ],
    }


def _blob(layout: Path, data: bytes) -> dict:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest.split(":", 1)[1]).write_bytes(data)
    return {"digest": digest, "size": len(data)}


def _link(layout: Path, layer: Layer) -> None:
    target = layout / "blobs" / "sha256" / layer.digest.split(":", 1)[1]
    try:
        os.link(layer.path, target)  # the cached base layer is 50 MB: no copy when possible
    except OSError:
        shutil.copyfile(layer.path, target)


def write_layout(layout: Path, tag: str, broken: bool = False, multi: bool = False) -> None:
    """An OCI image layout in ``layout`` holding one image, referenced by ``tag``; ``multi``: a
    multi-architecture one, an index of one image per platform (``PLATFORMS``)."""
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    layers = [base_layer(), app_layer(layout)]
    for layer in layers:
        _link(layout, layer)
    manifests = []
    for architecture in PLATFORMS if multi else PLATFORMS[:1]:
        config = _blob(layout, json.dumps(image_config(layers, tag, broken, architecture)).encode())
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": CONFIG_TYPE, **config},
            "layers": [
                {"mediaType": LAYER_TYPE, "digest": layer.digest, "size": layer.size}
                for layer in layers
            ],
        }
        ref = _blob(layout, json.dumps(manifest).encode())
        manifests.append({"mediaType": MANIFEST_TYPE, **ref,
                          "platform": {"architecture": architecture, "os": "linux"}})  # fmt: skip
    # One image: its manifest, as before (same digest). Several: their index.
    top = {k: v for k, v in manifests[0].items() if k != "platform"}
    if multi:
        index = {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": manifests}
        top = {"mediaType": INDEX_TYPE, **_blob(layout, json.dumps(index).encode())}
    outer = {
        "schemaVersion": 2,
        "manifests": [{**top, "annotations": {"org.opencontainers.image.ref.name": tag}}],
    }
    (layout / "index.json").write_text(json.dumps(outer))


def build(
    registry: str,
    name: str,
    broken: bool = False,
    authfile: Path | None = None,
    multi: bool = False,
) -> str:
    """Build ``name`` (``repo:tag``), push it to ``registry`` (``127.0.0.1:PORT``, plain HTTP) and
    return the reference by digest the hosts pull: ``127.0.0.1:PORT/repo@sha256:...``; ``multi``:
    a multi-architecture image, whose digest is its index's.

    ``authfile``: a containers-auth.json for a registry that needs a password (see
    ``lab.registry.auth_json``): the password never goes on skopeo's command line."""
    repository, _, tag = name.partition(":")
    tag = tag or "latest"
    with tempfile.TemporaryDirectory(prefix="ssmenv-image-") as tmp:
        layout = Path(tmp) / "oci"
        write_layout(layout, tag, broken, multi)
        digestfile = Path(tmp) / "digest"
        command = [
            "skopeo", "copy", "--quiet", "--dest-tls-verify=false", *(["--all"] if multi else []),
            "--digestfile", str(digestfile),
            *(["--dest-authfile", str(authfile)] if authfile else []),
            f"oci:{layout}:{tag}", f"docker://{registry}/{repository}:{tag}",
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"skopeo copy failed: {result.stderr.strip()}")
        digest = digestfile.read_text().strip()
    return f"{registry}/{repository}@{digest}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m lab.images", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    make = sub.add_parser("build", help="build the example app image, push it, print its digest")
    make.add_argument("--registry", required=True, help="127.0.0.1:PORT")
    make.add_argument("--tag", default="example:v1", help="repository:tag")
    make.add_argument("--broken", action="store_true", help="a container that exits 1 at start")
    make.add_argument("--multi", action="store_true",
                      help=f"a multi-architecture image (an index: {', '.join(PLATFORMS)})")
    make.add_argument("--authfile", type=Path, help="containers-auth.json for the registry")
    sub.add_parser("base", help="build the cached base layer; print its path")
    args = parser.parse_args(argv)
    if args.command == "build":
        print(build(args.registry, args.tag, args.broken, args.authfile, args.multi))
    elif args.command == "base":
        print(base_layer().path)


if __name__ == "__main__":
    main()
