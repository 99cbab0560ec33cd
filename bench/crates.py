#!/usr/bin/env python3
"""What each crate costs in the worker's wasm: the code bytes of its
functions, by the function names in the wasm's name section.

Usage: crates.py NAMED.wasm GZIP_BYTES [--markdown N]

NAMED.wasm is the optimised module before its name section is stripped
(`make build` keeps a copy in target/); GZIP_BYTES is the shipped wasm's
gzip size, shared out by each crate's part of the code. Prints one
`CRATE name=… bytes=… share=… gzip=…` line per crate, largest first, then
`CRATE name=(data) …` for the data segments (string constants, tables);
with `--markdown N`, table rows instead: the N largest crates, the rest
together, and the data.
"""

import re
import sys
from collections import Counter


def leb(buf, i):
    """An unsigned LEB128 at buf[i]: (value, next index)."""
    value = shift = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, i


def sections(buf):
    assert buf[:4] == b"\0asm", "not a wasm module"
    i = 8
    while i < len(buf):
        sid = buf[i]
        size, i = leb(buf, i + 1)
        yield sid, buf[i : i + size]
        i += size


def imported_functions(body):
    count, i = leb(body, 0)
    funcs = 0
    for _ in range(count):
        for _ in range(2):  # module, field
            n, i = leb(body, i)
            i += n
        kind = body[i]
        i += 1
        if kind == 0:  # func: type index
            _, i = leb(body, i)
            funcs += 1
        elif kind == 1:  # table: reftype, limits
            i += 1
            flags, i = leb(body, i)
            _, i = leb(body, i)
            if flags & 1:
                _, i = leb(body, i)
        elif kind == 2:  # memory: limits
            flags, i = leb(body, i)
            _, i = leb(body, i)
            if flags & 1:
                _, i = leb(body, i)
        elif kind == 3:  # global: valtype, mutability
            i += 2
        elif kind == 4:  # tag: attribute, type index
            i += 1
            _, i = leb(body, i)
    return funcs


def code_sizes(body):
    count, i = leb(body, 0)
    sizes = []
    for _ in range(count):
        size, i = leb(body, i)
        sizes.append(size)
        i += size
    return sizes


def function_names(body):
    i = 4 + 1  # custom section name "name" (length-prefixed)
    names = {}
    while i < len(body):
        sub = body[i]
        size, i = leb(body, i + 1)
        end = i + size
        if sub == 1:
            count, j = leb(body, i)
            for _ in range(count):
                idx, j = leb(body, j)
                n, j = leb(body, j)
                names[idx] = body[j : j + n].decode("utf-8", "replace")
                j += n
        i = end
    return names


# Crates whose generic code is charged to the crate it was made for.
GENERIC = {"core", "alloc", "std"}


def crate_of(name):
    """The crate a demangled Rust symbol belongs to: the first path in it
    that does not start in core, alloc or std (a generic function is charged
    to the crate whose type it was made for); `(core, alloc, std)` when all
    do; `(other)` for a name with no path (runtime shims, memcpy)."""
    name = re.sub(r"\[[0-9a-f]+\]", "", name)  # crate disambiguators
    starts = re.findall(r"(?<![\w:])([A-Za-z_]\w*)::", name)
    if not starts:
        # Methods of primitive types (`<str>::to_lowercase`) are core's.
        return "(core, alloc, std)" if name.startswith("<") else "(other)"
    for p in starts:
        if p not in GENERIC:
            return p.replace("_", "-")
    return "(core, alloc, std)"


def main():
    path, gzip_bytes = sys.argv[1], int(sys.argv[2])
    buf = open(path, "rb").read()
    imports = 0
    sizes = []
    names = {}
    data = 0
    for sid, body in sections(buf):
        if sid == 2:
            imports = imported_functions(body)
        elif sid == 10:
            sizes = code_sizes(body)
        elif sid == 11:
            data = len(body)
        elif sid == 0 and body[1:5] == b"name":
            names = function_names(body)
    if not names:
        sys.exit(f"{path} has no name section")
    by_crate = Counter()
    for k, size in enumerate(sizes):
        by_crate[crate_of(names.get(imports + k, ""))] += size
    total = sum(sizes) + data
    rows = by_crate.most_common()
    if len(sys.argv) > 4 and sys.argv[3] == "--markdown":
        top = int(sys.argv[4])
        rest = sum(size for _, size in rows[top:])
        for crate, size in rows[:top] + [("(the rest)", rest), ("(data)", data)]:
            share = size / total
            print(f"| {crate} | {size} | {share * 100:.1f} | {share * gzip_bytes / 1024:.1f} |")
        return
    for crate, size in rows + [("(data)", data)]:
        share = size / total
        print(
            f"CRATE name={crate} bytes={size} share={share:.4f} gzip={round(share * gzip_bytes)}"
        )


if __name__ == "__main__":
    main()
