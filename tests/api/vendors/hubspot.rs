//! hubspot: written with its adapter.
