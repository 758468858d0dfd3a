#!/usr/bin/env python3
"""Seed corpora of the format 2 object targets, and the known answers of
tests/unit/format/v2 (doc/FORMAT.md §2, §3, §5.2, §6).

Every structure is built here by hand from FORMAT.md's tables with
`struct`, `hmac` and the `cryptography` package's AESGCM, independently of
the C writers.  Keys and nonces are fixed: the keys are those of the fuzz
targets (fuzz_meta_slot.c, fuzz_map_slot.c, fuzz_dirfile2.c), so their
valid seeds authenticate there.  `--vectors` prints the hex pasted into the
unit tests instead of writing the corpus.  Run from any directory."""
import hashlib
import hmac
import os
import struct
import sys

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HERE = os.path.dirname(os.path.abspath(__file__))

META_KEY = bytes(range(0x00, 0x20))
MAP_KEY = bytes(range(0x20, 0x40))
DIR_KEY = bytes(range(0x40, 0x60))
CONTENT_KEY = bytes(range(0x60, 0x80))
NONCE = bytes(range(0xa0, 0xac))
DIR_ID = bytes(range(0x10, 0x20))
FILE_ID = bytes(range(0x30, 0x40))
EPOCH = (5 << 24) | 3
GEN7 = 7 << 24


def put(target, name, data):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def obj_header(magic=b'CFRF', version=2, kind=1, layout=2, res=0,
               seg=16384, data_offset=1024, dir_id=DIR_ID, dek=3,
               file_id=FILE_ID, tail=bytes(12)):
    """§2.1, offset by offset."""
    return (magic + struct.pack('>BBBB', version, kind, layout, res) +
            struct.pack('>II', seg, data_offset) + dir_id +
            struct.pack('>I', dek) + file_id + tail)


def meta_record(mode=0o4755, uid=1000, gid=100, flags=0, major=0, minor=0,
                cur=(b'\x51' * 16, b'\x52' * 16), prev=(bytes(16), bytes(16)),
                tail=bytes(8)):
    """§2.4."""
    return (struct.pack('>IIIIII', mode, uid, gid, flags, major, minor) +
            cur[0] + cur[1] + prev[0] + prev[1] + tail)


def meta_slot(key, bound, epoch, rec, nonce=NONCE):
    """§2.3: epoch | nonce | GCM(rec) | tag | 0[124]."""
    aad = b'CFRM' + bound + struct.pack('>Q', epoch)
    assert len(aad) == 76
    sealed = AESGCM(key).encrypt(nonce, rec, aad)      # ct || tag
    return struct.pack('>Q', epoch) + nonce + sealed + bytes(124)


def region(hdr, s0, s1, native=True):
    """§2.2 (a companion, §4, stops at 768)."""
    r = hdr + bytes(192) + s0 + s1
    return r + bytes(256) if native else r


def map_body(file_id=FILE_ID, group=2, count=3, version=GEN7,
             entries=(EPOCH, 0, EPOCH + 1), magic=b'CFRP', ver=2, res=0):
    """§5.2, bytes 0..4136."""
    e = list(entries) + [0] * (512 - len(entries))
    return (magic + bytes([ver]) + res.to_bytes(3, 'big') + file_id +
            struct.pack('>IIQ', group, count, version) +
            b''.join(struct.pack('>Q', x) for x in e))


def map_slot(body, key=MAP_KEY):
    return body + hmac.new(key, body, hashlib.sha256).digest()


def dir_bound(dir_id=DIR_ID, magic=b'CFRD', version=2, res=0, tail=bytes(40)):
    """§6, bytes 0..64."""
    return magic + bytes([version]) + res.to_bytes(3, 'big') + dir_id + tail


def dirfile(bound, s0, s1):
    return bound + bytes(192) + s0 + s1


