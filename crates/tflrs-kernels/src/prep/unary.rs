//! Plans of the unary family (see [the module docs](super)).
