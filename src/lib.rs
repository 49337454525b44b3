//! The `rivulet` command line tool: the demo server and its routes.

pub mod demo;
