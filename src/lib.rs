//! The `rivulet` command line tool: the demo server and its routes, and
//! `rivulet watch`, which prints any stream in a terminal.

pub mod demo;
pub mod watch;

/// The repository README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
