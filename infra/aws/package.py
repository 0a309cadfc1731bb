"""``make package``: the Lambda artifact, ``build/lambda.zip``.

The runtime dependencies (``requirements/runtime.lock``, hashes checked) are installed from
manylinux wheels for the target (python3.12 arm64 by default, as infra/aws/template.yaml runs
it), then the app's own packages are copied beside them. Left out: tests/, bench/, infra/ (the
local stack, the templates and this script), ``.devstack/`` (demo passwords), caches, and
GraphiQL's assets unless ``--with-graphiql`` (GRAPHIQL_ENABLED is off in production).

``--host`` builds the same bundle for this machine's interpreter and platform instead, so a
test can import it in an isolated interpreter (tests/deploy/test_bundle.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "runtime.lock"
PACKAGES = ("app", "auth", "datasources", "domain", "resolvers", "schema")
FILES = ("alembic.ini",)
SKIPPED_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache"}
GRAPHIQL_ASSETS = Path("app") / "static" / "graphiql"
BUDGET_MB = 150
LAMBDA_PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64", "manylinux_2_34_aarch64")


def install_dependencies(target: Path, *, host: bool) -> None:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command += ["--no-compile", "--only-binary=:all:", "--require-hashes", "--target", str(target)]
    if not host:
        # Lambda's python3.12 runs on Amazon Linux 2023 (glibc 2.34): manylinux up to 2_34
        for platform in LAMBDA_PLATFORMS:
            command += ["--platform", platform]
        command += [
            "--implementation",
            "cp",
            "--python-version",
            "3.12",
        ]
    command += ["-r", str(LOCK)]
    env = dict(os.environ, PIP_CONSTRAINT="")  # the lock is the constraint
    subprocess.run(command, check=True, env=env)


def copy_sources(target: Path, *, with_graphiql: bool) -> None:
    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n in SKIPPED_DIRS or n.endswith(".pyc")}
        here = Path(directory).resolve().relative_to(ROOT)
        if not with_graphiql and here == GRAPHIQL_ASSETS.parent:
            skipped.add(GRAPHIQL_ASSETS.name)
        return skipped

    for package in PACKAGES:
        shutil.copytree(ROOT / package, target / package, ignore=ignore)
    for name in FILES:
        shutil.copy2(ROOT / name, target / name)


def trim(target: Path) -> None:
    """What Lambda never runs: bytecode caches, dist-info RECORDs stay (importlib.metadata)."""
    for cache in target.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


def size_of(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def zip_dir(source: Path, archive: Path) -> None:
    archive.unlink(missing_ok=True)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bundle:
        for file in sorted(source.rglob("*")):
            if file.is_file():
                bundle.write(file, file.relative_to(source))


def largest(target: Path, count: int = 8) -> list[tuple[str, int]]:
    sizes = [(d.name, size_of(d)) for d in target.iterdir() if d.is_dir()]
    return sorted(sizes, key=lambda s: -s[1])[:count]


def build(out: Path, *, host: bool, with_graphiql: bool, archive: bool = True) -> Path:
    staging = out / ("bundle-host" if host else "bundle")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    install_dependencies(staging, host=host)
    copy_sources(staging, with_graphiql=with_graphiql)
    trim(staging)
    unzipped = size_of(staging)
    print(f"bundle: {staging} — {unzipped / 1e6:.1f} MB unzipped (budget {BUDGET_MB} MB)")
    for name, size in largest(staging):
        print(f"  {name}: {size / 1e6:.1f} MB")
    if archive:
        zipped = out / ("lambda-host.zip" if host else "lambda.zip")
        zip_dir(staging, zipped)
        print(f"artifact: {zipped} — {zipped.stat().st_size / 1e6:.1f} MB zipped")
    if unzipped > BUDGET_MB * 1_000_000:
        raise SystemExit(f"the bundle is over its {BUDGET_MB} MB budget")
    return staging


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    parser.add_argument("--host", action="store_true", help="this machine's platform")
    parser.add_argument("--with-graphiql", action="store_true")
    parser.add_argument("--no-zip", action="store_true")
    args = parser.parse_args(argv)
    build(args.out, host=args.host, with_graphiql=args.with_graphiql, archive=not args.no_zip)


if __name__ == "__main__":
    main()
