//! The state the web and API handlers share: the checkout service (which owns the storage,
//! the clock and the external parts as trait objects) and nothing else.

use crate::checkout::Checkout;

#[derive(Clone)]
pub struct AppState {
    pub checkout: Checkout,
}

impl std::ops::Deref for AppState {
    type Target = Checkout;

    fn deref(&self) -> &Checkout {
        &self.checkout
    }
}
