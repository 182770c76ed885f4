//! PKI core against real certificates: made by the code itself and, for independence, by openssl.

use kubecert_pki::*;
use std::process::Command;
use time::{Duration, OffsetDateTime};

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn ca(kind: KeyType) -> CertificateAuthority {
    let key = PrivateKey::generate(kind).unwrap();
    let cert = self_signed_ca(&key, "kubernetes", now() - Duration::hours(1), now() + Duration::days(3650)).unwrap();
    CertificateAuthority::new(cert, key, now()).unwrap()
}

fn node_profile(name: &str) -> LeafProfile {
    LeafProfile {
        common_name: node_common_name(name),
        organization: Some(NODES_GROUP.into()),
        client_auth: true,
        server_auth: false,
        dns_names: vec![],
        ip_addresses: vec![],
        valid_for: Duration::days(365),
    }
}

fn openssl(args: &[&str], dir: &std::path::Path) -> String {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl is installed");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn signs_and_verifies_node_certs_for_every_key_type() {
    for ca_kind in [KeyType::Rsa2048, KeyType::EcdsaP256, KeyType::EcdsaP384, KeyType::Ed25519] {
        let ca = ca(ca_kind);
        for leaf_kind in [KeyType::EcdsaP256, KeyType::Rsa2048, KeyType::Ed25519] {
            let key = PrivateKey::generate(leaf_kind).unwrap();
            let signed = sign_for_key(&ca, &key, &node_profile("n1"), now()).unwrap();
            let info = signed.certificate.info();
            assert_eq!(info.common_names, vec!["system:node:n1"]);
            assert_eq!(info.organizations, vec!["system:nodes"]);
            assert_eq!(info.extended_key_usages, vec!["clientAuth"]);
            assert_eq!(info.version, 3);
            assert!(!info.is_ca);
            assert!(key.matches(&signed.certificate));
            verify_signed_by(&signed.certificate, ca.certificate()).unwrap();
            verify_for_tls(&signed.certificate, ca.certificate(), TlsUsage::ClientAuth, now()).unwrap();
            // Not a serving certificate, and not valid before it was made.
            assert!(verify_for_tls(&signed.certificate, ca.certificate(), TlsUsage::ServerAuth, now()).is_err());
            assert!(verify_for_tls(&signed.certificate, ca.certificate(), TlsUsage::ClientAuth, now() - Duration::days(1)).is_err());
            assert_eq!(info.key_usages.contains(&"keyEncipherment".to_string()), leaf_kind.is_rsa());
        }
    }
}

#[test]
fn wrong_ca_is_named_not_just_rejected() {
    let a = ca(KeyType::EcdsaP256);
    let b = ca(KeyType::EcdsaP256); // same subject "kubernetes", different key: a rotated CA
    let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let cert = sign_for_key(&a, &key, &node_profile("n1"), now()).unwrap().certificate;
    assert_eq!(verify_signed_by(&cert, b.certificate()), Err(VerifyFailure::BadSignature));
    let other_key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let other = self_signed_ca(&other_key, "other-ca", now(), now() + Duration::days(1)).unwrap();
    assert!(matches!(verify_signed_by(&cert, &other), Err(VerifyFailure::IssuerMismatch { .. })));
    let stranger = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    assert!(!stranger.matches(&cert));
}

#[test]
fn validity_is_clamped_to_the_ca_and_said_so() {
    let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let ca_cert = self_signed_ca(&key, "short-ca", now() - Duration::hours(1), now() + Duration::days(10)).unwrap();
    let ca = CertificateAuthority::new(ca_cert.clone(), key, now()).unwrap();
    let leaf = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let s = sign_for_key(&ca, &leaf, &node_profile("n1"), now()).unwrap();
    assert_eq!(s.clamped_to_ca_expiry, Some(ca_cert.info().not_after));
    assert_eq!(s.certificate.info().not_after, ca_cert.info().not_after);
    let short = LeafProfile { valid_for: Duration::days(1), ..node_profile("n1") };
    assert!(sign_for_key(&ca, &leaf, &short, now()).unwrap().clamped_to_ca_expiry.is_none());
}

