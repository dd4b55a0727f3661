"""Finished parts of an unfinished stage, carried across machines in the repository's DVC remote.

A paper-profile `craft` run takes longer than a working session, and the next session may run on
a new machine without this one's DVC cache or workspace. DVC records a stage's outputs only once
the whole stage has finished, so the sets it had finished, and the finished batches of the set it
was crafting (``.partial/<set>/*.pt``), would be lost. :func:`save` stores them
as content-addressed objects in the DVC remote (``data/remote/files/md5/xx/...``, exactly where
`dvc push` puts the same bytes later, so nothing is stored twice) and lists them in
``data/remote/partial/<name>.json``; :func:`restore` (run by ``make restore``) puts them back, and
the stage keeps every set whose fingerprint matches its config, so it resumes where it stopped.
Delete the manifest once the stage has finished and been pushed.

``python -m a2d.pipeline.partial save data/craft/env1_cifar10`` /
``python -m a2d.pipeline.partial restore``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

from a2d.config import PROJECT_ROOT
from a2d.utils.io import atomic_path, write_json_atomic

REMOTE = Path("data") / "remote"
PATTERN = "*.pt"
"""What counts as a finished part: a set file, or a finished batch of an unfinished set."""
BATCHES = ".partial"
"""Sub-folder where a stage keeps the finished batches of a set it is still crafting."""


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _object(remote: Path, md5: str) -> Path:
    return remote / "files" / "md5" / md5[:2] / md5[2:]


def manifest_path(remote: Path, folder: Path) -> Path:
    """``data/craft/env1_cifar10`` -> ``<remote>/partial/data__craft__env1_cifar10.json``."""
    return remote / "partial" / ("__".join(folder.parts) + ".json")


def save(root: Path, folder: Path, remote: Path = REMOTE) -> dict[str, str]:
    """Store the finished files of ``folder`` (relative to ``root``) in the remote; list them."""
    files = {}
    base = root / folder
    for path in sorted([*base.glob(PATTERN), *base.glob(f"{BATCHES}/*/{PATTERN}")]):
        md5 = _md5(path)
        target = _object(root / remote, md5)
        if not target.is_file():
            with atomic_path(target) as tmp:
                shutil.copyfile(path, tmp)
        files[path.relative_to(base).as_posix()] = md5
    if not files:
        raise FileNotFoundError(f"no finished files ({PATTERN}) in '{root / folder}'")
    write_json_atomic(
        manifest_path(root / remote, folder), {"folder": folder.as_posix(), "files": files}
    )
    return files


def _superseded(folder: Path, name: str) -> bool:
    """A batch of a set whose file exists is stale: the stage removed it when the set finished."""
    parts = Path(name).parts
    return len(parts) == 3 and parts[0] == BATCHES and (folder / f"{parts[1]}.pt").exists()


def restore(root: Path, remote: Path = REMOTE) -> list[Path]:
    """Put back every listed file that is missing from its folder; never overwrite a file.

    Batches of a set that is already finished are not put back: they would sit in the stage's
    output folder and change its DVC hash.
    """
    restored = []
    for manifest in sorted((root / remote / "partial").glob("*.json")):
        listing = json.loads(manifest.read_text())
        folder = root / listing["folder"]
        for name, md5 in listing["files"].items():
            destination = folder / name
            if destination.exists() or _superseded(folder, name):
                continue
            source = _object(root / remote, md5)
            if not source.is_file():
                raise FileNotFoundError(
                    f"{manifest.name} lists {name} ({md5}) but the remote has no such object"
                )
            with atomic_path(destination) as tmp:
                shutil.copyfile(source, tmp)
            if _md5(destination) != md5:
                destination.unlink()
                raise OSError(f"restored {destination} does not match its checksum {md5}")
            restored.append(destination)
    return restored


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m a2d.pipeline.partial", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    keep = sub.add_parser("save", help="store a folder's finished files in the remote")
    keep.add_argument("folder", type=Path, help="e.g. data/craft/env1_cifar10")
    sub.add_parser("restore", help="put back the finished files every manifest lists")
    args = parser.parse_args(argv)
    try:
        if args.command == "save":
            files = save(PROJECT_ROOT, args.folder)
            print(f"a2d partial: kept {len(files)} finished file(s) of {args.folder}")
        else:
            restored = restore(PROJECT_ROOT)
            print(f"a2d partial: restored {len(restored)} finished file(s) of unfinished stages")
    except OSError as exc:
        print(f"a2d partial: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
