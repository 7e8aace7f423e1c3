//! The console: a ratatui terminal UI over the simulated cluster (and, later, live clusters).

pub mod app;
pub mod console;
pub mod driver;
pub mod keymap;
pub mod settings;
pub mod theme;
pub mod view;
pub mod whatif;
pub mod world;
