//! Installing new credentials on a node: backups, atomic writes, rollback. (Owned by the repair work; see issue 5.)
