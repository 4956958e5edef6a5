//! Plans of the binary family (see [the module docs](super)).
