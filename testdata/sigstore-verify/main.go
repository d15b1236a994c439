// The checks `cosign verify --key` and `cosign verify-attestation --key` make on
// one signature, with the Sigstore project's own Go library (sigstore/sigstore,
// from Debian's golang-github-sigstore-sigstore-dev) — cargo-slim's tests give it
// what they pulled from a registry, so what cargo-slim writes is checked by the
// code cosign verifies with, not by cargo-slim's.
//
//	sigstore-verify sig PUB.pem PAYLOAD SIG_BASE64 DIGEST
//	    the ECDSA signature over the simple-signing payload verifies with the
//	    key, and the payload (parsed as sigstore's payload.SimpleContainerImage)
//	    is a cosign image signature naming DIGEST;
//	sigstore-verify att PUB.pem ENVELOPE DIGEST
//	    the DSSE envelope verifies with the key (sigstore's dsse.WrapVerifier,
//	    as cosign's attestation check wraps it) and its in-toto statement names
//	    DIGEST.
//
// Prints OK, or FAIL: why (exit 1). Built by .ci/run:
// GO111MODULE=off GOPATH=/usr/share/gocode go build -o target/tools/sigstore-verify ./testdata/sigstore-verify
package main

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	"github.com/sigstore/sigstore/pkg/signature/payload"
)

func fail(format string, args ...interface{}) {
	fmt.Printf("FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func read(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	return b
}

func main() {
	if len(os.Args) < 5 {
		fail("usage: sigstore-verify sig PUB PAYLOAD SIG DIGEST | att PUB ENVELOPE DIGEST")
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(read(os.Args[2]))
	if err != nil {
		fail("public key: %v", err)
	}
	verifier, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		fail("verifier: %v", err)
	}
	switch os.Args[1] {
	case "sig":
		if len(os.Args) < 6 {
			fail("sig needs PUB PAYLOAD SIG DIGEST")
		}
		body := read(os.Args[3])
		sig, err := base64.StdEncoding.DecodeString(os.Args[4])
		if err != nil {
			fail("signature is not base64: %v", err)
		}
		if err := verifier.VerifySignature(bytes.NewReader(sig), bytes.NewReader(body)); err != nil {
			fail("signature: %v", err)
		}
		var p payload.SimpleContainerImage
		if err := json.Unmarshal(body, &p); err != nil {
			fail("payload: %v", err)
		}
		if p.Critical.Type != payload.CosignSignatureType {
			fail("payload type is %q", p.Critical.Type)
		}
		if p.Critical.Image.DockerManifestDigest != os.Args[5] {
			fail("payload names %s", p.Critical.Image.DockerManifestDigest)
		}
	case "att":
		env := read(os.Args[3])
		if err := dsse.WrapVerifier(verifier).VerifySignature(bytes.NewReader(env), nil); err != nil {
			fail("envelope: %v", err)
		}
		var e struct {
			Payload string `json:"payload"`
		}
		if err := json.Unmarshal(env, &e); err != nil {
			fail("envelope: %v", err)
		}
		raw, err := base64.StdEncoding.DecodeString(e.Payload)
		if err != nil {
			fail("payload is not base64: %v", err)
		}
		var st struct {
			Subject []struct {
				Digest map[string]string `json:"digest"`
			} `json:"subject"`
		}
		if err := json.Unmarshal(raw, &st); err != nil {
			fail("statement: %v", err)
		}
		if len(st.Subject) != 1 || "sha256:"+st.Subject[0].Digest["sha256"] != os.Args[4] {
			fail("statement subjects %v", st.Subject)
		}
	default:
		fail("unknown mode %q", os.Args[1])
	}
	fmt.Println("OK")
}
