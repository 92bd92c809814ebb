//! merge: written with its adapter.
