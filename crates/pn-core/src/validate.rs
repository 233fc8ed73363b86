//! Range checks for scalar parameters, shared by every pn crate so that the same mistake gets
//! the same error everywhere.

use crate::error::{Error, Result};

/// `value` must be finite and `> 0`, else [`Error::InvalidParameter`] naming it.
pub fn positive(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name,
            value,
            reason: "must be finite and > 0",
        })
    }
}

/// `value` must be finite and `≥ 0`, else [`Error::InvalidParameter`] naming it.
pub fn non_negative(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name,
            value,
            reason: "must be finite and >= 0",
        })
    }
}
