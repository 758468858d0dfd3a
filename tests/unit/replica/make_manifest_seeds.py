#!/usr/bin/env python3
"""Write the seed corpus of tests/fuzz/corpus/manifest/: manifest bodies
(without the MAC, which fuzz_manifest.c appends) built by hand from the
layout of doc/FORMAT-v1.md §11, independently of the C writer.  Valid and
invalid seeds alike; run from any directory."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', '..', 'fuzz', 'corpus', 'manifest')


def entry(path, typ=1, mode=0o640, uid=0, gid=0, mtime=1700000000, nsec=5,
          size=0, ino=1, rdev=0, digest=bytes(16), file_id=bytes(16),
          target=b'', xattrs=()):
    b = struct.pack('>H', len(path)) + path
    b += struct.pack('>BIIIqIQQQ', typ, mode, uid, gid, mtime, nsec, size,
                     ino, rdev)
    b += digest + file_id + struct.pack('>H', len(target)) + target
    b += struct.pack('>H', len(xattrs))
    for name, value in xattrs:
        b += struct.pack('>B', len(name)) + name
        b += struct.pack('>I', len(value)) + value
    return b


def body(entries, gen=1, magic=b'CFRM', version=1, count=None):
    h = magic + bytes([version, 0, 0, 0]) + bytes(range(16))
    h += struct.pack('>QQ', gen, len(entries) if count is None else count)
    return h + b''.join(entries)


def put(name, data):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name), 'wb') as f:
        f.write(data)


full = [
    entry(b'.coffre/keys/rec', size=108, digest=bytes(range(16))),
    entry(b'd', typ=2, mode=0o755, xattrs=[(b'user.QQ', b'\x01\x02')]),
    entry(b'd/f', size=4096, ino=7, file_id=b'F' * 16,
          xattrs=[(b'user.a', b''), (b'user.b', b'v' * 40)]),
    entry(b'd/g', size=4096, ino=7),
    entry(b'd/link', typ=3, mode=0o777, target=b'Q2lwaGVy'),
    entry(b'd/pipe', typ=4, mode=0o600),
    entry(b'dev', typ=6, rdev=0x0501),
]
put('valid_empty', body([]))
put('valid_one', body([entry(b'a', size=3)]))
put('valid_full', body(full, gen=99))
put('bad_magic', body(full, magic=b'CFRX'))
put('bad_version', body(full, version=2))
put('bad_count', body(full, count=8))
put('unsorted', body([entry(b'b'), entry(b'a')]))
put('dup_path', body([entry(b'a'), entry(b'a')]))
put('dotdot', body([entry(b'a/../b')]))
put('bad_type', body([entry(b'a', typ=9)]))
put('target_on_file', body([entry(b'a', target=b'x')]))
put('xattr_unsorted', body([entry(b'a', xattrs=[(b'user.b', b''),
                                                  (b'user.a', b'')])]))
put('short', body([entry(b'abc')])[:-5])
