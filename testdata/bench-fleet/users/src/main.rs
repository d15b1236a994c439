//! The fleet's `users` service: `User` records at `/users` ([`common::service!`]).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct User {
    id: u64,
    name: String,
    email: String,
    roles: Vec<String>,
    active: bool,
}

impl User {
    fn seed(i: usize) -> User {
        User {
            id: i as u64 * 7 + 1,
            name: format!("name-{i}"),
            email: format!("email-{i}"),
            roles: (0..3).map(|k| format!("roles{}", k + i)).collect(),
            active: i % 3 != 0,
        }
    }
}

common::service!(User, "users", "users");
