#!/usr/bin/env python3
"""Shrinks libtorch's CUDA natives jar for an upload to one known GPU: in every shared library of the jar that has
a .nv_fatbin section, the machine code for other GPU architectures than the one kept is zeroed (entry headers
and the file's layout unchanged, so the library loads as before and the CUDA driver still picks its entry by
architecture; only the zeroed payloads, which it never reads on that GPU, compress to nothing). libtorch 2.10's
CUDA library drops from ~366 MB to ~93 MB deflated with sm_90 kept. The result runs on that architecture only.

    scripts/fatbin-prune.py IN.jar OUT.jar SM        # SM: e.g. 90 for the H100 / H200
"""
import struct
import sys
import zipfile

FATBIN_MAGIC = 0xBA55ED50
ELF_KIND = 2


def elf_section(data, name):
    """(offset, size) of the named section of a 64-bit little-endian ELF file, or None."""
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return None
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    str_off, = struct.unpack_from("<Q", data, shoff + shstrndx * shentsize + 0x18)
    for i in range(shnum):
        h = shoff + i * shentsize
        name_off, = struct.unpack_from("<I", data, h)
        end = data.index(b"\0", str_off + name_off)
        if data[str_off + name_off:end].decode() == name:
            off, size = struct.unpack_from("<QQ", data, h + 0x18)
            return off, size
    return None


def prune(data, keep_sm):
    """Zeroes the ELF payloads of other architectures in place; returns (bytes zeroed, bytes kept, kept entries)."""
    sec = elf_section(data, ".nv_fatbin")
    if sec is None:
        return 0, 0, 0
    p, end = sec[0], sec[0] + sec[1]
    zeroed = kept = kept_entries = 0
    while p + 16 <= end:
        magic, _, header_size, fat_size = struct.unpack_from("<IHHQ", data, p)
        if magic != FATBIN_MAGIC:
            p += 8  # alignment padding between fat binaries
            continue
        q, qend = p + header_size, p + header_size + fat_size
        while q < qend:
            kind, _, entry_header, padded = struct.unpack_from("<HHII", data, q)
            sm, = struct.unpack_from("<I", data, q + 28)
            body = q + entry_header
            if kind == ELF_KIND and sm != keep_sm:
                data[body:body + padded] = bytes(padded)
                zeroed += padded
            else:
                kept += padded
                kept_entries += 1
            q = body + padded
        p = qend
    return zeroed, kept, kept_entries


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    src, dst, keep_sm = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith(".so") or ".so." in info.filename:
                buf = bytearray(data)
                zeroed, kept, entries = prune(buf, keep_sm)
                if zeroed:
                    if entries == 0:
                        sys.exit(f"fatbin-prune: {info.filename} has no sm_{keep_sm} machine code")
                    print(f"   {info.filename}: zeroed {zeroed / 1e6:.1f} MB, kept {kept / 1e6:.1f} MB (sm_{keep_sm})")
                    data = bytes(buf)
            zout.writestr(info, data)


if __name__ == "__main__":
    main()