def segment(key, index, is_last, epoch, pt, nonce=NONCE):
    """§3: epoch | nonce | ct | tag, AAD u64be(i) | u8(last) | u64be(e)."""
    aad = struct.pack('>QBQ', index, 1 if is_last else 0, epoch)
    return struct.pack('>Q', epoch) + nonce + AESGCM(key).encrypt(nonce, pt, aad)


def flip(b, i):
    b = bytearray(b)
    b[i] ^= 1
    return bytes(b)


def vectors():
    hdr = obj_header()
    rec = meta_record()
    print('/* make_seeds_v2_object.py --vectors */')
    print('meta slot (META_KEY, NONCE, obj_header(), EPOCH, meta_record()):')
    print(meta_slot(META_KEY, hdr, EPOCH, rec).hex())
    print('dir meta slot (DIR_KEY, NONCE, dir_bound(), EPOCH, root record):')
    root = meta_record(mode=0o1777, uid=0, gid=0, cur=(bytes(16), bytes(16)))
    print(meta_slot(DIR_KEY, dir_bound(), EPOCH, root).hex())
    print('map slot MAC (MAP_KEY, map_body()):')
    print(map_slot(map_body())[4136:].hex())
    print('segment (CONTENT_KEY, i=9, last, EPOCH, "coffre v2"):')
    print(segment(CONTENT_KEY, 9, True, EPOCH, b'coffre v2').hex())


