//! Licet client SDK (see issue 3).
