//! ashby: written with its adapter.
