//! The fleet's `gateway` service: `Route` records at `/routes` ([`common::service!`]).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Route {
    path: String,
    upstream: String,
    weight: u32,
    healthy: bool,
}

impl Route {
    fn seed(i: usize) -> Route {
        Route {
            path: format!("path-{i}"),
            upstream: format!("upstream-{i}"),
            weight: (i % 100) as u32,
            healthy: i % 3 != 0,
        }
    }
}

common::service!(Route, "gateway", "routes");
