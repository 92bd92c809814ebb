//! bamboohr: written with its adapter.
