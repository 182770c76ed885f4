//! Root confinement as a property (issue 14): on random trees of directories, files, absolute and
//! relative symlinks (to siblings, up `..` chains, to a folder outside the root, in loops), every
//! path kubecert resolves, reads, confines or creates lies inside the root, nothing outside the
//! root is read, and an install (backup store, lock, temp files, new directories) leaves the
//! outside untouched.

use kubecert_node::install::{self, ApplyOptions, Contents, InstallPlan};
use kubecert_node::NodeRoot;
use proptest::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};

const NAMES: [&str; 5] = ["a", "b", "etc", "var", "kubecert"];
const SECRET: &[u8] = b"OUTSIDE-THE-ROOT";

/// One entry of a random tree.
#[derive(Debug, Clone)]
enum Node {
    Dir,
    File,
    /// A symlink; the target is built from `Target`.
    Link(Target),
}

#[derive(Debug, Clone)]
enum Target {
    /// `/x/y` inside the node's namespace (absolute).
    Absolute(Vec<usize>),
    /// `../../x` (relative, climbing `ups` levels).
    Relative(usize, Vec<usize>),
    /// The host folder outside the root, or a file in it.
    Outside(bool),
    /// Itself (a loop).
    SelfLoop,
}

fn path_strategy() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0..NAMES.len(), 1..4)
}

fn node_strategy() -> impl Strategy<Value = Node> {
    prop_oneof![
        Just(Node::Dir),
        Just(Node::File),
        path_strategy().prop_map(|p| Node::Link(Target::Absolute(p))),
        (0usize..6, path_strategy()).prop_map(|(u, p)| Node::Link(Target::Relative(u, p))),
        any::<bool>().prop_map(|f| Node::Link(Target::Outside(f))),
        Just(Node::Link(Target::SelfLoop)),
    ]
}

fn join(p: &[usize]) -> String {
    p.iter().map(|i| NAMES[*i]).collect::<Vec<_>>().join("/")
}

/// Builds the tree; entries whose parent is not a directory are skipped.
fn build(root: &Path, outside: &Path, entries: &[(Vec<usize>, Node)]) {
    for (p, n) in entries {
        let host = root.join(join(p));
        if fs::symlink_metadata(&host).is_ok() || !host.parent().is_some_and(|d| fs::symlink_metadata(d).is_ok_and(|m| m.is_dir())) {
            continue;
        }
        let _ = match n {
            Node::Dir => fs::create_dir(&host),
            Node::File => fs::write(&host, b"inside"),
            Node::Link(t) => {
                let target: PathBuf = match t {
                    Target::Absolute(q) => PathBuf::from(format!("/{}", join(q))),
                    Target::Relative(ups, q) => PathBuf::from(format!("{}{}", "../".repeat(*ups), join(q))),
                    Target::Outside(false) => outside.to_path_buf(),
                    Target::Outside(true) => outside.join("secret"),
                    Target::SelfLoop => host.clone(),
                };
                std::os::unix::fs::symlink(target, &host)
            }
        };
    }
}

fn inside(root: &Path, host: &Path) -> bool {
    // The deepest existing ancestor, canonicalized, must be in the root.
    let mut p = host.to_path_buf();
    loop {
        if let Ok(c) = p.canonicalize() {
            return c.starts_with(root);
        }
        if !p.pop() {
            return false;
        }
    }
}

fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap().flatten() {
        let m = fs::symlink_metadata(e.path()).unwrap();
        if m.is_dir() {
            out.push((e.path(), b"<dir>".to_vec()));
            out.extend(snapshot(&e.path()));
        } else {
            out.push((e.path(), fs::read(e.path()).unwrap_or_default()));
        }
    }
    out.sort();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_path_kubecert_opens_lies_inside_the_root(
        entries in prop::collection::vec((path_strategy(), node_strategy()), 1..24),
        queries in prop::collection::vec((0usize..4, path_strategy()), 1..12),
    ) {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        let outside = d.path().join("outside");
        fs::create_dir_all(&root).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("secret"), SECRET).unwrap();
        build(&root, &outside, &entries);
        let before = snapshot(&outside);
        let r = NodeRoot::new(&root).unwrap();
        let canon = r.dir().to_path_buf();

        for (ups, q) in &queries {
            // Queries climb with `..` too: "/a/../../b".
            let p = format!("/{}{}", "../".repeat(*ups), join(q));
            if let Ok(res) = r.resolve(&p) {
                prop_assert!(!res.split('/').any(|c| c == ".."), "{p} resolved to {res}");
                prop_assert!(inside(&canon, &r.host_path(&res)), "{p} resolved to {res} outside the root");
            }
            if let Ok(f) = r.read(&p) {
                prop_assert!(f.bytes != SECRET, "{p} read a file outside the root");
            }
            if let Ok(h) = r.confine(&p) {
                prop_assert!(inside(&canon, h.parent().unwrap()), "{p} confined to {} outside the root", h.display());
            }
            if let Ok((prefix, _)) = r.resolve_for_create(&p) {
                prop_assert!(inside(&canon, &r.host_path(&prefix)), "{p}: creation would start at {prefix} outside the root");
            }
            // No name in the tree is "secret": seeing it means the listing left the root.
            prop_assert!(!r.list_dir(&p).iter().any(|n| n == "secret"), "{p} listed the folder outside the root");
        }

        // An install into the random tree, with the backup store where the tree's links lead.
        let target = format!("/{}/new.pem", join(&queries[0].1));
        let plan = InstallPlan::new("prop").write(target, Contents::secret(b"new".to_vec()), 0o600);
        let opts = ApplyOptions { backup_root: "/kubecert/backups".into(), ..ApplyOptions::default() };
        let _ = install::apply(&r, &plan, &opts);
        let _ = install::tidy(&r, "/kubecert/backups");
        prop_assert_eq!(snapshot(&outside), before, "an install changed the folder outside the root");
    }
}
