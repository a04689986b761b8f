"""Regenerate the audit log service's Python modules from its ``.proto``.

    python -m ledger._proto.generate            # rewrite ledger/_proto
    python -m ledger._proto.generate --out DIR  # write elsewhere (the test)

grpcio-tools writes ``import audit_log_pb2`` for a proto compiled from its
own directory, which only works with that directory on ``sys.path``. So the
proto is compiled from a scratch tree where it sits at
``ledger/_proto/audit_log.proto``: the generated code then imports
``from ledger._proto import audit_log_pb2``, as a package module must.
The output depends on the grpcio-tools version, pinned in pyproject.toml.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc  # type: ignore[import-untyped]

__all__ = ["GENERATED", "PROTO", "generate"]

PROTO = Path(__file__).parents[1] / "proto" / "audit_log.proto"
GENERATED = ("audit_log_pb2.py", "audit_log_pb2.pyi", "audit_log_pb2_grpc.py")
_PACKAGE_PATH = Path("ledger") / "_proto"


def generate(out_dir: Path) -> list[Path]:
    """Compile :data:`PROTO` into ``out_dir``; return the files written."""
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "src"
        build = Path(scratch) / "build"
        (source / _PACKAGE_PATH).mkdir(parents=True)
        build.mkdir()
        shutil.copyfile(PROTO, source / _PACKAGE_PATH / PROTO.name)
        status = protoc.main(
            [
                "grpc_tools.protoc",
                f"--proto_path={source}",
                f"--python_out={build}",
                f"--pyi_out={build}",
                f"--grpc_python_out={build}",
                str(_PACKAGE_PATH / PROTO.name),
            ]
        )
        if status != 0:
            raise RuntimeError(f"protoc failed with status {status} on {PROTO}")
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for name in GENERATED:
            target = out_dir / name
            shutil.copyfile(build / _PACKAGE_PATH / name, target)
            written.append(target)
        return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
