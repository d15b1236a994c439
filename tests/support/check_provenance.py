#!/usr/bin/env python3
"""Check a SLSA provenance attestation with the in-toto project's own readers.

Usage: check_provenance.py DOCUMENT DIGEST [PUBLIC_KEY_PEM]

DOCUMENT is the attestation layer as pushed: a DSSE envelope (signed) or a bare
in-toto statement (unsigned). With PUBLIC_KEY_PEM the envelope's signature must
verify with securesystemslib (DSSE's PAE, ECDSA P-256 / SHA-256); the statement
must parse as an in-toto Statement v1 (in-toto-attestation's protobuf model,
unknown fields refused) whose predicate parses as SLSA provenance v1, with one
subject naming DIGEST. Prints `OK` and exits 0, or names what failed and exits 1.
"""
import json
import sys

from google.protobuf import json_format
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.resource_descriptor import ResourceDescriptor
from in_toto_attestation.v1.statement import Statement


def fail(why):
    print(f"FAIL: {why}")
    sys.exit(1)


def statement_bytes(doc, pem):
    if "payloadType" not in doc:
        if pem:
            fail("a key was given, but the document is not a DSSE envelope")
        return json.dumps(doc).encode()
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import SSlibKey

    envelope = Envelope.from_dict(doc)
    if envelope.payload_type != "application/vnd.in-toto+json":
        fail(f"payloadType is {envelope.payload_type}")
    if pem:
        public = load_pem_public_key(open(pem, "rb").read())
        made = SSlibKey.from_crypto(public, scheme="ecdsa-sha2-nistp256")
        # Our envelopes carry keyid "" (as cosign's do), and securesystemslib only
        # tries keys whose keyid equals the signature's: the same key, keyid "".
        key = SSlibKey("", made.keytype, made.scheme, made.keyval)
        try:
            envelope.verify([key], 1)
        except Exception as e:  # securesystemslib's VerificationError
            fail(f"securesystemslib: {e}")
    return envelope.payload


def main():
    path, digest = sys.argv[1], sys.argv[2]
    pem = sys.argv[3] if len(sys.argv) > 3 else None
    doc = json.load(open(path, "rb"))
    raw = statement_bytes(doc, pem)
    pb = json_format.Parse(raw, statement_pb2.Statement())
    stmt = Statement.copy_from_pb(pb)
    stmt.validate()
    if stmt.pb.predicate_type != "https://slsa.dev/provenance/v1":
        fail(f"predicateType is {stmt.pb.predicate_type}")
    subjects = [dict(s.digest) for s in stmt.pb.subject]
    if subjects != [{"sha256": digest.removeprefix("sha256:")}]:
        fail(f"subjects are {subjects}, expected {digest}")
    predicate = json.loads(raw)["predicate"]
    prov = json_format.ParseDict(predicate, provenance_pb2.Provenance())
    if not prov.build_definition.build_type or not prov.run_details.builder.id:
        fail("buildType and runDetails.builder.id are required")
    for rd in prov.build_definition.resolved_dependencies:
        ResourceDescriptor.copy_from_pb(rd).validate()
    print(f"OK {len(prov.build_definition.resolved_dependencies)} dependencies")


if __name__ == "__main__":
    main()
