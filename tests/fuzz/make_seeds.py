#!/usr/bin/env python3
"""Write the seed corpora of tests/fuzz/corpus/ (format targets).

The layouts are those of doc/FORMAT-v1.md, built here by hand, independently
of the C writers.  Valid and invalid seeds alike; run from any directory.
The name_decrypt seeds are encrypted here with the `cryptography` package's
AES-SIV (an implementation independent of src/crypto) under the fixed key
and dir id of fuzz_name_decrypt.c, so replaying them also cross-checks
name_decrypt against it."""
import base64
import hashlib
import os
import struct

try:
    from cryptography.hazmat.primitives.ciphers.aead import AESSIV
except ImportError:         # format seeds only
    AESSIV = None

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, 'corpus', target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def file_header(magic=b'CFRF', version=1, flags=0, reserved=0, seg=16384,
                dir_id=bytes(range(16)), dek=1, file_id=bytes(range(16, 32))):
    return (magic + struct.pack('>BBHI', version, flags, reserved, seg) +
            dir_id + struct.pack('>I', dek) + file_id)


def dir_file(magic=b'CFRD', version=1, reserved=b'\0\0\0',
             dir_id=bytes(range(0xa0, 0xb0))):
    return magic + bytes([version]) + reserved + dir_id


def keyrec(magic=b'CFRK', version=1, flags=0, reserved=0, dek=1, mk=1):
    hdr = (magic + struct.pack('>BBH', version, flags, reserved) +
           bytes(range(0x20, 0x30)) + bytes(range(0x40, 0x50)) +
           struct.pack('>II', dek, mk))
    return hdr + bytes(range(0x60, 0x6c)) + bytes(range(0x80, 0xb0))


CONF_BODY = (
    '# coffre volume \u2014 written by coffrectl; edits break its MAC\n'
    'format = 1\n'
    'uuid = 00112233445566778899aabbccddeeff\n'
    'segment_size = 16384\n'
    'strict_holes = 0\n'
    'root_id = ffeeddccbbaa99887766554433221100\n'
    'mk_version = 1\n'
    'kcv = 0123456789abcdef\n'
    'hsm = pkcs11:token=coffre-a\n')
MAC = 'mac = ' + '5a' * 32 + '\n'


MOUNT_BODY = (
    '# coffre mount configuration \u2014 root\'s, local, never part of the volume\n'
    'backing = /srv/coffre/records\n'
    'uuid = 00112233445566778899aabbccddeeff\n'
    'hsm = pkcs11:token=coffre-a\n')


def mount_conf_seeds():
    """/etc/coffre/NAME.conf (doc/FORMAT.md §10.2)."""
    put('mount_conf', 'valid-canonical', MOUNT_BODY.encode())
    many = ''.join('hsm = pkcs11:token=t%d?module-path=/usr/lib/m%d.so\n'
                   % (i, i) for i in range(7))
    put('mount_conf', 'valid-8-hsms-all-keys',
        ('# hand edited\n\n' + MOUNT_BODY + many +
         'pin_file = /etc/coffre/records.pin\nbucket = /mnt/b\n'
         'mountpoint = /srv/records\n').encode())
    put('mount_conf', 'bad-crlf', MOUNT_BODY.replace('\n', '\r\n').encode())
    put('mount_conf', 'bad-no-hsm',
        MOUNT_BODY.replace('hsm = pkcs11:token=coffre-a\n', '').encode())
    put('mount_conf', 'bad-relative-backing',
        MOUNT_BODY.replace('= /srv/', '= srv/').encode())
    put('mount_conf', 'bad-dotdot',
        MOUNT_BODY.replace('/coffre/', '/../').encode())
    put('mount_conf', 'bad-duplicate-bucket',
        (MOUNT_BODY + 'bucket = /a\nbucket = /b\n').encode())
    put('mount_conf', 'bad-relative-mountpoint',
        (MOUNT_BODY + 'mountpoint = srv/records\n').encode())
    put('mount_conf', 'bad-unknown-key', (MOUNT_BODY + 'mac = 00\n').encode())
    put('mount_conf', 'bad-unterminated', MOUNT_BODY.rstrip('\n').encode())


def marker(magic=b'CFRB', version=1, reserved=b'\0\0\0',
           uuid=bytes(range(16))):
    return magic + bytes([version]) + reserved + uuid


