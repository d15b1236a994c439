//! The fleet's `orders` service: `Order` records at `/orders` ([`common::service!`]).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Order {
    id: u64,
    customer: String,
    lines: Vec<String>,
    total_cents: u64,
    paid: bool,
}

impl Order {
    fn seed(i: usize) -> Order {
        Order {
            id: i as u64 * 7 + 1,
            customer: format!("customer-{i}"),
            lines: (0..3).map(|k| format!("lines{}", k + i)).collect(),
            total_cents: i as u64 * 7 + 1,
            paid: i % 3 != 0,
        }
    }
}

common::service!(Order, "orders", "orders");
