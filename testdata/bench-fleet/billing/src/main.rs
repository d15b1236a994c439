//! The fleet's `billing` service: `Invoice` records at `/invoices` ([`common::service!`]).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Invoice {
    number: String,
    order: u64,
    amount_cents: u64,
    currency: String,
    due_days: u32,
}

impl Invoice {
    fn seed(i: usize) -> Invoice {
        Invoice {
            number: format!("number-{i}"),
            order: i as u64 * 7 + 1,
            amount_cents: i as u64 * 7 + 1,
            currency: format!("currency-{i}"),
            due_days: (i % 100) as u32,
        }
    }
}

common::service!(Invoice, "billing", "invoices");
