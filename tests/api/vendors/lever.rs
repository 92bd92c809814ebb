//! lever: written with its adapter.
