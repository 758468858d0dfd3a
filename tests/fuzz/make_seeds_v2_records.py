#!/usr/bin/env python3
"""Seed corpora of the format 2 record targets (fuzz_keyrec2, fuzz_hsmgen,
fuzz_xattr2, fuzz_volconf2, fuzz_names2) and the known-answer vectors of
tests/unit/format/v2 (printed with --vectors).

Layouts are those of doc/FORMAT.md §1.4, §8, §9.1, §9.3 and §10.1, built
here by hand with struct, hashlib and hmac, and sealed with the
`cryptography` package's AESGCM: an implementation independent of the C
writers and of src/crypto.  Valid and invalid seeds alike."""
import hashlib
import hmac
import os
import struct
import sys

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HERE = os.path.dirname(os.path.abspath(__file__))
XATTR_KEY = bytes(range(0x40, 0x60))        # fuzz_xattr2.c's fixed key
MK = bytes(range(0x10, 0x30))
DEK = bytes(range(0xc0, 0xe0))
CONF_KEY = bytes(range(0x80, 0xa0))


def put(target, name, data):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def epoch(gen, seq):
    return gen << 24 | seq


# §9.1
def keyrec_hdr(magic=b'CFRK', version=2, flags=0, reserved=0, dek=7, mk=3,
               gen=0x1234):
    return (magic + struct.pack('>BBH', version, flags, reserved) +
            bytes(range(0x20, 0x30)) + bytes(range(0x40, 0x50)) +
            struct.pack('>IIQ', dek, mk, gen))


KEYREC_IV = bytes(range(0x60, 0x6c))


def keyrec(**kw):
    hdr = keyrec_hdr(**kw)
    return hdr + KEYREC_IV + AESGCM(MK).encrypt(KEYREC_IV, DEK, hdr)


# §9.3
def hsmgen(local, bucket, reserved):
    return struct.pack('>QQQ', local, bucket, reserved)


# §8
def xattr_plain(attrs, count=None):
    out = struct.pack('>H', len(attrs) if count is None else count)
    for name, value in attrs:
        out += bytes([len(name)]) + name + struct.pack('>I', len(value)) + value
    return out


XATTR_NONCE = bytes(range(0xa0, 0xac))


def xattr_blob(pt, magic=b'CFRX', version=2, reserved=b'\0\0\0',
               obj=bytes(range(16)), ep=epoch(5, 7), nonce=XATTR_NONCE):
    hdr = magic + bytes([version]) + reserved + obj + struct.pack('>Q', ep)
    return hdr + nonce + AESGCM(XATTR_KEY).encrypt(nonce, pt, hdr)


# §10.1
LABEL_A = b'coffre-a'.ljust(32, b' ')
SERIAL_A = b'0123456789abcdef'
LABEL_B = b'coffre-b'.ljust(32, b' ')
SERIAL_B = b'serial-b'.ljust(16, b' ')


def conf_body(tokens=((LABEL_A, SERIAL_A), (LABEL_B, SERIAL_B)),
              recovery=True, fmt='2', extra=''):
    s = ('# coffre volume \u2014 written by coffrectl; edits break its MAC\n'
         'format = ' + fmt + '\n'
         'uuid = 00112233445566778899aabbccddeeff\n'
         'generation = 42\n'
         'segment_size = 16384\n'
         'root_id = ffeeddccbbaa99887766554433221100\n'
         'mk_version = 1\n'
         'kcv = 0123456789abcdef\n')
    for label, serial in tokens:
        s += 'token = ' + label.hex() + ' ' + serial.hex() + '\n'
    if recovery:
        s += 'recovery_key = x25519:' + '11' * 32 + '\nshares = 2/3\n'
    return (s + extra).encode()


def conf(body):
    return body + b'mac = ' + hmac.new(CONF_KEY, body, hashlib.sha256).hexdigest().encode() + b'\n'


