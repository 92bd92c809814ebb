//! salesforce: written with its adapter.
