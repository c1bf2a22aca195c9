//! Cancellation: dropping a future at any await point leaves the
//! connection usable.
