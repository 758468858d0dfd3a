#!/usr/bin/env python3
"""Independent model of src/shamir for the known-answer tests.

Written from the format description in include/coffre/shamir.h, not from
the C code: GF(2^8) multiplication here goes through log/exp tables built
from the generator 0x03 (the C code shifts and adds), and the split is
checked by re-combining with Lagrange interpolation before printing.

The deterministic RNG is the one test_kat.c uses: the concatenation of
SHA-256(b"coffre-shamir-kat" || u32be(i)) for i = 0, 1, 2, ...

Run: python3 tests/unit/shamir/kat.py  (prints the hex pasted in
test_kat.c); with --seeds it also (re)writes the seed corpus of the
share parser's fuzz target, tests/fuzz/corpus/share/."""
import base64
import os
import sys
import hashlib
import itertools
import struct

EXP = [0] * 510
LOG = [0] * 256
v = 1
for e in range(255):
    EXP[e] = v
    LOG[v] = e
    # v *= 3, i.e. v*x + v, reduced by x^8+x^4+x^3+x+1
    t = v << 1
    if t & 0x100:
        t ^= 0x11b
    v = t ^ v
for e in range(255, 510):
    EXP[e] = EXP[e - 255]


def mul(a, b):
    if a == 0 or b == 0:
        return 0
    return EXP[LOG[a] + LOG[b]]


def inv(a):
    return EXP[255 - LOG[a]]


class Rng:
    def __init__(self):
        self.buf = b''
        self.ctr = 0

    def take(self, n):
        while len(self.buf) < n:
            self.buf += hashlib.sha256(b'coffre-shamir-kat' +
                                       struct.pack('>I', self.ctr)).digest()
            self.ctr += 1
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def split(secret, n, k):
    rng = Rng()
    msg = secret + hashlib.sha256(b'coffre-shamir-check' + secret).digest()[:16]
    set_id = rng.take(16)
    ys = [bytearray() for _ in range(n)]
    for c0 in msg:
        a = rng.take(k - 1)
        coeffs = [c0] + list(a)
        for x in range(1, n + 1):
            y, xp = 0, 1
            for c in coeffs:
                y ^= mul(c, xp)
                xp = mul(xp, x)
            ys[x - 1].append(y)
    shares = []
    for x in range(1, n + 1):
        body = (b'CFRS' + bytes([1, k, x, 0]) + set_id +
                struct.pack('>H', len(secret)) + bytes(ys[x - 1]))
        shares.append(body + hashlib.sha256(body).digest()[:16])
    return msg, shares


def combine(shares, k):
    xs = [s[6] for s in shares[:k]]
    ylen = len(shares[0]) - 26 - 16
    out = bytearray(ylen)
    for i, s in enumerate(shares[:k]):
        num = den = 1
        for j in range(k):
            if j != i:
                num = mul(num, xs[j])
                den = mul(den, xs[j] ^ xs[i])
        li = mul(num, inv(den))
        for b in range(ylen):
            out[b] ^= mul(li, s[26 + b])
    return bytes(out)


def text(share):
    b = base64.b64encode(share).decode()
    lines = [b[i:i + 64] for i in range(0, len(b), 64)]
    return 'coffre-share v1\n' + '\n'.join(lines) + '\nend\n'


def write_seeds():
    d = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                     '..', '..', 'fuzz', 'corpus', 'share')
    os.makedirs(d, exist_ok=True)
    _, small = split(b'coffre\x00\xff', 7, 5)
    _, one = split(b'\xca', 3, 2)
    _, big = split(bytes(range(256)) * 2, 2, 2)
    t = text(small[0])
    seeds = {
        'text-7of5': t,
        'text-1byte': text(one[1]),
        'text-512': text(big[1]),
        'text-crlf': t.replace('\n', '\r\n'),
        'text-no-final-newline': t[:-1],
        'text-no-end': t[:-4],
        'text-bad-sum': text(small[1][:-1] + bytes([small[1][-1] ^ 1])),
        'text-rewrapped': 'coffre-share v1\n' +
                          base64.b64encode(small[0]).decode() + '\nend\n',
        'text-trailing': t + 'x',
        'bin-7of5': small[2],
        'bin-1byte': one[0],
        'bin-truncated': small[3][:-1],
        'bin-bad-magic': b'CFRX' + small[4][4:],
    }
    for name, data in seeds.items():
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)


def main():
    if '--seeds' in sys.argv[1:]:
        write_seeds()
    for secret, n, k in ((b'coffre\x00\xff', 7, 5), (b'\xca', 3, 2)):
        msg, shares = split(secret, n, k)
        for sub in itertools.combinations(shares, k):
            assert combine(list(sub), k) == msg
        print('secret %s n=%d k=%d' % (secret.hex(), n, k))
        for s in shares:
            print('\t"%s",' % s.hex())
        print(repr(text(shares[0])))


if __name__ == '__main__':
    main()
