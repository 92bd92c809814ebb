//! One integration-test binary: every area of the HTTP API, on SQLite and on PostgreSQL.

mod admin;
mod auth;
mod defects;
mod delivery;
mod durability;
mod edge;
mod helpers;
mod intake;
mod kill_loop;
mod migrate_copy;
mod openapi;
mod profile;
mod scale_out;
mod store;
mod vendors;
