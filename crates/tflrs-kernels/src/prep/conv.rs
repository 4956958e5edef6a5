//! Plans of the conv family (see [the module docs](super)).
