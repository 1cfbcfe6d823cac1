"""What the store's files on disk hold: every file of a table's folders, its compressed blocks opened.

ClickHouse writes column data as a run of compressed blocks (16 bytes of checksum,
a method byte, the compressed and the plain size, then the data). A value deleted
from a table is gone only when no file holds it in any block, compressed or not.
"""

from __future__ import annotations

import struct
from pathlib import Path

import lz4.block
import zstandard

_LZ4, _ZSTD, _NONE = 0x82, 0x90, 0x02


def _blocks(data: bytes) -> list[bytes]:
    """The plain contents of the file's compressed blocks; [] when it is not made of them."""
    out, at = [], 0
    while at + 25 <= len(data):
        method = data[at + 16]
        compressed, plain = struct.unpack_from("<II", data, at + 17)
        body = data[at + 25:at + 16 + compressed]
        if compressed < 9 or at + 16 + compressed > len(data):
            return out
        try:
            if method == _LZ4:
                out.append(lz4.block.decompress(body, uncompressed_size=plain))
            elif method == _ZSTD:
                out.append(zstandard.ZstdDecompressor().decompress(body, max_output_size=plain))
            elif method == _NONE:
                out.append(body)
        except Exception:  # a codec chain (Delta, then ZSTD) or not a block at all: read as it is
            pass
        at += 16 + compressed
    return out


def files_holding(folders: list[Path], needle: bytes) -> list[Path]:
    """The files under ``folders`` that hold ``needle``, as written or inside a compressed block."""
    found = []
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            data = path.read_bytes()
            if needle in data or any(needle in b for b in _blocks(data)):
                found.append(path)
    return found