#[test]
fn refuses_unusable_cas() {
    let k1 = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let k2 = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let c1 = self_signed_ca(&k1, "ca", now() - Duration::hours(1), now() + Duration::days(1)).unwrap();
    let e = CertificateAuthority::new(c1.clone(), k2, now()).unwrap_err().to_string();
    assert!(e.contains("does not belong"), "{e}");
    let expired = self_signed_ca(&k1, "ca", now() - Duration::days(10), now() - Duration::days(1)).unwrap();
    let e = CertificateAuthority::new(expired, PrivateKey::generate(KeyType::EcdsaP256).unwrap(), now()).unwrap_err().to_string();
    assert!(e.contains("does not belong"), "key check comes first: {e}");
    let k3 = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let expired = self_signed_ca(&k3, "ca", now() - Duration::days(10), now() - Duration::days(1)).unwrap();
    let e = CertificateAuthority::new(expired, k3, now()).unwrap_err().to_string();
    assert!(e.contains("expired"), "{e}");
    // A leaf is not a CA.
    let ca = ca(KeyType::EcdsaP256);
    let lk = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let leaf = sign_for_key(&ca, &lk, &node_profile("n1"), now()).unwrap().certificate;
    let e = CertificateAuthority::new(leaf, lk, now()).unwrap_err().to_string();
    assert!(e.contains("not a CA"), "{e}");
}

