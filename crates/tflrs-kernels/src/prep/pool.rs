//! Plans of the pool family (see [the module docs](super)).
