//! Normalization: identifiers and attributes reduced to the form two records
//! of the same person share.

mod address;
mod email;
mod name;
pub mod nicknames;
mod phone;

use datafusion::logical_expr::ScalarUDF;

pub use name::normalize as normalize_name;
pub use nicknames::key as nickname_key;
pub use phone::is_region as is_phone_region;

pub fn functions() -> Vec<ScalarUDF> {
    vec![
        email::udf(),
        phone::udf(),
        name::normalize_udf(),
        name::key_udf(),
        address::postcode_udf(),
        address::address_udf(),
    ]
}
