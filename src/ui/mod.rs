//! The console: a ratatui terminal UI over the simulated cluster (and, later, live clusters).

pub mod keymap;
pub mod settings;
pub mod theme;
