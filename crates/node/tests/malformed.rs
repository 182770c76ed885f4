//! Malformed input never panics or hangs: each gives a finding (or a clear error), never a crash.

mod common;

use common::*;
use std::os::unix::fs::symlink;

fn kubelet_pem_replaced_by(t: &NodeTree, bytes: &[u8]) {
    t.write_bytes("/var/lib/kubelet/pki/kubelet-client-bad.pem", bytes, 0o600);
    let link = t.host("/var/lib/kubelet/pki/kubelet-client-current.pem");
    let _ = std::fs::remove_file(&link);
    symlink("/var/lib/kubelet/pki/kubelet-client-bad.pem", link).unwrap();
}

#[test]
fn bad_certificate_files_are_findings() {
    let der_named_pem = {
        let t = NodeTree::kubeadm("x");
        let pem = std::fs::read_to_string(t.host("/var/lib/kubelet/pki/kubelet.crt")).unwrap();
        kubecert_pki::load_certificates(pem.as_bytes()).unwrap()[0].der().to_vec()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "client-cert-invalid"),
        ("garbage", b"hello world".to_vec(), "client-cert-invalid"),
        ("truncated", b"-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAK".to_vec(), "client-cert-invalid"),
        ("der named .pem (cert without key)", der_named_pem, "client-key-invalid"),
        ("non-utf8", vec![0xff, 0xfe, 0x00, 0x80, 0x30], "client-cert-invalid"),
    ];
    for (what, bytes, code) in cases {
        let t = NodeTree::kubeadm("w");
        kubelet_pem_replaced_by(&t, &bytes);
        assert!(t.codes().contains(&code), "{what}: {:?}", t.codes());
    }
}

#[test]
fn symlink_loop_and_huge_file_and_directory() {
    let t = NodeTree::kubeadm("w");
    let pki = t.host("/var/lib/kubelet/pki");
    let _ = std::fs::remove_file(pki.join("kubelet-client-current.pem"));
    symlink("/var/lib/kubelet/pki/loop-b", pki.join("kubelet-client-current.pem")).unwrap();
    symlink("/var/lib/kubelet/pki/kubelet-client-current.pem", pki.join("loop-b")).unwrap();
    assert!(t.codes().contains(&"client-cert-invalid"), "{:?}", t.codes());

    let t = NodeTree::kubeadm("w");
    let f = std::fs::File::create(t.host("/var/lib/kubelet/pki/kubelet-client-big.pem")).unwrap();
    f.set_len(50 * 1024 * 1024).unwrap(); // 50 MB, sparse
    let link = t.host("/var/lib/kubelet/pki/kubelet-client-current.pem");
    std::fs::remove_file(&link).unwrap();
    symlink("/var/lib/kubelet/pki/kubelet-client-big.pem", &link).unwrap();
    let started = std::time::Instant::now();
    assert!(t.codes().contains(&"client-cert-invalid"), "{:?}", t.codes());
    assert!(started.elapsed().as_secs() < 5, "the 50 MB file must not be read whole");

    let t = NodeTree::kubeadm("w");
    t.remove("/etc/kubernetes/kubelet.conf");
    std::fs::create_dir_all(t.host("/etc/kubernetes/kubelet.conf")).unwrap();
    assert!(t.codes().contains(&"kubeconfig-invalid"), "{:?}", t.codes());
}

#[test]
fn bad_yaml_is_a_finding() {
    let bomb = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\ni: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\nusers: *i\n";
    for (what, bytes) in [("alias bomb", bomb.as_bytes().to_vec()), ("non-utf8", vec![b'a', b':', b' ', 0xff, 0xfe]), ("empty", vec![]), ("not a map", b"- 1\n- 2\n".to_vec())] {
        let t = NodeTree::kubeadm("w");
        t.write_bytes("/etc/kubernetes/kubelet.conf", &bytes, 0o600);
        let started = std::time::Instant::now();
        assert!(t.codes().contains(&"kubeconfig-invalid"), "{what}: {:?}", t.codes());
        assert!(started.elapsed().as_secs() < 5, "{what} took too long");
        let t = NodeTree::kubeadm("w");
        t.write_bytes("/var/lib/kubelet/config.yaml", &bytes, 0o644);
        assert!(t.codes().contains(&"kubelet-config-invalid"), "{what}: {:?}", t.codes());
    }
}
