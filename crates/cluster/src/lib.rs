//! Cluster operations (see issue 4).
