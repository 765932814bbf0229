//! Who is asking: the vendor (admin tokens, the dashboard password), customers (sign-in
//! links), and the web sessions both hold.

pub mod admin;
pub mod customer;
pub mod sessions;
