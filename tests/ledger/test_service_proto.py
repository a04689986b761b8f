"""The committed gRPC code is what the committed .proto generates."""

from __future__ import annotations

from pathlib import Path

from ledger._proto import generate as generator


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    # Prepare
    committed = Path(generator.__file__).parent

    # Execute
    written = generator.generate(tmp_path)

    # Assert: byte for byte; regenerate with `python -m ledger._proto.generate`.
    assert sorted(path.name for path in written) == sorted(generator.GENERATED)
    for name in generator.GENERATED:
        assert (tmp_path / name).read_bytes() == (committed / name).read_bytes(), name
