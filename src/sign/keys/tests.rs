use super::*;
use crate::sign::{verify, KeySigner, Signer};

/// A file of `testdata/keys/` (vectors copied from cosign, with their provenance).
fn vector(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/keys")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The public key a P-256 PKCS#8 document carries after its private scalar: the
/// uncompressed point closing the document, in a BIT STRING (`03 42 00 04 ...`).
fn embedded_public(pkcs8: &[u8]) -> &[u8] {
    let (head, point) = pkcs8.split_at(pkcs8.len() - 65);
    assert_eq!(&head[head.len() - 3..], [0x03, 0x42, 0x00]);
    assert_eq!(point[0], 0x04);
    point
}

#[test]
fn cosigns_own_encrypted_vectors_decrypt_to_their_public_keys() {
    for (key, public) in [
        ("cosign-sigstore-hello.key", "cosign-sigstore-hello.pub"),
        ("cosign-legacy-hello.key", "cosign-legacy-hello.pub"),
    ] {
        let text = vector(key);
        let k = SigningKey::from_pem(&text, b"hello", key).unwrap();
        // The public key openssl wrote from the decrypted vector.
        let want = PublicKey::from_pem(&vector(public), public).unwrap();
        assert_eq!(k.public_key(), want, "{key}");
        assert!(String::from_utf8(vector(public))
            .unwrap()
            .ends_with(&k.public_key().to_pem()));
        // And the one the vector carries inside its PKCS#8 document.
        let (_, body) = first_block(&text, key, "k").unwrap();
        let pkcs8 = encrypted::open(&body, b"hello", key).unwrap();
        // SPKI also closes with the uncompressed point.
        let spki = k.public_key().to_der();
        assert_eq!(embedded_public(&pkcs8), &spki[spki.len() - 65..], "{key}");
        let e = SigningKey::from_pem(&text, b"hellO", key).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("wrong password for `{key}`, or not a cosign key")
        );
    }
}

#[test]
fn cosigns_sec1_inside_vector_is_refused_as_cosign_refuses_it() {
    let name = "cosign-sec1-inside-hello.key";
    let e = SigningKey::from_pem(&vector(name), b"hello", name).unwrap_err();
    assert!(e.to_string().contains("SEC1"), "{e}");
    assert!(e.help.unwrap().contains("cosign import-key-pair"));
}

#[test]
fn plain_pkcs8_and_sec1_keys_are_read_and_sign() {
    let sec1 = SigningKey::from_pem(&vector("ec-p256-sec1.pem"), b"", "sec1").unwrap();
    let pkcs8 = SigningKey::from_pem(&vector("ec-p256-pkcs8.pem"), b"ignored", "p8").unwrap();
    assert_ne!(sec1.public_key(), pkcs8.public_key());
    for key in [sec1, pkcs8] {
        let s = KeySigner::new(key);
        let sig = s.sign(b"bytes").unwrap();
        verify(&s.public_key(), b"bytes", &sig).unwrap();
    }
    // `openssl ecparam -genkey` prints the curve's parameters first.
    let params = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n";
    let mut text = params.as_bytes().to_vec();
    text.extend(vector("ec-p256-sec1.pem"));
    let k = SigningKey::from_pem(&text, b"", "ecparam").unwrap();
    assert_eq!(
        k.public_key(),
        SigningKey::from_pem(&vector("ec-p256-sec1.pem"), b"", "x")
            .unwrap()
            .public_key()
    );
}

#[test]
fn other_algorithms_are_named_and_refused() {
    for (file, what) in [
        ("ec-p384-sec1.pem", "another curve"),
        ("ed25519-pkcs8.pem", "an Ed25519 key"),
        ("rsa-pkcs8.pem", "an RSA key"),
    ] {
        let e = SigningKey::from_pem(&vector(file), b"", file).unwrap_err();
        assert!(e.to_string().contains(what), "{file}: {e}");
        assert!(
            e.to_string().contains("not an ECDSA P-256 key"),
            "{file}: {e}"
        );
    }
}

