//! hirebridge: turns "new hire" webhooks from applicant-tracking, HR and CRM systems into
//! onboarding in Connecteam.
//!
//! Data flows through the modules in this order: [`http`] receives an event, [`sources`]
//! verifies and decodes it, [`rules`] turns each hire into a [`domain::Plan`], [`intake`]
//! builds the event and its first operation, [`store`] commits them in one transaction;
//! [`delivery`] then carries the operations out through [`connecteam`], every request paced by
//! a [`budget`]. [`app`] wires it together and [`cli`] is the command line.
//! `docs/architecture.md` gives each part and what it may not import.

pub mod app;
pub mod budget;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connecteam;
pub mod delivery;
pub mod domain;
#[cfg(fuzzing)]
pub mod fuzzing;
pub mod http;
pub mod intake;
pub mod remote;
pub mod rules;
pub mod simulator;
pub mod sources;
pub mod store;
pub mod telemetry;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
