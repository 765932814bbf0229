//! C ABI for the Licet SDK (see issue 4).