def seeds():
    put('keyrec2', 'valid', keyrec())
    put('keyrec2', 'valid-flags', keyrec(flags=0xa5))
    put('keyrec2', 'bad-magic', keyrec(magic=b'CFRX'))
    put('keyrec2', 'bad-version', keyrec(version=1))
    put('keyrec2', 'bad-reserved', keyrec(reserved=1))
    put('keyrec2', 'bad-gen0', keyrec(gen=0))
    put('keyrec2', 'bad-gen-big', keyrec(gen=1 << 39))
    put('keyrec2', 'short', keyrec()[:115])
    put('keyrec2', 'long', keyrec() + b'\0')

    put('hsmgen', 'valid', hsmgen(100, 90, 100 + 65536))
    put('hsmgen', 'valid-upgrade', hsmgen(0, 0, 3 + 65536))
    put('hsmgen', 'valid-reseed', hsmgen(77, 0, 77))
    put('hsmgen', 'bad-local-above', hsmgen(101, 0, 100))
    put('hsmgen', 'bad-reserved-big', hsmgen(0, 0, (1 << 39) + 65536))
    put('hsmgen', 'v1-8-bytes', struct.pack('>Q', 5))
    put('hsmgen', 'long', hsmgen(1, 1, 1) + b'\0')

    pt = xattr_plain([(b'a', b'1'), (b'bb', b'')])
    # mode byte 0: open the rest as a blob; 1: seal the rest as plaintext
    put('xattr2', 'open-valid', b'\0' + xattr_blob(pt))
    put('xattr2', 'open-empty', b'\0' + xattr_blob(xattr_plain([])))
    put('xattr2', 'open-bad-tag', b'\0' + xattr_blob(pt)[:-1] + b'\0')
    put('xattr2', 'open-bad-order', b'\0' + xattr_blob(xattr_plain([(b'b', b''), (b'a', b'')])))
    put('xattr2', 'open-bad-epoch', b'\0' + xattr_blob(pt, ep=0))
    put('xattr2', 'seal-valid', b'\1' + pt)
    put('xattr2', 'seal-dup', b'\1' + xattr_plain([(b'a', b''), (b'a', b'')]))
    put('xattr2', 'seal-nul', b'\1' + xattr_plain([(b'a\0', b'')]))
    put('xattr2', 'seal-count', b'\1' + xattr_plain([(b'a', b'')], count=2))

    put('volconf2', 'valid', conf(conf_body()))
    put('volconf2', 'valid-one-token', conf(conf_body(tokens=((LABEL_A, SERIAL_A),), recovery=False)))
    put('volconf2', 'v1-format', conf(conf_body(fmt='1')))
    put('volconf2', 'bad-hsm', conf(conf_body(extra='hsm = pkcs11:token=a\n')))
    put('volconf2', 'bad-unsorted', conf(conf_body(tokens=((LABEL_B, SERIAL_B), (LABEL_A, SERIAL_A)))))
    put('volconf2', 'bad-dup', conf(conf_body(tokens=((LABEL_A, SERIAL_A), (LABEL_A, SERIAL_A)))))

    for i, name in enumerate(['lock', 'keys', 'upgrade', '00112233445566778899aabbccddeeff.1',
                 '00112233445566778899aabbccddeeff.4294967296', 'mk-v12',
                 'mk-v012', 'base.1', 'intent.549755813887', 'log.549755813888',
                 'delta.01', '.coffre.dir', '.coffre.L' + 'A' * 43,
                 '.coffre.L' + 'A' * 42 + 'B.name', '.coffre.tmp.x-1_2.3',
                 '.coffre.tmp.a/b', 'A' * 64, 'A' * 63 + 'B', 'A' * 107,
                 '.', '..', '.coffre']):
        put('names2', '%02d' % i, name.encode())


def vectors():
    print('keyrec2', keyrec(flags=0xa5).hex())
    pt = xattr_plain([(b'a', b'1'), (b'bb', b'')])
    print('xattr2 pt', pt.hex())
    print('xattr2 blob', xattr_blob(pt).hex())
    body = conf_body()
    print('volconf2 body', repr(body))
    print('volconf2 mac', hmac.new(CONF_KEY, body, hashlib.sha256).hexdigest())


if __name__ == '__main__':
    if sys.argv[1:] == ['--vectors']:
        vectors()
    else:
        seeds()