#[test]
fn generated_pairs_round_trip_through_pem() {
    let pair = generate_with(b"pw", 15).unwrap();
    assert!(pair
        .private_pem
        .starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));
    assert!(pair.public_pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
    assert!(pair.public_pem.ends_with("-----END PUBLIC KEY-----\n"));
    assert!(pair.private_pem.lines().all(|l| l.len() <= 64));
    let key = SigningKey::from_pem(pair.private_pem.as_bytes(), b"pw", "new").unwrap();
    let public = PublicKey::from_pem(pair.public_pem.as_bytes(), "new.pub").unwrap();
    assert_eq!(key.public_key(), public);
    assert_eq!(pair.public, public);
    assert_eq!(public.to_pem(), pair.public_pem);
    let e = SigningKey::from_pem(pair.private_pem.as_bytes(), b"", "new").unwrap_err();
    assert!(e.to_string().contains("wrong password"), "{e}");
    // The default cost is cosign's: N = 65536.
    let body = {
        let (_, der) = first_block(pair.private_pem.as_bytes(), "k", "k").unwrap();
        String::from_utf8(der.to_vec()).unwrap()
    };
    assert!(body.contains(r#""N":32768"#), "generate_with(15)");
    assert_eq!(encrypted::DEFAULT_LOG_N, 16);
}

#[test]
fn debug_of_a_pair_hides_the_private_key() {
    let pair = generate_with(b"the-password", 15).unwrap();
    let shown = format!("{pair:?}");
    assert!(shown.contains("<redacted>"), "{shown}");
    assert!(!shown.contains("SIGSTORE") && !shown.contains("the-password"));
}

#[test]
fn truncated_or_garbage_pem_is_an_error_never_a_panic() {
    let good = vector("cosign-sigstore-hello.key");
    let start = String::from_utf8(good.clone())
        .unwrap()
        .find("-----BEGIN")
        .unwrap();
    for cut in [0, 1, start + 5, start + 50, start + 200, good.len() - 10] {
        assert!(
            SigningKey::from_pem(&good[..cut], b"hello", "k").is_err(),
            "cut {cut}"
        );
    }
    let cases: [&[u8]; 6] = [
        b"",
        b"\xff\xfe not text",
        b"just some text",
        b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\ne30=\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n",
    ];
    for text in cases {
        assert!(SigningKey::from_pem(text, b"", "k").is_err());
        assert!(PublicKey::from_pem(text, "k").is_err());
    }
    let e = SigningKey::from_pem(b"just some text", b"", "k.key").unwrap_err();
    assert!(e.to_string().contains("no PEM block found"), "{e}");
}

#[test]
fn public_and_private_keys_are_not_mixed_up() {
    let pair = generate_with(b"", 15).unwrap();
    let e = SigningKey::from_pem(pair.public_pem.as_bytes(), b"", "cosign.pub").unwrap_err();
    assert!(e.to_string().contains("holds a `PUBLIC KEY`"), "{e}");
    let e = PublicKey::from_pem(pair.private_pem.as_bytes(), "cosign.key").unwrap_err();
    assert!(e.help.unwrap().contains("never the private one"));
    let e = PublicKey::from_pem(&vector("ec-p256-sec1.pem"), "k").unwrap_err();
    assert!(e.to_string().contains("`EC PRIVATE KEY`"), "{e}");
}

#[test]
fn key_files_are_read_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.key");
    std::fs::write(&big, vec![b'A'; 70_000]).unwrap();
    let e = SigningKey::read(&big, b"").unwrap_err();
    assert!(e.to_string().contains("too large for a key file"), "{e}");
    let e = PublicKey::read(dir.path()).unwrap_err();
    assert!(e.to_string().contains("a directory"), "{e}");
    let pubf = dir.path().join("k.pub");
    std::fs::write(&pubf, vector("cosign-sigstore-hello.pub")).unwrap();
    let public = PublicKey::read(&pubf).unwrap();
    assert_eq!(public.fingerprint().len(), 64);
    let keyf = dir.path().join("k.key");
    std::fs::write(&keyf, vector("cosign-sigstore-hello.key")).unwrap();
    assert_eq!(
        SigningKey::read(&keyf, b"hello").unwrap().public_key(),
        public
    );
    let e = SigningKey::read(&keyf, b"nope").unwrap_err();
    assert!(e.to_string().contains(&keyf.display().to_string()), "{e}");
}

#[test]
fn pem_blocks_read_as_go_reads_them_whatever_the_line_length() {
    let key = SigningKey::generate().unwrap();
    let pem64 = key.public_key().to_pem();
    let body: String = pem64.lines().filter(|l| !l.starts_with("-----")).collect();
    // 76 columns and CRLF, as some tools write them; a header line too.
    let mut wrapped = String::from("-----BEGIN PUBLIC KEY-----\r\nComment: x\r\n");
    for chunk in body.as_bytes().chunks(76) {
        wrapped.push_str(std::str::from_utf8(chunk).unwrap());
        wrapped.push_str("\r\n");
    }
    wrapped.push_str("-----END PUBLIC KEY-----\r\n");
    let read = PublicKey::from_pem(wrapped.as_bytes(), "k.pub").unwrap();
    assert_eq!(read, key.public_key());
    let damaged = wrapped.replace(&body[10..14], "!!!!");
    let e = PublicKey::from_pem(damaged.as_bytes(), "k.pub").unwrap_err();
    assert!(e.to_string().contains("damaged"), "{e}");
}
