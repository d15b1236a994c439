#!/usr/bin/env python3
"""Write a P-256 private key in cosign's encrypted format, without cargo-slim.

Usage: cosign_key.py PKCS8_DER_FILE PASSWORD OUT_KEY

Follows cosign's `pkg/cosign/keys.go` / sigstore's `encrypted` package: the
PKCS#8 DER is sealed with NaCl secretbox (PyNaCl) under a key derived with
scrypt (N=65536, r=8, p=1, 32 random salt bytes; Python's hashlib), the JSON
`{"kdf":…,"cipher":…,"ciphertext":…}` then wrapped in a PEM block labelled
`ENCRYPTED SIGSTORE PRIVATE KEY`.
"""
import base64
import hashlib
import json
import os
import sys

import nacl.secret
import nacl.utils


def main():
    der_path, password, out = sys.argv[1:4]
    der = open(der_path, "rb").read()
    salt = os.urandom(32)
    key = hashlib.scrypt(
        password.encode(), salt=salt, n=65536, r=8, p=1, maxmem=128 * 1024 * 1024, dklen=32
    )
    nonce = nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
    sealed = nacl.secret.SecretBox(key).encrypt(der, nonce).ciphertext
    b64 = lambda b: base64.b64encode(b).decode()
    doc = {
        "kdf": {"name": "scrypt", "params": {"N": 65536, "r": 8, "p": 1}, "salt": b64(salt)},
        "cipher": {"name": "nacl/secretbox", "nonce": b64(nonce)},
        "ciphertext": b64(sealed),
    }
    body = base64.encodebytes(json.dumps(doc).encode()).decode()
    with open(out, "w") as f:
        f.write("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
        f.write(body)
        f.write("-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n")


if __name__ == "__main__":
    main()
