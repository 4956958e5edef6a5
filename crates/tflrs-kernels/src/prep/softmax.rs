//! Plans of the softmax family (see [the module docs](super)).
