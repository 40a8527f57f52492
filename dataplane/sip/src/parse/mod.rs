//! The message layer: framing, start line, header splitting
//! ([`message`]), header names ([`header`]), methods ([`method`]), URIs
//! ([`uri`], [`host`]) and the shared lexer ([`lex`]).

pub mod header;
pub mod host;
pub mod lex;
pub mod message;
pub mod method;
pub mod uri;
