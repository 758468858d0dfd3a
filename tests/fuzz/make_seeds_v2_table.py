#!/usr/bin/env python3
"""Seed corpora of the version table's fuzz targets (doc/FORMAT.md §12.1-§12.4):
fuzz_tentry, fuzz_tlevel, fuzz_tlog, fuzz_intent, in tests/fuzz/corpus/.

Built by hand from the FORMAT.md tables with struct/hmac, independently of
the C writers.  With --kat, print instead the known-answer MACs pasted into
tests/unit/format/v2/test_{tlevel,tlog,intent}.c.  Run from any directory.

fuzz_tlevel's first byte selects the block parser (0 header, 1 data of a
base, 2 data of a delta, 3 index) and, for data and index blocks, the next
byte the entry or key count; fuzz_tlog's first byte 0 parses as is, 1
recomputes the MAC over the rest first.  Both use TKEY below."""
import hashlib
import hmac
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TKEY = bytes(range(0xc0, 0xe0))          # the fuzz targets' table key
UUID = bytes(range(0x10, 0x20))


def put(target, name, data):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def mac(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


# ---- §12.1 entries: kind u8 | key[39] | value[40], zero-padded

def entry(kind, key=b'', value=b''):
    assert len(key) <= 39 and len(value) <= 40
    return bytes([kind]) + key.ljust(39, b'\0') + value.ljust(40, b'\0')


def epoch(gen, seq=0):
    return gen << 24 | seq


def e_conf(gen=5):
    return entry(1, b'', struct.pack('>Q', gen))


def e_esc(mk=1, sha=hashlib.sha256(b'escrow').digest(), kind=2):
    return entry(kind, struct.pack('>I', mk), sha)


def e_key(dir_id=bytes(range(0x40, 0x50)), dek=1, mk=1, state=1, gen=3):
    return entry(3, dir_id + struct.pack('>I', dek),
                 struct.pack('>IB3xQ', mk, state, gen))


def e_obj(oid=bytes(range(0x50, 0x60)), meta=epoch(4, 1), size=12345,
          xattr=0, seals=9, names=1, mtime=-1):
    return entry(4, oid, struct.pack('>QQQIIq', meta, size, xattr, seals,
                                     names, mtime))


def e_name(parent=bytes(range(0x40, 0x50)), nid=bytes(range(0x60, 0x70)),
           oid=bytes(range(0x50, 0x60)), typ=1):
    return entry(5, parent + nid, oid + bytes([typ]))


def e_map(fid=bytes(range(0x50, 0x60)), group=0, form=1, count=512,
          ep=epoch(4, 2)):
    return entry(6, fid + struct.pack('>I', group),
                 struct.pack('>B3xIQ', form, count, ep))


def e_torn(fid=bytes(range(0x50, 0x60)), seg=7, gen=6):
    return entry(7, fid + struct.pack('>Q', seg), struct.pack('>Q', gen))


def tomb(e):
    return bytes([e[0] | 0x80]) + e[1:40] + bytes(40)


VALID = [e_conf(), e_esc(), e_key(), e_obj(), e_name(), e_map(), e_torn(),
         e_esc(kind=8, sha=bytes(32))]


def tentry_seeds():
    names = ['conf', 'esc', 'key', 'obj', 'name', 'map', 'torn', 'escnext-zero']
    for n, e in zip(names, VALID):
        put('tentry', 'valid-' + n, e)
    put('tentry', 'valid-tombstone-obj', tomb(e_obj()))
    put('tentry', 'valid-map-explicit', e_map(form=2, count=1, ep=epoch(9)))
    put('tentry', 'bad-kind-9', entry(9))
    put('tentry', 'bad-key-state-3', e_key(state=3))
    put('tentry', 'bad-name-type-8', e_name(typ=8))
    put('tentry', 'bad-map-count-513', e_map(count=513))
    put('tentry', 'bad-map-explicit-seq', e_map(form=2, ep=epoch(9, 1)))
    put('tentry', 'bad-conf-gen-0', e_conf(0))
    put('tentry', 'bad-padding', e_conf()[:79] + b'\1')
    put('tentry', 'bad-short', e_conf()[:79])


# ---- §12.2 levels

def block_mac(level, gen, index, body):
    assert len(body) == 4064
    return mac(TKEY, UUID + struct.pack('>BQI', level, gen, index) + body)


def blk(level, gen, index, body):
    return body + block_mac(level, gen, index, body)


def header_body(level=0, gen=10, n=1, dn=1, fn=1, anchor=b'\xaa' * 32,
                lo=0, hi=0, base_gen=0, base_mac=bytes(32), magic=b'CFRT',
                version=2):
    b = (magic + struct.pack('>BBH', version, level, 0) + UUID +
         struct.pack('>QQII', gen, n, dn, fn) + anchor +
         struct.pack('>QQQ', lo, hi, base_gen) + base_mac)
    assert len(b) == 136
    return b.ljust(4064, b'\0')


def data_body(entries):
    return b''.join(entries).ljust(4064, b'\0')


def index_body(keys):
    return b''.join(keys).ljust(4064, b'\0')


def tlevel_seeds():
    put('tlevel', 'valid-header-base', b'\0' + blk(0, 10, 0, header_body()))
    put('tlevel', 'valid-header-delta',
        b'\0' + blk(1, 12, 0, header_body(level=1, gen=12, n=120, dn=3, fn=1,
                                          lo=4, hi=5, base_gen=10,
                                          base_mac=b'\xbb' * 32)))
    put('tlevel', 'bad-header-fn',
        b'\0' + blk(0, 10, 0, header_body(n=5001, dn=101, fn=1)))
    put('tlevel', 'bad-header-magic', b'\0' + blk(0, 10, 0,
                                                  header_body(magic=b'CFRX')))
    ents = sorted(VALID, key=lambda e: e[:40])
    put('tlevel', 'valid-data-base', bytes([1, len(ents)]) +
        blk(0, 10, 1, data_body(ents)))
    put('tlevel', 'valid-data-delta-tomb', bytes([2, 2]) +
        blk(1, 12, 1, data_body([e_conf(), tomb(e_obj())])))
    put('tlevel', 'bad-data-base-tomb', bytes([1, 2]) +
        blk(0, 10, 1, data_body([e_conf(), tomb(e_obj())])))
    put('tlevel', 'bad-data-order', bytes([1, 2]) +
        blk(0, 10, 1, data_body([e_obj(), e_conf()])))
    keys = [e[:40] for e in ents]
    put('tlevel', 'valid-index', bytes([3, len(keys)]) +
        blk(0, 10, 2, index_body(keys)))
    put('tlevel', 'bad-index-tomb-bit', bytes([3, 1]) +
        blk(0, 10, 2, index_body([tomb(e_obj())[:40]])))


# ---- §12.3 commit records

def tlog(typ=1, flags=0, gen=20, prev_gen=19, prev_mac=b'\xcc' * 32, lo=0,
         hi=0, time=1700000000, puts=(), dels=(), rems=(), magic=b'CFRL',
         version=2, key=TKEY):
    h = (magic + struct.pack('>BBH', version, typ, flags) + UUID +
         struct.pack('>QQ', gen, prev_gen) + prev_mac +
         struct.pack('>QQQIII', lo, hi, time, len(puts), len(dels),
                     len(rems)) + bytes(20))
    assert len(h) == 128
    body = h + b''.join(puts) + b''.join(dels) + b''.join(rems)
    return body + mac(key, body)


REM = bytes(range(0x40, 0x50)) + bytes(range(0x60, 0x70)) + bytes(range(0x50, 0x60))


def tlog_seeds():
    put('tlog', 'valid-start', b'\0' + tlog(typ=2, prev_gen=0, prev_mac=bytes(32)))
    put('tlog', 'valid-commit', b'\0' + tlog(
        flags=1, lo=16, hi=17, puts=[e_conf(), e_name()],
        dels=[e_obj(oid=bytes(16))[:40], e_map()[:40]], rems=[REM]))
    put('tlog', 'bad-mac', b'\0' + tlog(key=bytes(32)))
    put('tlog', 'remac-del-among-puts', b'\1' + tlog(
        puts=[e_conf(), e_name()], dels=[e_conf()[:40]])[:-32] + bytes(32))
    put('tlog', 'remac-flags-4', b'\1' + tlog(flags=4)[:-32] + bytes(32))
    put('tlog', 'remac-valid', b'\1' + tlog(puts=[e_conf()])[:-32] + bytes(32))


# ---- §12.4 intents

def intent(index, g=30, kind=1, first=4, count=16, oid=bytes(range(0x50, 0x60)),
           key=TKEY):
    body = struct.pack('>B3xII4x', kind, first, count) + oid
    assert len(body) == 32
    tag = mac(key, UUID + struct.pack('>QI', g, index) + body)[:16]
    return body + tag


def intent_seeds():
    put('intent', 'valid-one', intent(0))
    put('intent', 'valid-three', intent(0) + intent(1, first=0, count=1) +
        intent(2, first=0xffffffc0, count=64))
    put('intent', 'torn-tail', intent(0) + intent(1)[:20])
    put('intent', 'bad-mac-second', intent(0) + intent(0))
    put('intent', 'bad-count-0', intent(0, count=0))


def kat():
    """Known answers for the unit tests (key 0x00..0x1f, uuid 0x10..0x1f)."""
    key = bytes(range(32))
    body = header_body(gen=10).ljust(4064, b'\0')
    print('tlevel header gen 10 block 0:',
          mac(key, UUID + struct.pack('>BQI', 0, 10, 0) + body).hex())
    body = data_body([e_conf(), e_obj()])
    print('tlevel data delta gen 12 block 7:',
          mac(key, UUID + struct.pack('>BQI', 1, 12, 7) + body).hex())
    print('tlog commit:', tlog(key=key, flags=1, lo=16, hi=17,
                               puts=[e_conf(), e_name()],
                               dels=[e_map()[:40]], rems=[REM])[-32:].hex())
    print('intent g 30 index 2:', intent(2, key=key)[32:].hex())


if __name__ == '__main__':
    if sys.argv[1:] == ['--kat']:
        kat()
    else:
        tentry_seeds()
        tlevel_seeds()
        tlog_seeds()
        intent_seeds()