def marker_seeds():
    put('marker', 'valid', marker())
    put('marker', 'bad-magic', marker(magic=b'CFRD'))
    put('marker', 'bad-version', marker(version=2))
    put('marker', 'bad-reserved', marker(reserved=b'\0\x01\0'))
    put('marker', 'short', marker()[:23])
    put('marker', 'long', marker() + b'\n')


def main():
    marker_seeds()
    mount_conf_seeds()
    put('file_header', 'valid-16k', file_header())
    put('file_header', 'valid-strict-4k', file_header(flags=1, seg=4096, dek=7))
    put('file_header', 'valid-64k', file_header(seg=65536, dek=0xffffffff))
    put('file_header', 'bad-magic', file_header(magic=b'CFRK'))
    put('file_header', 'bad-version', file_header(version=2))
    put('file_header', 'bad-flags', file_header(flags=2))
    put('file_header', 'bad-reserved', file_header(reserved=1))
    put('file_header', 'bad-seg', file_header(seg=12288))
    put('file_header', 'bad-dek0', file_header(dek=0))
    put('file_header', 'short', file_header()[:47])
    put('file_header', 'long', file_header() + b'\0')

    put('dir_file', 'valid', dir_file())
    put('dir_file', 'bad-magic', dir_file(magic=b'CFRF'))
    put('dir_file', 'bad-version', dir_file(version=0))
    put('dir_file', 'bad-reserved', dir_file(reserved=b'\0\0\x01'))
    put('dir_file', 'short', dir_file()[:23])
    put('dir_file', 'long', dir_file() + b'\n')

    put('keyrec', 'valid', keyrec())
    put('keyrec', 'valid-flags', keyrec(flags=1, dek=3, mk=2))
    put('keyrec', 'bad-magic', keyrec(magic=b'CFRD'))
    put('keyrec', 'bad-version', keyrec(version=3))
    put('keyrec', 'bad-reserved', keyrec(reserved=0x8000))
    put('keyrec', 'bad-dek0', keyrec(dek=0))
    put('keyrec', 'bad-mk0', keyrec(mk=0))
    put('keyrec', 'short', keyrec()[:107])
    put('keyrec', 'long', keyrec() + b'\0')

    put('volume_conf', 'valid-canonical', (CONF_BODY + MAC).encode())
    many = ''.join('hsm = pkcs11:token=t%d;object=coffre-mk\n' % i
                   for i in range(7))
    put('volume_conf', 'valid-8-hsms-comments',
        ('# hand edited\n\n' + CONF_BODY.replace('strict_holes = 0',
                                                 'strict_holes = 1')
         + many + '\n# end\n' + MAC).encode())
    put('volume_conf', 'bad-crlf',
        (CONF_BODY + MAC).replace('\n', '\r\n').encode())
    put('volume_conf', 'bad-no-mac', CONF_BODY.encode())
    put('volume_conf', 'bad-mac-not-last', (CONF_BODY + MAC + '\n').encode())
    put('volume_conf', 'bad-unknown-key',
        (CONF_BODY + 'bucket = /mnt/b\n' + MAC).encode())
    put('volume_conf', 'bad-format-2',
        (CONF_BODY.replace('format = 1', 'format = 2') + MAC).encode())

    for name, v in [('empty-file', 76), ('one-full-4k', 48 + 4096 + 28),
                    ('torn', 48 + 4096 + 28 + 5),
                    ('empty-last', 48 + 2 * 28 + 16384),
                    ('zero', 0), ('int64max', 2**63 - 1),
                    ('u64max', 2**64 - 1)]:
        put('plain_size', name, struct.pack('>Q', v))

    for name, s in [('short', b'AA'), ('canonical', b'AQID'),
                    ('bad-char', b'ab+/'), ('bad-tail', b'AB'),
                    ('one-mod-four', b'AAAAA'), ('empty', b'')]:
        put('b64url', name, s)
    name_seeds()
    layout_seeds()
    symlink_seeds()
    xattr_seeds()


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b'=')


DIR_HEX = b'00112233445566778899aabbccddeeff'


