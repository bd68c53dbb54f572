"""`make device-kit`: what an offline GPU host needs to run benchmarks/gpu_check.sh, in .device/.

The GPU host it is made for (an NVIDIA H200) has python3 3.12 with torch, numpy, pandas,
matplotlib, pytest and more (benchmarks/h200-packages.txt) but not MLflow, Optuna or pydantic, and
it reaches no package index. This fills

    .device/wheels/  the project's runtime dependencies the host lacks (the closure of
                     pyproject.toml's `dependencies`, markers read for CPython 3.12 on Linux
                     x86-64), as cp312 manylinux x86-64 or pure-Python wheels, each at the version
                     this .venv has: one version of each, since two stop the host's install
    .device/data/    the four Fashion-MNIST files, verified, gzipped (FASHION_MNIST_DIR takes .gz)

and prints the size of what is copied to the host: the working tree's tracked and untracked files
plus .device/, a bundle that must stay under 64 MiB to be small enough to copy (it exits 1 if not).

    python -m benchmarks.device_kit                                  # .device/, for the H200
    python -m benchmarks.device_kit --python-version 3.11 --dest /tmp/kit311   # a CPU dry run
"""

import argparse
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
DEVICE_PACKAGES = REPO / "benchmarks" / "h200-packages.txt"
LIMIT_MIB = 64  # a bundle small enough to copy: the working tree and .device/ together
# Left out to stay under LIMIT_MIB (the data alone is 30 MiB; every wheel would add 48 MiB):
# nothing gpu_check.sh runs imports them (its dry run passed without them). Neither they nor
# what only they need are packed; the project's dependencies stay as they are.
LEFT_OUT = {
    "mlflow-tracing": "its files are a subset of mlflow-skinny's",
    "optuna-dashboard": "only `make dashboard` imports it",
    # MLflow's tracking and scoring servers (`make ui`, `make serve`), its docker images and
    # its skops format for scikit-learn models:
    **dict.fromkeys(["flask", "flask-cors", "gunicorn", "graphene", "huey", "docker", "skops"]),
}
# Packed as what they need only: the 12 MB mlflow wheel is mlflow-skinny (which it needs, and
# which holds every Python module of it) plus the UI's JavaScript.
NEEDS_ONLY = {"mlflow"}
# Packed although the host has them: pydantic needs typing-extensions >= 4.16, which may be
# newer than the host's (the wheels come first on PYTHONPATH).
ALSO = ("typing-extensions",)
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")


def device_has() -> set[str]:
    lines = DEVICE_PACKAGES.read_text().splitlines()
    return {canonicalize_name(line) for line in lines if line.strip() and line[0] != "#"}


def roots() -> list[str]:
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    return [Requirement(spec).name for spec in declared] + list(ALSO)


def closure(names: list[str], python: str) -> dict[str, str]:
    """Every distribution `names` need, transitively, with the version installed here."""
    markers = {"python_version": python, "python_full_version": f"{python}.0", "extra": ""}
    markers |= {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64"}
    markers |= {"implementation_name": "cpython", "platform_python_implementation": "CPython"}
    found: dict[str, str] = {}
    todo = list(names)
    while todo:
        name = canonicalize_name(todo.pop())
        if name in found or name in LEFT_OUT:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            sys.exit(f"error: {name} is not installed in {sys.prefix}; run `make install` first")
        found[name] = dist.version
        for spec in dist.requires or []:
            requirement = Requirement(spec)
            if requirement.marker is None or requirement.marker.evaluate(markers):
                todo.append(requirement.name)
    return {name: version for name, version in found.items() if name not in NEEDS_ONLY}


def download(pins: dict[str, str], python: str, directory: Path) -> None:
    """Binary wheels for CPython `python` on manylinux x86-64, without their dependencies (the
    closure names them all); a pin with no such wheel falls back to the newest that has one."""
    command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:"]
    command += ["--python-version", python, "--implementation", "cp", "-d", str(directory)]
    command += [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    specs = [f"{name}=={version}" for name, version in sorted(pins.items())]
    if subprocess.run(command + specs).returncode == 0:
        return
    for name, version in sorted(pins.items()):
        if subprocess.run([*command, f"{name}=={version}"]).returncode != 0:
            print(f"note: no cp{python.replace('.', '')} wheel of {name} {version}; the newest")
            subprocess.run([*command, name], check=True)


def wheel_name(path: Path) -> str:
    return canonicalize_name(path.name.split("-")[0])


def build_wheels(dest: Path, python: str) -> list[Path]:
    pins = {k: v for k, v in closure(roots(), python).items() if k not in device_has()}
    pins |= {name: metadata.version(name) for name in ALSO}
    with tempfile.TemporaryDirectory(prefix="device-kit-") as scratch:
        download(pins, python, Path(scratch))
        wheels = sorted(Path(scratch).glob("*.whl"))
        names = [wheel_name(path) for path in wheels]
        twice = {name for name in names if names.count(name) > 1}
        missing = set(pins) - set(names)
        if twice or missing:
            sys.exit(f"error: wheels twice: {sorted(twice)}; missing: {sorted(missing)}")
        shutil.rmtree(dest / "wheels", ignore_errors=True)  # no stale second version
        shutil.copytree(scratch, dest / "wheels")
        (dest / "wheels").chmod(0o755)  # the temporary directory's 0700 came along
    return sorted((dest / "wheels").glob("*.whl"))


def build_data(dest: Path) -> None:
    """The verified files wherever `make data` finds them, gzipped with a fixed header."""
    from pipeline.core.dataset import data

    source = data.locate(cache_root=REPO / "data")
    target = dest / "data"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in data.FILE_NAMES:
        with (
            (source.raw_dir / name).open("rb") as raw,
            gzip.GzipFile(target / f"{name}.gz", "wb", compresslevel=9, mtime=0) as packed,
        ):
            shutil.copyfileobj(raw, packed)
    print(f"data: Fashion-MNIST from {source.kind} (sha256 {source.digest[:12]})")


def size(paths) -> int:
    return sum(p.lstat().st_size for p in paths if p.is_file() or p.is_symlink())


def travelling(dest: Path) -> tuple[int, int]:
    """Bytes of the working tree that is copied (tracked and untracked, not ignored) and of dest."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    tree = {REPO / os.fsdecode(name) for name in listed if name}
    return size(tree), size(dest.rglob("*"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python-version", default="3.12", help="the GPU host's (default 3.12)")
    parser.add_argument("--dest", type=Path, default=REPO / ".device", help="default: .device")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"3\.\d+", args.python_version):
        parser.error("--python-version must be like 3.12")
    args.dest.mkdir(parents=True, exist_ok=True)
    wheels = build_wheels(args.dest, args.python_version)
    names = " ".join(wheel.name for wheel in wheels)
    print(f"wheels: {len(wheels)}, {size(wheels) / 2**20:.1f} MiB: {names}")
    print(f"left out (nothing gpu_check.sh runs imports them): {', '.join(sorted(LEFT_OUT))}; and")
    print(f"{', '.join(sorted(NEEDS_ONLY))}, but for what it needs (mlflow-skinny is its Python)")
    build_data(args.dest)
    tree, kit = travelling(args.dest)
    total = (tree + kit) / 2**20
    print(
        f"working tree and {args.dest.name}/ to copy: {total:.1f} MiB of {LIMIT_MIB} "
        f"(working tree {tree / 2**20:.1f} MiB, {args.dest.name}/ {kit / 2**20:.1f} MiB)"
    )
    if total > LIMIT_MIB:
        print(f"error: over the {LIMIT_MIB} MiB limit of the bundle", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
