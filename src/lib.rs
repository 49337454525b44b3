//! The `rivulet` command line tool: the demo server and its routes, and
//! `rivulet watch`, which prints any stream in a terminal.

pub mod args;
pub mod demo;
pub mod watch;