def layout_seeds():
    put('layout', 'keyrec-1', DIR_HEX + b'.1')
    put('layout', 'keyrec-max', DIR_HEX + b'.4294967295')
    put('layout', 'keyrec-bad-zero', DIR_HEX + b'.0')
    put('layout', 'keyrec-bad-leading-zero', DIR_HEX + b'.01')
    put('layout', 'keyrec-bad-overflow', DIR_HEX + b'.4294967296')
    put('layout', 'keyrec-bad-upper', DIR_HEX.upper() + b'.1')
    put('layout', 'escrow-1', b'mk-v1')
    put('layout', 'escrow-max', b'mk-v4294967295')
    put('layout', 'escrow-bad-zero', b'mk-v0')
    put('layout', 'symlink-id', DIR_HEX)
    put('layout', 'symlink-id-traversal', b'../../../../../../../etc/passwdx')
    entry = b'.coffre.L' + b64(hashlib.sha256(b'abc').digest())
    put('layout', 'longname-entry', entry)
    put('layout', 'longname-sidecar', entry + b'.name')
    put('layout', 'internal-dir', b'.coffre.dir')
    put('layout', 'sidecar-content', b'A' * 363)


def symlink_blob(target=b'/etc/hosts', dir_id=bytes(range(16)), version=1):
    # header || nonce || "ciphertext" || tag: the layout only, no key
    return (dir_id + struct.pack('>I', version) + bytes(12) + target +
            bytes(range(16)))


def symlink_seeds():
    put('symlink', 'inline', b64(symlink_blob()))
    put('symlink', 'inline-v7', b64(symlink_blob(version=7)))
    put('symlink', 'inline-max', b64(symlink_blob(b'x' * (3071 - 48))))
    put('symlink', 'inline-too-long', b64(symlink_blob(b'x' * (3072 - 48))))
    put('symlink', 'inline-short-blob', b64(bytes(48)))
    put('symlink', 'sidecar', b'@' + DIR_HEX)
    put('symlink', 'sidecar-bad-upper', b'@' + DIR_HEX.upper())
    put('symlink', 'sidecar-bad-long', b'@' + DIR_HEX + b'0')
    put('symlink', 'sidecar-traversal', b'@../../../../../../../etc/passwdx')
    put('symlink', 'bad-char', b'AA=A')


def xattr_seeds():
    siv = bytes(range(17))
    put('xattr', 'short', b'user.' + b64(siv) + b'\0' + bytes(28))
    siv = bytes(range(187))
    put('xattr', 'short-max', b'user.' + b64(siv) + b'\0' + bytes(28))
    siv = bytes(i % 256 for i in range(200))
    name = b'user.#' + b64(hashlib.sha256(siv).digest())
    put('xattr', 'long', name + b'\0' + struct.pack('>H', 200) + siv + bytes(28))
    put('xattr', 'long-bad-len',
        name + b'\0' + struct.pack('>H', 199) + siv + bytes(28))
    put('xattr', 'long-no-value', name + b'\0')
    put('xattr', 'bad-namespace', b'trusted.' + b64(siv[:17]) + b'\0')
    put('xattr', 'bad-tag-only', b'user.' + b64(bytes(16)) + b'\0')


NAME_KEY = bytes(range(64))
NAME_DIR = b'coffre-fuzz-dir!'


def name_enc(name, dir_id=NAME_DIR):
    padded = name + b'\0' * (-len(name) % 32)
    sealed = AESSIV(NAME_KEY).encrypt(padded, [dir_id])  # SIV || ct
    return base64.urlsafe_b64encode(sealed).rstrip(b'=')


def name_seeds():
    put('name_decrypt', 'plain-short', b'hello.txt')
    put('name_decrypt', 'plain-dotdot', b'..')
    put('name_decrypt', 'plain-slash', b'a/b')
    put('name_decrypt', 'not-base64', b'****')
    if AESSIV is None:
        return
    put('name_decrypt', 'enc-short', name_enc(b'hello.txt'))
    put('name_decrypt', 'enc-32', name_enc(b'x' * 32))
    put('name_decrypt', 'enc-255', name_enc(b'n' * 255))
    put('name_decrypt', 'enc-utf8', name_enc('r\u00e9sum\u00e9'.encode()))
    put('name_decrypt', 'bad-other-dir',
        name_enc(b'hello.txt', b'coffre-fuzz-dir?'))
    put('name_decrypt', 'bad-full-pad-block', name_enc(b'a' + b'\0' * 32))
    put('name_decrypt', 'bad-nul-inside', name_enc(b'a\0b'))
    put('name_decrypt', 'bad-dot', name_enc(b'.'))


if __name__ == '__main__':
    main()