#[test]
fn openssl_made_pki_loads_verifies_and_pins_like_openssl() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    openssl(&["genrsa", "-traditional", "-out", "ca.key", "2048"], p);
    openssl(&["req", "-x509", "-new", "-key", "ca.key", "-subj", "/CN=kubernetes", "-days", "10",
              "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.crt"], p);
    openssl(&["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "node.key"], p);
    openssl(&["req", "-new", "-key", "node.key", "-subj", "/O=system:nodes/CN=system:node:w1", "-out", "node.csr"], p);
    std::fs::write(p.join("ext"), "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n").unwrap();
    openssl(&["x509", "-req", "-in", "node.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "5", "-extfile", "ext", "-out", "node.crt"], p);
    // kubelet's own layout: certificate then SEC1 key in one file.
    let bundle_bytes = [std::fs::read(p.join("node.crt")).unwrap(), std::fs::read(p.join("node.key")).unwrap()].concat();
    let bundle = load_bundle(&bundle_bytes).unwrap();
    let leaf = &bundle.certificates[0];
    let key = bundle.key.unwrap().unwrap();
    assert!(key.matches(leaf));
    assert_eq!(key.info().curve.as_deref(), Some("P-256"));
    let ca_cert = load_certificates(&std::fs::read(p.join("ca.crt")).unwrap()).unwrap().remove(0);
    assert_eq!(ca_cert.info().key.bits, 2048);
    verify_signed_by(leaf, &ca_cert).unwrap();
    verify_for_tls(leaf, &ca_cert, TlsUsage::ClientAuth, now()).unwrap();
    // The pin is what kubeadm documents: sha256 of the DER SubjectPublicKeyInfo.
    let spki = Command::new("sh").arg("-c").arg("openssl x509 -in ca.crt -pubkey -noout | openssl pkey -pubin -outform der | sha256sum")
        .current_dir(p).output().unwrap();
    let hex = String::from_utf8_lossy(&spki.stdout).split_whitespace().next().unwrap().to_string();
    assert_eq!(ca_cert.info().public_key_pin, format!("sha256:{hex}"));
    // The PKCS#1 CA key signs (kubeadm writes ca.key in that format), and openssl verifies the result.
    let ca = CertificateAuthority::load(&std::fs::read(p.join("ca.crt")).unwrap(), &std::fs::read(p.join("ca.key")).unwrap(), now()).unwrap();
    let csr = parse_csr(&std::fs::read(p.join("node.csr")).unwrap()).unwrap();
    assert_eq!(csr.node_name().unwrap(), "w1");
    let signed = sign_for_csr(&ca, &csr, &node_profile("w1"), now()).unwrap();
    std::fs::write(p.join("ours.crt"), signed.certificate.to_pem()).unwrap();
    let out = openssl(&["verify", "-CAfile", "ca.crt", "-purpose", "sslclient", "ours.crt"], p);
    assert!(out.contains("OK"), "{out}");
    // DER certificates load too.
    openssl(&["x509", "-in", "node.crt", "-outform", "der", "-out", "node.der"], p);
    assert_eq!(load_certificates(&std::fs::read(p.join("node.der")).unwrap()).unwrap()[0].der(), leaf.der());
}

#[test]
fn encrypted_and_unsupported_keys_are_named() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes-128-cbc", "-pass", "pass:x", "-out", "enc.key"], p);
    assert!(matches!(load_private_key(&std::fs::read(p.join("enc.key")).unwrap()), Err(PkiError::EncryptedKey)));
    openssl(&["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "legacy.key"], p);
    openssl(&["ec", "-in", "legacy.key", "-aes128", "-passout", "pass:x", "-out", "legacy-enc.key"], p);
    assert!(matches!(load_private_key(&std::fs::read(p.join("legacy-enc.key")).unwrap()), Err(PkiError::EncryptedKey)));
    openssl(&["genpkey", "-algorithm", "X448", "-out", "x448.key"], p);
    let e = load_private_key(&std::fs::read(p.join("x448.key")).unwrap()).unwrap_err().to_string();
    assert!(e.contains("unsupported") && e.contains("X448"), "{e}");
    // An ML-DSA-65 PKCS#8 header (openssl 3.0 cannot make one): named, never a panic.
    let mut mldsa = vec![0x30, 0x16, 0x02, 0x01, 0x00, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x12, 0x04, 0x06];
    mldsa.extend([0u8; 6]);
    let pem = pem_encode("PRIVATE KEY", &mldsa);
    let e = load_private_key(pem.as_bytes()).unwrap_err().to_string();
    assert!(e.contains("ML-DSA-65"), "{e}");
    openssl(&["genpkey", "-algorithm", "ED25519", "-out", "ed.key"], p);
    assert_eq!(load_private_key(&std::fs::read(p.join("ed.key")).unwrap()).unwrap().info().algorithm, "Ed25519");
}

#[test]
fn csrs_round_trip_and_repeated_groups_are_refused() {
    let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let pem = build_csr(&key, &RequestSubject { common_name: node_common_name("n2"), organization: Some(NODES_GROUP.into()), ..Default::default() }).unwrap();
    let info = parse_csr(pem.as_bytes()).unwrap();
    assert_eq!(info.node_name().unwrap(), "n2");
    assert_eq!(info.spki_der, key.spki_der());
    let d = tempfile::tempdir().unwrap();
    openssl(&["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "k"], d.path());
    openssl(&["req", "-new", "-key", "k", "-subj", "/O=system:nodes/O=system:masters/CN=system:node:n2", "-out", "dup.csr"], d.path());
    let e = parse_csr(&std::fs::read(d.path().join("dup.csr")).unwrap()).unwrap().node_name().unwrap_err().to_string();
    assert!(e.contains("repeats O="), "{e}");
    openssl(&["req", "-new", "-key", "k", "-subj", "/O=system:masters/CN=admin", "-out", "admin.csr"], d.path());
    assert!(parse_csr(&std::fs::read(d.path().join("admin.csr")).unwrap()).unwrap().node_name().is_err());
}

#[test]
fn malformed_input_never_panics() {
    let key = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    let ca = ca(KeyType::EcdsaP256);
    let cert = sign_for_key(&ca, &key, &node_profile("n1"), now()).unwrap().certificate;
    let pem = cert.to_pem();
    for cut in [10, pem.len() / 2, pem.len() - 30] {
        assert!(load_bundle(&pem.as_bytes()[..cut]).is_err());
    }
    let mut der = cert.der().to_vec();
    for i in (0..der.len()).step_by(7) {
        der[i] ^= 0xff;
        let _ = load_bundle(&der);
        der[i] ^= 0xff;
    }
    assert!(load_bundle(b"").is_err());
    assert!(load_bundle(&[0x30]).is_err());
    assert!(load_bundle_base64("not base64!").is_err());
    assert!(format!("{key:?}").contains("redacted"));
}

#[test]
fn keys_are_written_as_kubeadm_writes_them() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = PrivateKey::generate(KeyType::Rsa2048).unwrap();
    let pem = rsa.to_pem_like_kubeadm();
    assert!(pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"), "{}", &pem[..40]);
    assert_eq!(kubecert_pki::load_private_key(pem.as_bytes()).unwrap().spki_der(), rsa.spki_der());
    // openssl reads it as a PKCS#1 RSA key and finds the same public key.
    let f = dir.path().join("k.pem");
    std::fs::write(&f, pem.as_bytes()).unwrap();
    let check = openssl(&["rsa", "-in", &f.display().to_string(), "-check", "-noout"], dir.path());
    assert!(check.contains("RSA key ok"), "{check}");
    // Other key types stay PKCS#8, which every Kubernetes component reads.
    let ec = PrivateKey::generate(KeyType::EcdsaP256).unwrap();
    assert!(ec.to_pem_like_kubeadm().starts_with("-----BEGIN PRIVATE KEY-----\n"));
}
