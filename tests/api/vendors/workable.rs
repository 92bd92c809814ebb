//! workable: written with its adapter.
