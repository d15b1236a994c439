#!/usr/bin/env python3
"""Check a Sigstore bundle (v0.3) with the Sigstore and in-toto projects' readers.

Usage: check_bundle.py BUNDLE DIGEST PUBLIC_KEY_PEM PREDICATE_TYPE

The bundle must parse as sigstore-protobuf-specs' `Bundle` (the protobuf model of
sigstore_bundle.proto), have the v0.3 media type, a public-key hint and a DSSE
envelope; securesystemslib must verify the envelope with PUBLIC_KEY_PEM; its
payload must be an in-toto Statement v1 (in-toto-attestation's model) with
PREDICATE_TYPE and one subject naming DIGEST. Prints `OK` or `FAIL: why`.
"""
import json
import sys

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from google.protobuf import json_format
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey
from sigstore_protobuf_specs.dev.sigstore.bundle.v1 import Bundle


def fail(why):
    print(f"FAIL: {why}")
    sys.exit(1)


def main():
    path, digest, pem, predicate = sys.argv[1:5]
    raw = open(path, "rb").read()
    bundle = Bundle.from_dict(json.loads(raw))
    if bundle.media_type != "application/vnd.dev.sigstore.bundle.v0.3+json":
        fail(f"mediaType is {bundle.media_type}")
    if not bundle.verification_material.public_key.hint:
        fail("no public key hint")
    if not bundle.dsse_envelope.signatures:
        fail("no DSSE envelope signature")
    envelope = Envelope.from_dict(json.loads(raw)["dsseEnvelope"])
    made = SSlibKey.from_crypto(
        load_pem_public_key(open(pem, "rb").read()), scheme="ecdsa-sha2-nistp256"
    )
    key = SSlibKey("", made.keytype, made.scheme, made.keyval)
    try:
        envelope.verify([key], 1)
    except Exception as e:
        fail(f"securesystemslib: {e}")
    stmt = Statement.copy_from_pb(
        json_format.Parse(envelope.payload, statement_pb2.Statement())
    )
    if stmt.pb.predicate:
        stmt.validate()
    if stmt.pb.predicate_type != predicate:
        fail(f"predicateType is {stmt.pb.predicate_type}")
    subjects = [dict(s.digest) for s in stmt.pb.subject]
    if subjects != [{"sha256": digest.removeprefix("sha256:")}]:
        fail(f"subjects are {subjects}")
    print("OK")


if __name__ == "__main__":
    main()