def seeds():
    hdr = obj_header()
    rec = meta_record()
    dev = meta_record(major=8, minor=1)
    link = meta_record(flags=1, prev=(b'\x61' * 16, b'\x62' * 16))
    s_old = meta_slot(META_KEY, hdr, EPOCH, rec)
    s_new = meta_slot(META_KEY, hdr, EPOCH + 1, link)

    # fuzz_obj_header: a fixed header, a region or a companion
    put('obj_header', 'valid_header', hdr)
    put('obj_header', 'valid_symlink', obj_header(kind=2, seg=4096))
    put('obj_header', 'valid_companion_header',
        obj_header(layout=1, data_offset=0))
    put('obj_header', 'valid_region', region(hdr, s_old, s_new))
    put('obj_header', 'valid_companion',
        region(obj_header(layout=1, data_offset=0), s_old, bytes(256), False))
    put('obj_header', 'bad_magic', obj_header(magic=b'CFRX'))
    put('obj_header', 'v1_version', obj_header(version=1))
    put('obj_header', 'bad_kind', obj_header(kind=7))
    put('obj_header', 'bad_seg', obj_header(seg=3000))
    put('obj_header', 'bad_reserved', obj_header(tail=bytes(11) + b'\x01'))
    put('obj_header', 'legacy_symlink', obj_header(kind=2, layout=1,
                                                   data_offset=0))
    put('obj_header', 'short', hdr[:63])
    put('obj_header', 'region_gap', flip(region(hdr, s_old, s_new), 100))

    # fuzz_meta_record: kind byte then the record
    put('meta_record', 'valid_reg', b'\x01' + rec)
    put('meta_record', 'valid_chr', b'\x05' + dev)
    put('meta_record', 'valid_link', b'\x01' + link)
    put('meta_record', 'valid_dir', b'\x00' + meta_record(mode=0o3775))
    put('meta_record', 'rdev_on_reg', b'\x01' + dev)
    put('meta_record', 'mode_high', b'\x01' + meta_record(mode=0o10000))
    put('meta_record', 'flag_2', b'\x01' + meta_record(flags=2))
    put('meta_record', 'reserved', b'\x01' + meta_record(tail=b'\x01' + bytes(7)))
    put('meta_record', 'link_no_prev', b'\x01' + meta_record(flags=1))

    # fuzz_meta_slot: kind | bound[64] | slot 0 | slot 1 under META_KEY
    def ms(kind, bound, a, b):
        return bytes([kind]) + bound + a + b
    put('meta_slot', 'one_slot', ms(1, hdr, s_old, bytes(256)))
    put('meta_slot', 'two_slots', ms(1, hdr, s_old, s_new))
    put('meta_slot', 'torn_new', ms(1, hdr, s_old, flip(s_new, 50)))
    put('meta_slot', 'same_epoch_differ',
        ms(1, hdr, s_old, meta_slot(META_KEY, hdr, EPOCH, link,
                                    nonce=b'\x01' * 12)))
    put('meta_slot', 'empty', ms(1, hdr, bytes(256), bytes(256)))
    put('meta_slot', 'wrong_bound', ms(1, obj_header(dek=4), s_old, s_new))
    put('meta_slot', 'dev', ms(5, obj_header(kind=5),
                                meta_slot(META_KEY, obj_header(kind=5), EPOCH,
                                          dev), bytes(256)))
    put('meta_slot', 'epoch0', ms(1, hdr, meta_slot(META_KEY, hdr, 0, rec),
                                  bytes(256)))

    # fuzz_plain_size2: seg_size u32be | ciphertext size u64be
    for name, seg, c in [('empty', 16384, 1060), ('one_full', 4096, 1024 + 4132),
                         ('partial', 65536, 1024 + 65572 + 100),
                         ('torn', 16384, 1024 + 16420 + 10),
                         ('empty_after', 16384, 1024 + 16420 + 36),
                         ('short', 4096, 1059), ('huge', 65536, 2**63 - 1),
                         ('bad_seg', 5000, 4000)]:
        put('plain_size2', name, struct.pack('>IQ', seg, c))

    # fuzz_map_slot: legacy flag | slot (MACed under MAP_KEY)
    put('map_slot', 'valid', b'\x00' + map_slot(map_body()))
    put('map_slot', 'valid_full', b'\x00' + map_slot(
        map_body(count=512, entries=[EPOCH] * 512)))
    put('map_slot', 'valid_legacy', b'\x01' + map_slot(
        map_body(entries=((1 << 63) | 12345, 0, 1 << 63))))
    put('map_slot', 'legacy_in_native', b'\x00' + map_slot(
        map_body(entries=((1 << 63) | 5, 0, EPOCH))))
    put('map_slot', 'count0', b'\x00' + map_slot(map_body(count=0, entries=())))
    put('map_slot', 'past_count', b'\x00' + map_slot(
        map_body(count=2, entries=(EPOCH, 0, EPOCH))))
    put('map_slot', 'version_seq', b'\x00' + map_slot(map_body(version=GEN7 | 1)))
    put('map_slot', 'bad_mac', b'\x00' + flip(map_slot(map_body()), 4140))
    put('map_slot', 'unused', b'\x00' + bytes(4168))

    # fuzz_dirfile2: the file (slots under DIR_KEY)
    b = dir_bound()
    root = meta_record(mode=0o1777, uid=0, gid=0, cur=(bytes(16), bytes(16)))
    d0 = meta_slot(DIR_KEY, b, EPOCH, root)
    d1 = meta_slot(DIR_KEY, b, EPOCH + 5, meta_record(mode=0o2775))
    put('dirfile2', 'root', dirfile(b, d0, bytes(256)))
    put('dirfile2', 'two', dirfile(b, d0, d1))
    put('dirfile2', 'torn', dirfile(b, flip(d0, 30), d1))
    put('dirfile2', 'bad_magic', dirfile(dir_bound(magic=b'CFRF'), d0, d1))
    put('dirfile2', 'v1', dirfile(dir_bound(version=1), d0, d1))
    put('dirfile2', 'reserved', dirfile(dir_bound(tail=b'\x01' + bytes(39)),
                                        d0, d1))
    put('dirfile2', 'v1_file', b'CFRD\x01\x00\x00\x00' + DIR_ID)


if __name__ == '__main__':
    if sys.argv[1:] == ['--vectors']:
        vectors()
    else:
        seeds()
