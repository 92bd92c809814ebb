//! hirebridge: turns "new hire" webhooks from applicant-tracking, HR and CRM systems into
//! onboarding in Connecteam.
//!
//! Data flows through the modules in this order: [`http`] receives an event, [`sources`]
//! authenticates and normalises it to a [`domain::Hire`], [`rules`] turns the hire into a plan,
//! [`intake`] builds the operations the plan implies, [`store`] commits the event and its
//! operations in one transaction; [`app`] wires it together and [`cli`] is the command line.

pub mod app;
pub mod budget;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connecteam;
pub mod delivery;
pub mod domain;
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
